import { stringify } from 'csv-stringify/sync'
import { toMajorUnits } from '../util/money'

/**
 * Made-up Patreon members exports, for benchmarks and tests. Deterministic for a given seed so a
 * benchmark measures the same file every run. The columns Masthead never keeps (address, phone,
 * Discord, Twitter, "Additional Details") are filled in, some with commas and line breaks, so a test
 * that they are left out proves something and the parser meets quoting on every few rows.
 */

/** The header rows as Patreon exports them. */
export const PATREON_HEADERS = {
  current: [
    'Name',
    'Email',
    'Discord',
    'Patron Status',
    'Follows You',
    'Free Member',
    'Free Trial',
    'Lifetime Amount',
    'Pledge Amount',
    'Charge Frequency',
    'Tier',
    'Addressee',
    'Street',
    'City',
    'State',
    'Zip',
    'Country',
    'Phone',
    'Patronage Since Date',
    'Last Charge Date',
    'Last Charge Status',
    'Additional Details',
    'User ID',
    'Last Updated',
    'Currency',
    'Max Posts',
    'Access Expiration',
    'Next Charge Date',
    'Full country name',
    'Subscription Source',
  ],
  older: [
    'Name',
    'Email',
    'Twitter',
    'Discord',
    'Patron Status',
    'Follows You',
    'Lifetime Amount',
    'Pledge Amount',
    'Charge Frequency',
    'Tier',
    'Addressee',
    'Street',
    'City',
    'State',
    'Zip',
    'Country',
    'Phone',
    'Patronage Since Date',
    'Last Charge Date',
    'Last Charge Status',
    'Additional Details',
    'User ID',
    'Last Updated',
    'Currency',
    'Max Posts',
    'Access Expiration',
    'Next Charge Date',
  ],
}

const FIRST_NAMES = ['Ada', 'Grace', 'Alan', 'Katherine', 'Edsger', 'Barbara', 'Donald', 'Hedy', 'Linus', 'Radia']
const LAST_NAMES = ['Lovelace', 'Hopper', 'Turing', 'Johnson', 'Dijkstra', 'Liskov', 'Knuth', 'Allen', 'Perlman']
const TIERS = [
  { name: 'Reader', amount: 300 },
  { name: 'Supporter', amount: 500 },
  { name: 'Patron', amount: 1000 },
]
const PLACES = [
  { city: 'Portland', state: 'OR', zip: '97205', country: 'US', countryName: 'United States', currency: 'USD' },
  { city: 'Leeds', state: '', zip: 'LS1 4DY', country: 'GB', countryName: 'United Kingdom', currency: 'GBP' },
  { city: 'Lyon', state: '', zip: '69002', country: 'FR', countryName: 'France', currency: 'EUR' },
]
const DETAILS = ['', '', '', 'Please leave parcels with the neighbour, flat 2', 'Gift from my sister,\nthank you!']
const DAY = 24 * 60 * 60 * 1000
const EXPORTED_AT = Date.UTC(2026, 7, 10, 15, 52, 24)

export function patreonCsvFixture(
  rows: number,
  options: { variant?: 'current' | 'older'; seed?: number } = {},
): string {
  const variant = options.variant ?? 'current'
  const random = seededRandom(options.seed ?? 1)
  const members = Array.from({ length: rows }, (_, index) => fakeMember(index, random))
  return stringify(members, { header: true, columns: PATREON_HEADERS[variant] })
}

/** One member as the export's cells, keyed by header name. */
function fakeMember(index: number, random: () => number): Record<string, string> {
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)] as T
  const name = `${pick(FIRST_NAMES)} ${pick(LAST_NAMES)}`
  const place = pick(PLACES)
  const roll = random()
  const status = roll < 0.7 ? 'Active patron' : roll < 0.8 ? 'Declined patron' : roll < 0.95 ? 'Former patron' : ''
  const tier = status === '' ? null : pick(TIERS)
  const annual = tier !== null && random() < 0.2
  const pledge = tier === null ? 0 : annual ? tier.amount * 10 : tier.amount
  const since = EXPORTED_AT - (30 + Math.floor(random() * 2000)) * DAY
  const lastCharge = EXPORTED_AT - Math.floor(random() * 28) * DAY
  const paidCharges = 1 + Math.floor((EXPORTED_AT - since) / (annual ? 365 : 30) / DAY)
  const handle = `${name.toLowerCase().replace(' ', '_')}${index}`
  return {
    Name: name,
    Email: `${handle.replace('_', '.')}@example.${pick(['com', 'org', 'net'])}`,
    Discord: `${handle}_dc`,
    Twitter: `@${handle}_tw`,
    'Patron Status': status,
    'Follows You': pick(['Yes', 'No']),
    'Free Member': tier === null ? 'Yes' : 'No',
    'Free Trial': 'No',
    'Lifetime Amount': toMajorUnits(tier === null ? 0 : pledge * paidCharges, place.currency),
    'Pledge Amount': toMajorUnits(pledge, place.currency),
    'Charge Frequency': tier === null ? '' : annual ? 'annual' : 'monthly',
    Tier: tier?.name ?? '',
    Addressee: name,
    Street: `${100 + index} Fixture Lane, Apt ${1 + (index % 40)}`,
    City: place.city,
    State: place.state,
    Zip: place.zip,
    Country: place.country,
    Phone: `+1 555 ${String(index).padStart(7, '0')}`,
    'Patronage Since Date': timestamp(since),
    'Last Charge Date': tier === null ? '' : timestamp(lastCharge),
    'Last Charge Status': tier === null ? '' : status === 'Declined patron' ? 'Declined' : 'Paid',
    'Additional Details': pick(DETAILS),
    'User ID': String(10_000_000 + index),
    'Last Updated': timestamp(EXPORTED_AT - Math.floor(random() * 90) * DAY),
    Currency: place.currency,
    'Max Posts': '',
    'Access Expiration': status === 'Former patron' ? timestamp(lastCharge + 30 * DAY) : '',
    'Next Charge Date': status === 'Active patron' ? timestamp(lastCharge + (annual ? 365 : 30) * DAY) : '',
    'Full country name': place.countryName,
    'Subscription Source': 'Patreon',
  }
}

function timestamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ')
}

/** mulberry32: tiny, good enough for fake data, and the same sequence everywhere. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
