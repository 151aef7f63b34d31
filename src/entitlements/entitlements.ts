import type { Config } from '../config'
import type { Database } from '../db/client'
import { BENEFITS, type Benefit } from '../db/schema'
import { loadEntitlementFacts, type EntitlementFacts } from './facts'
import { bestPaidMembership, NO_MEMBERSHIP, type CurrentMembership, type Membership } from './membership'

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
  /** The paid (Stripe) membership alone, whatever comps or imports the reader also has: the account page's billing. */
  paid: Membership
  /** While a one-time donation still hides the support prompts. */
  donorUntil: Date | null
  /**
   * The first moment after `now` at which the same facts could decide otherwise by time alone (a
   * period or a grace period ending, a grant starting or ending, a donation's benefit running out);
   * null when none can. Whatever keeps a decision (the page-view cookie) keeps it no longer.
   */
  changesAt: Date | null
  /** Gift memberships received (src/billing/gifts), newest first, ended ones too: the account page lists them. */
  gifts: GiftMembership[]
}

/** A gift membership as its recipient sees it: a grant of a tier that ends by itself. */
export interface GiftMembership {
  tierName: string | null
  startsAt: Date
  endsAt: Date | null
}

export const ANONYMOUS: Entitlements = {
  benefits: [],
  tierIds: [],
  membership: NO_MEMBERSHIP,
  paid: { ...NO_MEMBERSHIP, benefits: [] },
  donorUntil: null,
  changesAt: null,
  gifts: [],
}

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
  const { benefits: paidBenefits, ...paidMembership } = paid
  let membership: CurrentMembership = paidMembership

  if (paid.entitled) {
    paidBenefits.forEach((b) => benefits.add(b))
    if (paid.tierId) tierIds.add(paid.tierId)
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
    paid,
    donorUntil: donorUntil && now < donorUntil ? donorUntil : null,
    changesAt: nextChange(facts, now, rules, donorUntil),
    gifts: facts.grants
      .filter((g) => g.source === 'gift')
      .map(({ tierName, startsAt, endsAt }) => ({ tierName, startsAt, endsAt }))
      .sort((a, b) => b.startsAt.getTime() - a.startsAt.getTime()),
  }
}

/** The earliest time after `now` among every date the decision above compares `now` with. */
function nextChange(facts: EntitlementFacts, now: Date, rules: EntitlementRules, donorUntil: Date | null): Date | null {
  const t = now.getTime()
  let next = Infinity
  const consider = (date: Date | null) => {
    const at = date?.getTime()
    if (at !== undefined && at > t && at < next) next = at
  }
  for (const sub of facts.subscriptions) {
    consider(sub.currentPeriodEnd)
    if (sub.pastDueSince) consider(new Date(sub.pastDueSince.getTime() + rules.PAST_DUE_GRACE_DAYS * DAY_MS))
  }
  for (const grant of facts.grants) {
    consider(grant.startsAt)
    consider(grant.endsAt)
  }
  consider(donorUntil)
  return next === Infinity ? null : new Date(next)
}

/** Ad slots, for readers whose benefits do not include adFree. */
export const showsAds = (reader: { benefits: readonly Benefit[] }) => !reader.benefits.includes('adFree')

/** Requests for support: not for ad-free readers, nor for recent donors (hideSupportPrompts). */
export const showsSupportPrompts = (reader: { benefits: readonly Benefit[] }) =>
  !reader.benefits.includes('adFree') && !reader.benefits.includes('hideSupportPrompts')

/** A reader's entitlements in one query, for when there is no session to ride on (staff views, tests). */
export async function loadEntitlements(
  db: Database,
  userId: string,
  now: Date,
  rules: EntitlementRules,
): Promise<Entitlements> {
  return entitlementsFrom(await loadEntitlementFacts(db, userId), now, rules)
}

/**
 * Someone else's paid membership (a signed-out checkout for an address that
 * has an account). The signed-in reader's own is `c.var.entitlements.paid`,
 * read with the session.
 */
export async function paidMembershipOf(db: Database, userId: string, now: Date, rules: EntitlementRules) {
  return (await loadEntitlements(db, userId, now, rules)).paid
}
