import { sql } from 'drizzle-orm'
import { rowsOf, type Database } from '../db/client'
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

/**
 * One SQL expression (json) with every fact about the account whose id is
 * the SQL expression `userId` (a column such as `u.id`, never user input).
 * The session lookup embeds it, so a signed-in page view costs one round
 * trip for the session, the account and the entitlements together. It is
 * plain text, built once: on the hot path, Drizzle's builder would spend more
 * time assembling this query than Postgres spends running it.
 */
export function entitlementFactsSql(userId: string): string {
  return `json_build_object(
    'subscriptions', coalesce((
      select json_agg(json_build_object(
        'id', s.id, 'status', s.status, 'cancelAtPeriodEnd', s.cancel_at_period_end,
        'currentPeriodEnd', s.current_period_end, 'pastDueSince', s.past_due_since,
        'tierId', s.tier_id, 'tierName', t.name, 'tierBenefits', t.benefits,
        'interval', s.interval, 'amount', s.amount, 'currency', s.currency, 'createdAt', s.stripe_created_at))
      from subscriptions s
      join stripe_customers sc on sc.customer_id = s.customer_id
      left join tiers t on t.id = s.tier_id
      where sc.user_id = ${userId}), '[]'::json),
    'grants', coalesce((
      select json_agg(json_build_object(
        'id', g.id, 'source', g.source, 'tierId', g.tier_id, 'tierName', t.name, 'tierBenefits', t.benefits,
        'startsAt', g.starts_at, 'endsAt', g.ends_at))
      from all_grants g
      left join tiers t on t.id = g.tier_id
      where g.user_id = ${userId} and g.revoked_at is null), '[]'::json),
    'lastDonationAt', (
      select max(p.occurred_at) from payments p
      join stripe_customers sc on sc.customer_id = p.customer_id
      where sc.user_id = ${userId} and p.kind = 'donation'
        -- a donation refunded in full no longer counts (refund rows hold the amount refunded, negative)
        and p.amount + coalesce((select sum(r.amount) from payments r
          where r.kind = 'refund' and r.payment_intent_id = p.payment_intent_id), 0) > 0))`
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
