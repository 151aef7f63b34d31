import { sql } from 'drizzle-orm'
import type { Config } from '../config'
import { rowsOf, type Database } from '../db/client'
import { BENEFITS, type Benefit, type GrantSource } from '../db/schema'
import { membershipStatus, PLEDGE_BENEFITS, type MembershipStatus } from './membership'

/**
 * What a reader may have, from every source (the Guardian's model): a paid
 * Stripe membership, a comp, a Patreon membership carried over, and a recent
 * one-time donation. `entitlementsFrom` is the one function that decides;
 * everything that asks "may this reader…?" goes through it.
 */
export interface Entitlements {
  /** In BENEFITS order, without repeats. */
  benefits: Benefit[]
  /** The tiers whose articles the reader may read (articles limited to chosen tiers). */
  tierIds: string[]
  membership: CurrentMembership
  /** While a one-time donation still hides the support prompts. */
  donorUntil: Date | null
}

export type MembershipSource = 'stripe' | GrantSource

export interface CurrentMembership {
  status: MembershipStatus
  source: MembershipSource | null
  entitled: boolean
  /** Benefits last until then (null: no end known, or none). */
  until: Date | null
  tierId: string | null
  tierName: string | null
  interval: string | null
  amount: number | null
  currency: string | null
  subscriptionId: string | null
}

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

export const NO_MEMBERSHIP: CurrentMembership = {
  status: 'none',
  source: null,
  entitled: false,
  until: null,
  tierId: null,
  tierName: null,
  interval: null,
  amount: null,
  currency: null,
  subscriptionId: null,
}

export const ANONYMOUS: Entitlements = { benefits: [], tierIds: [], membership: NO_MEMBERSHIP, donorUntil: null }

const DAY_MS = 86_400_000

export type EntitlementRules = Pick<Config, 'PAST_DUE_GRACE_DAYS' | 'DONATION_BENEFIT_DAYS'>

/**
 * Decides. A paid membership in good standing wins outright: a comp or a
 * Patreon membership then adds nothing (a member who starts paying keeps only
 * the paid membership). Without one, every current comp or Patreon
 * membership counts. A donation within DONATION_BENEFIT_DAYS adds
 * hideSupportPrompts on top.
 */
export function entitlementsFrom(facts: EntitlementFacts, now: Date, rules: EntitlementRules): Entitlements {
  const paid = bestPaidMembership(facts.subscriptions, now, rules.PAST_DUE_GRACE_DAYS)
  const benefits = new Set<Benefit>()
  const tierIds = new Set<string>()
  let membership = paid.membership

  if (paid.membership.entitled) {
    paid.benefits.forEach((b) => benefits.add(b))
    if (paid.membership.tierId) tierIds.add(paid.membership.tierId)
  } else {
    const current = facts.grants.filter((g) => g.startsAt <= now && (g.endsAt === null || now < g.endsAt))
    for (const grant of current) {
      grant.tierBenefits?.forEach((b) => benefits.add(b))
      if (grant.tierId) tierIds.add(grant.tierId)
    }
    // The one lasting longest describes the membership (no end beats any end).
    const longest = current.sort((a, b) => (b.endsAt?.getTime() ?? Infinity) - (a.endsAt?.getTime() ?? Infinity))[0]
    if (longest) {
      membership = {
        ...NO_MEMBERSHIP,
        status: 'active',
        source: longest.source,
        entitled: true,
        until: longest.endsAt,
        tierId: longest.tierId,
        tierName: longest.tierName,
      }
    }
  }

  const donorUntil = facts.lastDonationAt
    ? new Date(facts.lastDonationAt.getTime() + rules.DONATION_BENEFIT_DAYS * DAY_MS)
    : null
  if (donorUntil && now < donorUntil) benefits.add('hideSupportPrompts')

  return {
    benefits: BENEFITS.filter((b) => benefits.has(b)),
    tierIds: [...tierIds].sort(),
    membership,
    donorUntil: donorUntil && now < donorUntil ? donorUntil : null,
  }
}

/** The reader's best Stripe subscription: an entitled one first, then the most recent. */
export function bestPaidMembership(
  subscriptions: SubscriptionFact[],
  now: Date,
  graceDays: number,
): { membership: CurrentMembership; benefits: Benefit[] } {
  let best: { membership: CurrentMembership; benefits: Benefit[] } = { membership: NO_MEMBERSHIP, benefits: [] }
  const newestFirst = [...subscriptions].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())
  for (const sub of newestFirst) {
    const state = membershipStatus(sub, now, graceDays)
    const candidate = {
      membership: {
        ...state,
        source: 'stripe' as const,
        tierId: sub.tierId,
        tierName: sub.tierName ?? (sub.tierId ? null : 'Monthly pledge'),
        interval: sub.interval,
        amount: sub.amount,
        currency: sub.currency,
        subscriptionId: sub.id,
      },
      benefits: state.entitled ? (sub.tierBenefits ?? PLEDGE_BENEFITS) : [],
    }
    if (best.membership === NO_MEMBERSHIP || (candidate.membership.entitled && !best.membership.entitled)) {
      best = candidate
    }
  }
  return best
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

/** A reader's entitlements in one query, for when there is no session to ride on (staff views, tests). */
export async function loadEntitlements(
  db: Database,
  userId: string,
  now: Date,
  rules: EntitlementRules,
): Promise<Entitlements> {
  return entitlementsFrom(await loadEntitlementFacts(db, userId), now, rules)
}
