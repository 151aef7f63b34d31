import type { Database } from '../db/client'
import type { Benefit } from '../db/schema'
import { bestPaidMembership, loadEntitlementFacts, type CurrentMembership } from './entitlements'

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

export type Membership = CurrentMembership & { benefits: Benefit[] }

/** The member's paid (Stripe) membership only, whatever comps or imports they also have. */
export async function membershipOf(db: Database, userId: string, now: Date, graceDays: number): Promise<Membership> {
  const facts = await loadEntitlementFacts(db, userId)
  const { membership, benefits } = bestPaidMembership(facts.subscriptions, now, graceDays)
  return { ...membership, benefits }
}
