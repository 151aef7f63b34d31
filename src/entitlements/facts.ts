import { sql } from 'drizzle-orm'
import { rowsOf, type Database } from '../db/client'
import { entitlementFactsSql } from '../db/facts-sql'
import type { Benefit, GrantSource } from '../db/schema'

/** The raw facts about one reader, read in a single query (`entitlementFactsSql`). */
export interface EntitlementFacts {
  subscriptions: SubscriptionFact[]
  grants: GrantFact[]
  lastDonationAt: Date | null
}

export interface SubscriptionFact {
  id: string
  status: string
  cancelAtPeriodEnd: boolean
  currentPeriodEnd: Date | null
  pastDueSince: Date | null
  tierId: string | null
  tierName: string | null
  /** Null for a custom pledge (no tier), which gets PLEDGE_BENEFITS. */
  tierBenefits: Benefit[] | null
  interval: string
  amount: number
  currency: string
  createdAt: Date
}

export interface GrantFact {
  id: string
  source: GrantSource
  tierId: string | null
  tierName: string | null
  tierBenefits: Benefit[] | null
  startsAt: Date
  endsAt: Date | null
}

/** The facts of the account whose id follows: `${FACTS_OF}${userId}${AS_SUBJECT}`. */
const FACTS_OF = sql.raw(`select ${entitlementFactsSql('subject.id')} as facts from (select `)
const AS_SUBJECT = sql.raw('::text as id) subject')

interface RawFacts {
  subscriptions: (Omit<SubscriptionFact, 'currentPeriodEnd' | 'pastDueSince' | 'createdAt'> & {
    currentPeriodEnd: string | null
    pastDueSince: string | null
    createdAt: string
  })[]
  grants: (Omit<GrantFact, 'startsAt' | 'endsAt'> & { startsAt: string; endsAt: string | null })[]
  lastDonationAt: string | null
}

const date = (value: string | null) => (value === null ? null : new Date(value))

/** Turns the query's json (a string or already parsed, by driver) into facts with real dates. */
export function parseEntitlementFacts(value: unknown): EntitlementFacts {
  const raw = (typeof value === 'string' ? JSON.parse(value) : value) as RawFacts
  return {
    subscriptions: raw.subscriptions.map((s) => ({
      ...s,
      currentPeriodEnd: date(s.currentPeriodEnd),
      pastDueSince: date(s.pastDueSince),
      createdAt: new Date(s.createdAt),
    })),
    grants: raw.grants.map((g) => ({ ...g, startsAt: new Date(g.startsAt), endsAt: date(g.endsAt) })),
    lastDonationAt: date(raw.lastDonationAt),
  }
}

/** Every fact about one account, in one query. */
export async function loadEntitlementFacts(db: Database, userId: string): Promise<EntitlementFacts> {
  const [row] = await rowsOf<{ facts: unknown }>(db, sql`${FACTS_OF}${userId}${AS_SUBJECT}`)
  return parseEntitlementFacts(row!.facts)
}
