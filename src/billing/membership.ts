import { desc, eq } from 'drizzle-orm'
import type { Database } from '../db/client'
import { stripeCustomers, subscriptions, tiers, type Benefit } from '../db/schema'

/**
 * What a member is, derived from their subscription: the one place that turns
 * Stripe's statuses into entitlement.
 */
export type MembershipStatus =
  'active' | 'trialing' | 'past_due' | 'canceled_at_period_end' | 'incomplete' | 'ended' | 'none'

/** A custom monthly pledge has no tier; it gets what a recurring contribution gets. */
export const PLEDGE_BENEFITS: Benefit[] = ['hideSupportPrompts', 'supportersOnlyContent']

/** Stripe statuses under which a second subscription must not be sold. */
export const LIVE_STATUSES = new Set(['active', 'trialing', 'past_due', 'incomplete'])

export interface SubscriptionState {
  status: string
  cancelAtPeriodEnd: boolean
  currentPeriodEnd: Date | null
  pastDueSince: Date | null
}

export function membershipStatus(sub: SubscriptionState, now: Date, graceDays: number) {
  const graceEnds = sub.pastDueSince ? new Date(sub.pastDueSince.getTime() + graceDays * 86_400_000) : null
  const periodOpen = sub.currentPeriodEnd !== null && now < sub.currentPeriodEnd
  switch (sub.status) {
    case 'active':
      if (sub.cancelAtPeriodEnd) {
        return { status: 'canceled_at_period_end' as const, entitled: periodOpen, until: sub.currentPeriodEnd }
      }
      return { status: 'active' as const, entitled: true, until: sub.currentPeriodEnd }
    case 'trialing':
      return { status: 'trialing' as const, entitled: true, until: sub.currentPeriodEnd }
    case 'past_due':
      // Stripe is retrying the card: benefits continue for the grace period.
      return { status: 'past_due' as const, entitled: graceEnds === null || now < graceEnds, until: graceEnds }
    case 'incomplete':
      return { status: 'incomplete' as const, entitled: false, until: null }
    default:
      // canceled, unpaid, incomplete_expired, paused
      return { status: 'ended' as const, entitled: false, until: null }
  }
}

export interface Membership {
  status: MembershipStatus
  entitled: boolean
  until: Date | null
  tierId: string | null
  tierName: string | null
  interval: string | null
  amount: number | null
  currency: string | null
  benefits: Benefit[]
  subscriptionId: string | null
}

const NONE: Membership = {
  status: 'none',
  entitled: false,
  until: null,
  tierId: null,
  tierName: null,
  interval: null,
  amount: null,
  currency: null,
  benefits: [],
  subscriptionId: null,
}

/** The member's best subscription: an entitled one first, then the most recent. */
export async function membershipOf(db: Database, userId: string, now: Date, graceDays: number): Promise<Membership> {
  const rows = await db
    .select({ sub: subscriptions, tierName: tiers.name, tierBenefits: tiers.benefits })
    .from(subscriptions)
    .innerJoin(stripeCustomers, eq(stripeCustomers.customerId, subscriptions.customerId))
    .leftJoin(tiers, eq(tiers.id, subscriptions.tierId))
    .where(eq(stripeCustomers.userId, userId))
    .orderBy(desc(subscriptions.stripeCreatedAt))
  let best: Membership = NONE
  for (const { sub, tierName, tierBenefits } of rows) {
    const state = membershipStatus(sub, now, graceDays)
    const candidate: Membership = {
      ...state,
      tierId: sub.tierId,
      tierName: tierName ?? (sub.tierId ? null : 'Monthly pledge'),
      interval: sub.interval,
      amount: sub.amount,
      currency: sub.currency,
      benefits: state.entitled ? ((tierBenefits as Benefit[] | null) ?? PLEDGE_BENEFITS) : [],
      subscriptionId: sub.id,
    }
    if (best === NONE || (candidate.entitled && !best.entitled)) best = candidate
  }
  return best
}
