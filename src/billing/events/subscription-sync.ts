import { eq, or, sql } from 'drizzle-orm'
import type Stripe from 'stripe'
import { signInUser } from '../../auth/users'
import type { Database } from '../../db/client'
import { stripeCustomers, subscriptions, tiers, users } from '../../db/schema'
import { isMastheads } from '../stripe'
import { idOf, type EventContext } from './context'

/** A subscription re-fetched from Stripe, with its customer when the account link is still to be made. */
export interface FetchedSubscription {
  subscription: Stripe.Subscription
  customer: Stripe.Customer | Stripe.DeletedCustomer | null
}

/**
 * Re-fetches a subscription and decides whether it is Masthead's. Subscriptions
 * to other products on a shared Stripe account are ignored (Ghost PR #20243).
 */
export async function fetchSubscription(
  ctx: EventContext,
  db: Database,
  subscriptionId: string,
): Promise<FetchedSubscription | null> {
  const subscription = await ctx.stripe.subscriptions.retrieve(subscriptionId)
  if (!(await isOurs(db, subscription))) return null
  const customerId = idOf(subscription.customer)!
  const [linked] = await db.select().from(stripeCustomers).where(eq(stripeCustomers.customerId, customerId))
  const customer = linked ? null : await ctx.stripe.customers.retrieve(customerId)
  return { subscription, customer }
}

async function isOurs(db: Database, subscription: Stripe.Subscription): Promise<boolean> {
  if (isMastheads(subscription.metadata)) return true
  const price = subscription.items.data[0]?.price
  if (!price) return false
  if (isMastheads(price.metadata)) return true
  const [tier] = await db
    .select({ id: tiers.id })
    .from(tiers)
    .where(or(eq(tiers.stripeMonthlyPriceId, price.id), eq(tiers.stripeYearlyPriceId, price.id)))
  return tier !== undefined
}

/**
 * Links a Stripe customer to an account: the one Masthead named when it
 * started the checkout, else the account for the customer's e-mail, created
 * if new (a signed-out reader who paid).
 */
export async function linkCustomer(
  tx: Database,
  ctx: EventContext,
  customerId: string,
  hints: { userId?: string | null | undefined; customer?: Stripe.Customer | Stripe.DeletedCustomer | null },
): Promise<string | null> {
  const [linked] = await tx.select().from(stripeCustomers).where(eq(stripeCustomers.customerId, customerId))
  if (linked) return linked.userId
  let userId: string | null = null
  if (hints.userId) {
    const [user] = await tx.select({ id: users.id }).from(users).where(eq(users.id, hints.userId))
    userId = user?.id ?? null
  }
  const customer = hints.customer
  if (!userId && customer && !customer.deleted && customer.email) {
    const email = customer.email.trim().toLowerCase()
    userId = (await signInUser(tx, ctx.config, ctx.now, email)).id
  }
  if (!userId) return null
  await tx.insert(stripeCustomers).values({ customerId, userId, createdAt: ctx.now }).onConflictDoNothing()
  return userId
}

/** Overwrites Masthead's copy with the subscription as Stripe has it now. */
export async function storeSubscription(tx: Database, ctx: EventContext, subscription: Stripe.Subscription) {
  const item = subscription.items.data[0]
  if (!item) return
  const price = item.price
  const [tier] = await tx
    .select({ id: tiers.id })
    .from(tiers)
    .where(or(eq(tiers.stripeMonthlyPriceId, price.id), eq(tiers.stripeYearlyPriceId, price.id)))
  const metadataTier = price.metadata?.tier_id ?? subscription.metadata?.tier_id
  const tierId =
    tier?.id ??
    (metadataTier
      ? ((await tx.select({ id: tiers.id }).from(tiers).where(eq(tiers.id, metadataTier)))[0]?.id ?? null)
      : null)
  const values = {
    id: subscription.id,
    customerId: idOf(subscription.customer)!,
    tierId,
    priceId: price.id,
    interval: price.recurring?.interval === 'year' ? ('year' as const) : ('month' as const),
    amount: (price.unit_amount ?? 0) * (item.quantity ?? 1),
    currency: price.currency,
    status: subscription.status,
    cancelAtPeriodEnd: subscription.cancel_at_period_end,
    currentPeriodEnd: new Date(item.current_period_end * 1000),
    endedAt: subscription.ended_at ? new Date(subscription.ended_at * 1000) : null,
    stripeCreatedAt: new Date(subscription.created * 1000),
    pastDueSince: subscription.status === 'past_due' ? ctx.now : null,
    updatedAt: ctx.now,
  }
  const { id: _id, pastDueSince: _since, ...changes } = values
  await tx
    .insert(subscriptions)
    .values(values)
    .onConflictDoUpdate({
      target: subscriptions.id,
      set: {
        ...changes,
        // The grace period runs from the first time it was seen past due.
        pastDueSince: sql`case when excluded.status = 'past_due' then coalesce(${subscriptions.pastDueSince}, excluded.past_due_since) else null end`,
      },
    })
}
