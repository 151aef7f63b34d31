import { and, desc, eq, notInArray } from 'drizzle-orm'
import type Stripe from 'stripe'
import type { SessionUser } from '../accounts/sessions'
import type { Database } from '../db/client'
import { stripeCustomers, subscriptions } from '../db/schema'
import { LIVE_STATUSES, NEVER_STARTED_STATUSES } from '../db/statuses'
import type { Keyring } from '../privacy/keys'
import { openAddress } from '../privacy/people'
import { MASTHEAD_METADATA } from './stripe'

/** The account's Stripe customer, if it has one. */
export async function customerIdOf(db: Database, userId: string): Promise<string | null> {
  const [row] = await db
    .select({ id: stripeCustomers.customerId })
    .from(stripeCustomers)
    .where(eq(stripeCustomers.userId, userId))
    .orderBy(desc(stripeCustomers.createdAt))
    .limit(1)
  return row?.id ?? null
}

/**
 * Reuses the account's Stripe customer, or creates one (marked as Masthead's) and links it.
 * Stripe gets the address in clear: it mails the receipts.
 */
export async function ensureCustomer(
  db: Database,
  stripe: Stripe,
  keyring: Keyring,
  now: Date,
  user: SessionUser,
): Promise<string> {
  const existing = await customerIdOf(db, user.id)
  if (existing) return existing
  const customer = await stripe.customers.create({
    email: await openAddress(keyring, user.stored),
    metadata: { ...MASTHEAD_METADATA, user_id: user.id },
  })
  await db
    .insert(stripeCustomers)
    .values({ customerId: customer.id, userId: user.id, createdAt: now })
    .onConflictDoNothing()
  return customer.id
}

// Stripe gives up on an incomplete subscription after 23 hours; one older than that must never block.
const INCOMPLETE_BLOCKS_FOR_MS = 23 * 3600 * 1000

/**
 * Whether the customer already pays, asked of Stripe itself (not our copy,
 * which may lag): a second subscription must not be sold (Ghost PR #28508),
 * yet an abandoned incomplete one must not block forever (Ghost #12498).
 */
export async function hasLiveSubscription(stripe: Stripe, customerId: string, now: Date): Promise<boolean> {
  for await (const sub of stripe.subscriptions.list({ customer: customerId, status: 'all', limit: 100 })) {
    if (!(LIVE_STATUSES as readonly string[]).includes(sub.status)) continue
    if (sub.status === 'incomplete' && now.getTime() - sub.created * 1000 > INCOMPLETE_BLOCKS_FOR_MS) continue
    return true
  }
  return false
}

/**
 * Whether the account has ever had a subscription that started (a trial counts), by Masthead's
 * copy: a free trial is for a reader's first membership only.
 */
export async function hadMembership(db: Database, userId: string): Promise<boolean> {
  const [row] = await db
    .select({ id: subscriptions.id })
    .from(subscriptions)
    .innerJoin(stripeCustomers, eq(stripeCustomers.customerId, subscriptions.customerId))
    .where(and(eq(stripeCustomers.userId, userId), notInArray(subscriptions.status, [...NEVER_STARTED_STATUSES])))
    .limit(1)
  return row !== undefined
}
