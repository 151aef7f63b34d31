import type { Benefit, GrantSource } from '../db/schema'
import type { SubscriptionFact } from './facts'

/**
 * What a member is, derived from their Stripe subscription: membershipStatus
 * below is where a Stripe status becomes a membership and its benefits, with
 * the grace period. (Which statuses count as paying in SQL, for the supporters
 * table and metrics, is src/db/statuses.ts; a test checks the two agree.)
 */
export type MembershipStatus =
  'active' | 'trialing' | 'past_due' | 'canceled_at_period_end' | 'incomplete' | 'ended' | 'none'

/** A custom pledge (monthly or yearly) has no tier; it gets what a recurring contribution gets. */
export const PLEDGE_BENEFITS: Benefit[] = ['hideSupportPrompts', 'supportersOnlyContent']

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

/** A paid membership and the benefits it gives. */
export type Membership = CurrentMembership & { benefits: Benefit[] }

/** The reader's best Stripe subscription: an entitled one first, then the most recent. */
export function bestPaidMembership(subscriptions: SubscriptionFact[], now: Date, graceDays: number): Membership {
  let best: { membership: CurrentMembership; benefits: Benefit[] } = { membership: NO_MEMBERSHIP, benefits: [] }
  const newestFirst = [...subscriptions].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())
  for (const sub of newestFirst) {
    const state = membershipStatus(sub, now, graceDays)
    const candidate = {
      membership: {
        ...state,
        source: 'stripe' as const,
        tierId: sub.tierId,
        tierName: sub.tierName ?? (sub.tierId ? null : sub.interval === 'year' ? 'Yearly pledge' : 'Monthly pledge'),
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
  return { ...best.membership, benefits: best.benefits }
}
