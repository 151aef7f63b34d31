import { createSession } from '../../src/accounts/sessions'
import { newAccount } from '../../src/accounts/users'
import type { Config } from '../../src/config'
import { keyringOf } from '../../src/privacy/keys'
import type { Database } from '../../src/db/client'
import { grants, stripeCustomers, subscriptions, users, type Role } from '../../src/db/schema'

const DAY = 86_400_000

export interface Membership {
  comp?: string
  subscription?: { tier: string; status: string; pastDueDays?: number }
}

/**
 * A reader with a membership and a session, written straight to the database
 * (the paths that make them are tested elsewhere); returns the session cookie.
 * The demo tiers must exist (seedDemoTiers).
 */
export async function makeReader(
  db: Database,
  config: Config,
  now: Date,
  email: string,
  membership: Membership = {},
  role: Role = 'reader',
): Promise<string> {
  const keyring = await keyringOf(config)
  const account = await db.transaction(async (tx) => {
    const row = { ...(await newAccount(tx, keyring, config, now, { email })), role }
    await tx.insert(users).values(row)
    return row
  })
  if (membership.comp) {
    await db.insert(grants).values({
      id: `g_${account.id}`,
      userId: account.id,
      source: 'comp',
      tierId: membership.comp,
      startsAt: new Date(now.getTime() - DAY),
      createdAt: now,
      updatedAt: now,
    })
  }
  if (membership.subscription) {
    const { tier, status, pastDueDays } = membership.subscription
    await db.insert(stripeCustomers).values({ customerId: `cus_${account.id}`, userId: account.id, createdAt: now })
    await db.insert(subscriptions).values({
      id: `sub_${account.id}`,
      customerId: `cus_${account.id}`,
      tierId: tier,
      priceId: `price_${tier}`,
      interval: 'month',
      amount: 500,
      currency: 'usd',
      status,
      cancelAtPeriodEnd: false,
      currentPeriodEnd: new Date(now.getTime() + 20 * DAY),
      endedAt: status === 'canceled' ? new Date(now.getTime() - DAY) : null,
      stripeCreatedAt: new Date(now.getTime() - 40 * DAY),
      pastDueSince: pastDueDays === undefined ? null : new Date(now.getTime() - pastDueDays * DAY),
      snapshotAt: now,
      updatedAt: now,
    })
  }
  const { token } = await createSession(db, config, account.id)
  return `masthead_session=${token}`
}

/** The marked parts of the stub origin's /markers page (tests/helpers/origin.ts). */
export const MARKERS = [
  'AD-SLOT',
  'THIRD-PARTY-AD',
  'SUPPORT-PROMPT',
  'MEMBERS-SECRET',
  'SUPPORTERS-SECRET',
  'PATRON-SECRET',
  'EARLY-SECRET',
]

/** Every kind of reader, and which marked parts of /markers each must see (none of the others). */
export const READERS: {
  who: string
  reader?: { email: string; membership?: Membership; role?: Role }
  sees: string[]
}[] = [
  { who: 'anonymous', sees: ['AD-SLOT', 'THIRD-PARTY-AD', 'SUPPORT-PROMPT'] },
  {
    who: 'a member without a membership',
    reader: { email: 'member' },
    sees: ['AD-SLOT', 'THIRD-PARTY-AD', 'SUPPORT-PROMPT', 'MEMBERS-SECRET'],
  },
  {
    who: 'a Reader-tier supporter (paid)',
    reader: { email: 'reader-tier', membership: { subscription: { tier: 'reader', status: 'active' } } },
    sees: ['AD-SLOT', 'THIRD-PARTY-AD', 'MEMBERS-SECRET', 'SUPPORTERS-SECRET'],
  },
  {
    who: 'a Patron-tier supporter (paid)',
    reader: { email: 'patron-tier', membership: { subscription: { tier: 'patron', status: 'active' } } },
    sees: ['MEMBERS-SECRET', 'SUPPORTERS-SECRET', 'PATRON-SECRET', 'EARLY-SECRET'],
  },
  {
    who: 'a comp on the Patron tier',
    reader: { email: 'comp', membership: { comp: 'patron' } },
    sees: ['MEMBERS-SECRET', 'SUPPORTERS-SECRET', 'PATRON-SECRET', 'EARLY-SECRET'],
  },
  {
    who: 'a Reader-tier supporter past due, in the grace period',
    reader: {
      email: 'grace',
      membership: { subscription: { tier: 'reader', status: 'past_due', pastDueDays: 2 } },
    },
    sees: ['AD-SLOT', 'THIRD-PARTY-AD', 'MEMBERS-SECRET', 'SUPPORTERS-SECRET'],
  },
  {
    who: 'a Patron whose membership ended',
    reader: { email: 'ended', membership: { subscription: { tier: 'patron', status: 'canceled' } } },
    sees: ['AD-SLOT', 'THIRD-PARTY-AD', 'SUPPORT-PROMPT', 'MEMBERS-SECRET'],
  },
  { who: 'an editor', reader: { email: 'editor', role: 'editor' }, sees: MARKERS },
]

/** What each reader must and must not see of the stub origin's /malformed page. */
export const MALFORMED: { who: string; membership?: Membership; sees: string[]; never: string[] }[] = [
  {
    who: 'anonymous',
    sees: ['AD-OUTER'],
    never: ['NESTED-SECRET', 'PATRON-IN-SUPPORTERS', 'MALFORMED-SECRET', 'UNREADABLE-SECRET'],
  },
  {
    who: 'a Patron',
    membership: { comp: 'patron' },
    sees: [],
    // Removing the ad removes what it holds, gated or not; an unreadable marker is closed to everyone.
    never: ['AD-OUTER', 'NESTED-SECRET', 'UNREADABLE-SECRET'],
  },
  {
    who: 'a Reader-tier supporter',
    membership: { comp: 'reader' },
    sees: ['AD-OUTER', 'NESTED-SECRET', 'MALFORMED-SECRET'],
    never: ['PATRON-IN-SUPPORTERS', 'UNREADABLE-SECRET'],
  },
]
