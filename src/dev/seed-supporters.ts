/**
 * Fake supporters for demos and benchmarks (`npm run db:seed`, bench/supporters.bench.ts):
 * accounts, Stripe customers, subscriptions with their paid invoices, donations, comps and
 * Patreon memberships, in the proportions a small publication might have. Everything is drawn
 * from seeded fakers (one for the people, one for what they paid), so the same seed and `now`
 * give the same people. Addresses and names are stored as the app stores them: encrypted under
 * the keyring given, with their address index, search tokens and place in the name order.
 *
 * Development only: @faker-js/faker is a devDependency, and nothing the app serves imports this.
 */
import { base, en, Faker } from '@faker-js/faker'
import { asc, sql } from 'drizzle-orm'
import type { PgTable } from 'drizzle-orm/pg-core'
import { seedDemoTiers } from './demo-tiers'
import { placeAccounts } from '../accounts/name-order'
import type { Keyring } from '../privacy/keys'
import { sortTextOf } from '../privacy/name-order'
import { sealPeople } from '../privacy/people'
import { rowsOf, type Database } from '../db/client'
import {
  grants,
  patreonMembers,
  payments,
  stripeCustomers,
  subscriptions,
  tiers,
  users,
  type Interval,
} from '../db/schema'

export interface SeedOptions {
  supporters: number
  /** The data keys the app reads with (`keyringOf(config)`): addresses and names are encrypted under its current key. */
  keyring: Keyring
  /** The moment the data is made at: subscriptions are live relative to it, payments are before it. */
  now: Date
  /** Same seed, same people. */
  seed?: number
  /** Progress, one line at a time. */
  log?: (line: string) => void
}

export interface SeedResult {
  users: number
  subscriptions: number
  payments: number
  /** Comps. */
  grants: number
  /** Patreon memberships (patreon_members rows). */
  patrons: number
  seconds: number
}

/**
 * Seeded accounts have ids `seed_<n>` (and customers `cus_seed_<n>`, subscriptions `sub_seed_<n>`),
 * so they can be told from real ones and removed: `delete from users where id like 'seed\_%'`.
 */
const ID_PREFIX = 'seed_'

/** Accounts written per transaction: large enough to amortise commits, small enough to report progress. */
const ACCOUNTS_PER_TRANSACTION = 5_000
/** Rows per insert statement; PostgreSQL allows 65,535 parameters per statement, so wide tables get fewer. */
const ROWS_PER_STATEMENT = 5_000
const MAX_PARAMETERS = 60_000
/** Payments kept per subscriber: three years of monthly invoices. */
const MAX_PAYMENTS = 36

const DAY = 86_400_000
const HISTORY_MS = 3 * 365 * DAY
const TRIAL_DAYS = 14

type Kind = 'subscriber' | 'donor' | 'comp' | 'patreon' | 'account'
/** The mix asked for in the issue: a majority of Stripe subscribers, a quarter who never paid. */
const KINDS: { weight: number; value: Kind }[] = [
  { weight: 55, value: 'subscriber' },
  { weight: 10, value: 'donor' },
  { weight: 5, value: 'comp' },
  { weight: 5, value: 'patreon' },
  { weight: 25, value: 'account' },
]

type SubscriptionState = 'active' | 'cancelling' | 'past_due' | 'trialing' | 'canceled'
const SUBSCRIPTION_STATES: { weight: number; value: SubscriptionState }[] = [
  { weight: 70, value: 'active' },
  { weight: 5, value: 'cancelling' },
  { weight: 5, value: 'past_due' },
  { weight: 3, value: 'trialing' },
  { weight: 17, value: 'canceled' },
]

const DONATIONS = [300, 500, 1000, 1000, 2000, 2500, 5000, 10000]
const COMP_NOTES = ['Press', 'Contributor', 'Contest winner', 'Goodwill after a billing problem', 'Partner newsroom']

interface SeedTier {
  id: string
  currency: string
  monthlyAmount: number
  yearlyAmount: number
  stripeMonthlyPriceId: string | null
  stripeYearlyPriceId: string | null
}

/** Who an account is: drawn before anything else, so that the whole seed can be placed in the name order at once. */
interface Person {
  kind: Kind
  email: string
  name: string | null
}

interface Batch {
  /** The accounts in clear, sealed (`sealAccounts`) just before they are written. */
  accounts: { id: string; email: string; name: string | null; createdAt: Date }[]
  customers: (typeof stripeCustomers.$inferInsert)[]
  subscriptions: (typeof subscriptions.$inferInsert)[]
  payments: (typeof payments.$inferInsert)[]
  grants: (typeof grants.$inferInsert)[]
  patrons: (typeof patreonMembers.$inferInsert)[]
}

const emptyBatch = (): Batch => ({
  accounts: [],
  customers: [],
  subscriptions: [],
  payments: [],
  grants: [],
  patrons: [],
})

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month + 1, 0)).getUTCDate()
}

/** Stripe's billing dates: the same day of the month, or the month's last day when it is shorter. */
export function addPeriods(start: Date, interval: Interval, count: number): Date {
  const months = interval === 'month' ? count : 12 * count
  const target = new Date(start)
  target.setUTCDate(1)
  target.setUTCMonth(target.getUTCMonth() + months)
  target.setUTCDate(Math.min(start.getUTCDate(), daysInMonth(target.getUTCFullYear(), target.getUTCMonth())))
  return target
}

/**
 * Fills the database with `options.supporters` fake accounts and what they paid, then brings the
 * `supporters` summary up to date once (drizzle/0006_supporters.sql). Adds to what is there: a
 * second run continues the `seed_<n>` numbering. Creates the demo tiers if there are none.
 *
 * The people are drawn first and placed in the name order together (`placeAccounts`: sorted and
 * spread evenly, among any accounts already placed), since placing 100,000 one at a time would
 * decrypt a window of the order for each. Each batch is then sealed (`sealPeople`, in parallel)
 * while the one before is being written.
 */
export async function seedSupporters(db: Database, options: SeedOptions): Promise<SeedResult> {
  const started = performance.now()
  const log = options.log ?? (() => {})
  const { now } = options
  const seed = options.seed ?? 1

  await seedDemoTiers(db, now)
  const tierList: SeedTier[] = await db
    .select({
      id: tiers.id,
      currency: tiers.currency,
      monthlyAmount: tiers.monthlyAmount,
      yearlyAmount: tiers.yearlyAmount,
      stripeMonthlyPriceId: tiers.stripeMonthlyPriceId,
      stripeYearlyPriceId: tiers.stripeYearlyPriceId,
    })
    .from(tiers)
    .orderBy(asc(tiers.position), asc(tiers.id))
  if (tierList.length === 0) throw new Error('There are no tiers to subscribe to.')

  // A second run continues after the first rather than colliding with its ids and e-mails.
  const [last] = await rowsOf<{ n: number | string | null }>(
    db,
    sql`select max(substring(id from ${ID_PREFIX.length + 1}::int)::int) as n from users where id ~ ${`^${ID_PREFIX}[0-9]+$`}`,
  )
  const first = last?.n === null || last?.n === undefined ? 0 : Number(last.n) + 1

  const fakerOf = (stream: number) => {
    const faker = new Faker({ locale: [en, base] })
    faker.seed(first === 0 ? [seed, stream] : [seed, first, stream])
    faker.setDefaultRefDate(now)
    return faker
  }
  const people = drawPeople(fakerOf(1), first, options.supporters)
  // Outside a transaction, the placement's lock ends with its statement: an account signing up
  // meanwhile may share a key with a seeded one, which only ties them (the user id breaks the tie).
  const placed = Date.now()
  const orderKeys = await placeAccounts(
    db,
    options.keyring,
    people.map((person, n) => ({ id: `${ID_PREFIX}${first + n}`, sortText: sortTextOf(person) })),
  )
  log(
    `${people.length.toLocaleString('en-US')} people placed in the name order (${((Date.now() - placed) / 1000).toFixed(1)} s)`,
  )
  const generator = new Generator(fakerOf(2), now, tierList)

  const draw = (from: number, to: number) => {
    const batch = emptyBatch()
    for (let i = from; i < to; i++) generator.account(i, people[i - first]!, batch)
    const sealed = sealAccounts(options.keyring, batch, orderKeys)
    // Awaited in the loop; should a write fail first, its failure is no unhandled rejection.
    sealed.catch(() => {})
    return { batch, sealed }
  }
  const totals = { users: 0, subscriptions: 0, payments: 0, grants: 0, patrons: 0 }
  const end = first + options.supporters
  let next = first < end ? draw(first, Math.min(first + ACCOUNTS_PER_TRANSACTION, end)) : null
  for (let from = first; next; from += ACCOUNTS_PER_TRANSACTION) {
    const to = Math.min(from + ACCOUNTS_PER_TRANSACTION, end)
    const { batch, sealed } = next
    const accounts = await sealed
    // The next batch is drawn and sealed (Web Crypto, off the main thread) while this one is written.
    next = to < end ? draw(to, Math.min(to + ACCOUNTS_PER_TRANSACTION, end)) : null
    // Parents first: the triggers that mark accounts for the summary find them through stripe_customers.
    await db.transaction(async (tx) => {
      await insertAll(tx, users, accounts)
      await insertAll(tx, stripeCustomers, batch.customers)
      await insertAll(tx, subscriptions, batch.subscriptions)
      await insertAll(tx, payments, batch.payments)
      await insertAll(tx, grants, batch.grants)
      await insertAll(tx, patreonMembers, batch.patrons)
    })
    totals.users += accounts.length
    totals.subscriptions += batch.subscriptions.length
    totals.payments += batch.payments.length
    totals.grants += batch.grants.length
    totals.patrons += batch.patrons.length
    const elapsed = ((performance.now() - started) / 1000).toFixed(1)
    log(
      `${(to - first).toLocaleString('en-US')} of ${options.supporters.toLocaleString('en-US')} accounts written (${elapsed} s)`,
    )
  }

  // Tables filled in one go have no statistics until autovacuum gets to them, and without them the
  // planner expects many customers per account and scans every subscription for each one: the
  // refresh of 100,000 accounts took over ten minutes instead of seconds.
  await db.execute(
    sql`analyze users, stripe_customers, subscriptions, payments, grants, patreon_members, supporters_dirty`,
  )
  const refreshStarted = performance.now()
  const [refreshed] = await rowsOf<{ n: number | string }>(db, sql`select masthead_refresh_dirty_supporters() as n`)
  const refreshSeconds = (performance.now() - refreshStarted) / 1000
  // The same for the summary, so the supporter list is planned with its real size from the start;
  // and a vacuum, which moves the search tokens just written from the GIN index's pending list
  // into the index proper: until then every search reads the whole list (milliseconds per query).
  await db.execute(sql`vacuum analyze supporters`)
  log(
    `supporters summary refreshed for ${Number(refreshed?.n ?? 0).toLocaleString('en-US')} accounts in ${refreshSeconds.toFixed(1)} s`,
  )

  return { ...totals, seconds: (performance.now() - started) / 1000 }
}

/** People for accounts `first` onwards, in order: the same sequence for the same seed. */
function drawPeople(faker: Faker, first: number, count: number): Person[] {
  const people: Person[] = []
  for (let i = first; i < first + count; i++) {
    const firstName = faker.person.firstName()
    const lastName = faker.person.lastName()
    const kind = faker.helpers.weightedArrayElement(KINDS)
    // The counter makes e-mails unique, however often faker repeats a username.
    const email = `${faker.internet.username({ firstName, lastName })}.${i}@example.org`.toLowerCase()
    // Patreon imports bring a name; other readers give one about 60 % of the time.
    const named = kind === 'patreon' || faker.number.float() < 0.58
    people.push({ kind, email, name: named ? `${firstName} ${lastName}` : null })
  }
  return people
}

/** A batch's accounts as `users` rows: address and name sealed, with their indexes and order keys. */
async function sealAccounts(
  keyring: Keyring,
  batch: Batch,
  orderKeys: ReadonlyMap<string, string>,
): Promise<(typeof users.$inferInsert)[]> {
  const sealed = await sealPeople(keyring, batch.accounts)
  return batch.accounts.map((account, n) => ({
    id: account.id,
    ...sealed[n]!,
    nameOrder: orderKeys.get(account.id)!,
    role: 'reader' as const,
    createdAt: account.createdAt,
    updatedAt: account.createdAt,
  }))
}

async function insertAll<T extends PgTable>(db: Database, table: T, rows: T['$inferInsert'][]): Promise<void> {
  const columns = rows[0] ? Object.keys(rows[0]).length : 1
  const size = Math.max(1, Math.min(ROWS_PER_STATEMENT, Math.floor(MAX_PARAMETERS / columns)))
  for (let at = 0; at < rows.length; at += size) {
    await db.insert(table).values(rows.slice(at, at + size))
  }
}

/** Draws what each account paid, one account at a time, in order: the same sequence for the same seed. */
class Generator {
  constructor(
    private readonly faker: Faker,
    private readonly now: Date,
    private readonly tierList: SeedTier[],
  ) {}

  private chance(probability: number): boolean {
    return this.faker.number.float() < probability
  }

  /** A moment in the last `span` ms, more of them recent: a publication that is growing. */
  private recent(span = HISTORY_MS): Date {
    return new Date(this.now.getTime() - Math.floor(span * this.faker.number.float() ** 1.4))
  }

  private between(from: Date, to: Date): Date {
    const low = from.getTime()
    const high = Math.max(low, to.getTime())
    return new Date(low + Math.floor((high - low) * this.faker.number.float()))
  }

  /** The first tier (by position) is the popular one; the others share the rest. */
  private tier(): SeedTier {
    if (this.tierList.length === 1 || this.chance(0.7)) return this.tierList[0]!
    return this.faker.helpers.arrayElement(this.tierList.slice(1))
  }

  account(i: number, person: Person, batch: Batch): void {
    const { kind } = person
    const userId = `${ID_PREFIX}${i}`
    const customerId = `cus_seed_${i}`

    let createdAt: Date
    if (kind === 'subscriber') {
      createdAt = this.subscriber(i, userId, customerId, batch)
    } else if (kind === 'donor') {
      createdAt = this.donor(i, userId, customerId, batch)
    } else if (kind === 'comp') {
      createdAt = this.comp(i, userId, batch)
    } else if (kind === 'patreon') {
      createdAt = this.patreon(i, userId, batch)
    } else {
      createdAt = this.recent()
    }
    batch.accounts.push({ id: userId, email: person.email, name: person.name, createdAt })
  }

  /** A subscription and its paid invoices; returns when the account was made. */
  private subscriber(i: number, userId: string, customerId: string, batch: Batch): Date {
    const now = this.now
    const tier = this.tier()
    const interval: Interval = this.chance(0.8) ? 'month' : 'year'
    let state = this.faker.helpers.weightedArrayElement(SUBSCRIPTION_STATES)
    const created = state === 'trialing' ? this.recent((TRIAL_DAYS - 1) * DAY) : this.recent()
    // Periods that have begun since the subscription started (the first one included).
    let periods = 1
    while (addPeriods(created, interval, periods) <= now) periods++
    // Past due and canceled need a period behind them; a newer subscription is simply active.
    if ((state === 'past_due' || state === 'canceled') && periods < 2) state = 'active'

    let paid = state === 'trialing' ? 0 : periods
    let status = state === 'cancelling' ? 'active' : state
    let currentPeriodEnd: Date | null = addPeriods(created, interval, periods)
    let endedAt: Date | null = null
    let pastDueSince: Date | null = null
    if (state === 'trialing') {
      currentPeriodEnd = new Date(created.getTime() + TRIAL_DAYS * DAY)
    } else if (state === 'past_due') {
      // The current period's invoice failed; the ones before were paid.
      paid = periods - 1
      pastDueSince = addPeriods(created, interval, paid)
    } else if (state === 'canceled') {
      // Canceled at the end of a paid period, at least one period ago.
      paid = this.faker.number.int({ min: 1, max: periods - 1 })
      endedAt = addPeriods(created, interval, paid)
      currentPeriodEnd = endedAt
      status = 'canceled'
    }
    const amount = interval === 'month' ? tier.monthlyAmount : tier.yearlyAmount
    const priceId =
      (interval === 'month' ? tier.stripeMonthlyPriceId : tier.stripeYearlyPriceId) ??
      `price_seed_${tier.id}_${interval}`

    const subscriptionId = `sub_seed_${i}`
    const accountCreated = new Date(created.getTime() - this.faker.number.int({ min: 0, max: 20 * DAY }))
    batch.customers.push({ customerId, userId, createdAt: created })
    batch.subscriptions.push({
      id: subscriptionId,
      customerId,
      tierId: tier.id,
      priceId,
      interval,
      amount,
      currency: tier.currency,
      status,
      cancelAtPeriodEnd: state === 'cancelling',
      currentPeriodEnd,
      endedAt,
      stripeCreatedAt: created,
      pastDueSince,
      snapshotAt: now,
      updatedAt: now,
    })
    for (let n = Math.max(0, paid - MAX_PAYMENTS); n < paid; n++) {
      // Invoices are paid a little after the period starts.
      const due = addPeriods(created, interval, n)
      const occurredAt = new Date(
        Math.min(now.getTime(), due.getTime() + this.faker.number.int({ min: 0, max: 3_600_000 })),
      )
      batch.payments.push({
        id: `in_seed_${i}_${n}`,
        kind: 'subscription',
        customerId,
        subscriptionId,
        paymentIntentId: `pi_seed_${i}_${n}`,
        amount,
        currency: tier.currency,
        occurredAt,
      })
    }
    return accountCreated
  }

  /** One to three one-off donations, no subscription. */
  private donor(i: number, userId: string, customerId: string, batch: Batch): Date {
    const count = this.faker.number.int({ min: 1, max: 3 })
    const times = Array.from({ length: count }, () => this.recent()).sort((a, b) => a.getTime() - b.getTime())
    const firstGift = times[0]!
    batch.customers.push({ customerId, userId, createdAt: firstGift })
    times.forEach((occurredAt, n) => {
      const id = `pi_seed_${i}_${n}`
      batch.payments.push({
        id,
        kind: 'donation',
        customerId,
        paymentIntentId: id,
        amount: this.faker.helpers.arrayElement(DONATIONS),
        currency: 'usd',
        occurredAt,
      })
    })
    return new Date(firstGift.getTime() - this.faker.number.int({ min: 0, max: 10 * DAY }))
  }

  /** A comp from an editor: open-ended or for some months, now and then revoked. */
  private comp(i: number, userId: string, batch: Batch): Date {
    const startsAt = this.recent(2 * 365 * DAY)
    const endsAt = this.chance(0.4) ? null : addPeriods(startsAt, 'month', this.faker.helpers.arrayElement([3, 6, 12]))
    const revokedAt = this.chance(0.1) ? this.between(startsAt, endsAt && endsAt < this.now ? endsAt : this.now) : null
    batch.grants.push({
      id: `grant_seed_${i}`,
      userId,
      source: 'comp',
      tierId: this.chance(0.4) ? this.tierList.at(-1)!.id : this.tierList[0]!.id,
      startsAt,
      endsAt,
      note: this.faker.helpers.arrayElement(COMP_NOTES),
      revokedAt,
      createdAt: startsAt,
      updatedAt: revokedAt ?? startsAt,
    })
    return new Date(startsAt.getTime() - this.faker.number.int({ min: 0, max: 30 * DAY }))
  }

  /** A patron brought over from Patreon, paid through a date that is mostly still ahead. */
  private patreon(i: number, userId: string, batch: Batch): Date {
    const importedAt = this.recent(2 * 365 * DAY)
    const lapsed = this.chance(0.25) && this.now.getTime() - importedAt.getTime() > 2 * DAY
    const endsAt = lapsed
      ? this.between(new Date(importedAt.getTime() + DAY), this.now)
      : new Date(this.now.getTime() + this.faker.number.int({ min: 1, max: 31 }) * DAY)
    const tier = this.tier()
    batch.patrons.push({
      userId,
      status: endsAt > this.now ? 'active' : 'former',
      patreonTier: `Patreon ${tier.id}`,
      tierId: tier.id,
      pledgeAmount: tier.monthlyAmount,
      currency: tier.currency,
      chargeFrequency: 'monthly',
      patronSince: importedAt,
      accessStartsAt: importedAt,
      accessEndsAt: endsAt,
      importedAt,
      updatedAt: importedAt,
    })
    return importedAt
  }
}
