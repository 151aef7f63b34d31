import { eq, sql } from 'drizzle-orm'
import type Stripe from 'stripe'
import { signInUser } from '../../auth/users'
import type { Database } from '../../db/client'
import { stripeCustomers, subscriptions, tiers, users } from '../../db/schema'
import { isMastheads } from '../stripe'
import { idOf, type EventContext } from './context'

/** A subscription re-fetched from Stripe, with its customer (for linking a new account). */
export interface FetchedSubscription {
  subscription: Stripe.Subscription
  customer: Stripe.Customer | Stripe.DeletedCustomer | null
  /** When it was asked for: Stripe's answer is at least this recent. */
  fetchedAt: Date
}

/**
 * Re-fetches a subscription, with its customer in the same call, and decides
 * whether it is Masthead's. Subscriptions to other products on a shared
 * Stripe account are ignored (Ghost PR #20243).
 */
export async function fetchSubscription(
  ctx: EventContext,
  db: Database,
  subscriptionId: string,
): Promise<FetchedSubscription | null> {
  const fetchedAt = ctx.clock.now()
  const subscription = await ctx.stripe.subscriptions.retrieve(subscriptionId, { expand: ['customer'] })
  if (!(await isOurs(db, subscription))) return null
  const customer = typeof subscription.customer === 'string' ? null : subscription.customer
  return { subscription, customer, fetchedAt }
}

/** Masthead marks what it sells; the price lookup only catches prices made before the marking. */
async function isOurs(db: Database, subscription: Stripe.Subscription): Promise<boolean> {
  if (isMastheads(subscription.metadata)) return true
  const price = subscription.items.data[0]?.price
  if (!price) return false
  if (isMastheads(price.metadata)) return true
  const [tier] = await db.select({ id: tiers.id }).from(tiers).where(tierOwnsPrice(price.id))
  return tier !== undefined
}

const tierOwnsPrice = (priceId: string) =>
  sql`${tiers.stripeMonthlyPriceId} = ${priceId} or ${tiers.stripeYearlyPriceId} = ${priceId}`

/**
 * Links a Stripe customer to an account: the one Masthead named when it
 * started the checkout, else the account for the customer's e-mail, created
 * if new (a signed-out reader who paid). The first link wins.
 */
export async function linkCustomer(
  tx: Database,
  ctx: EventContext,
  customerId: string,
  hints: { userId?: string | null | undefined; customer?: Stripe.Customer | Stripe.DeletedCustomer | null },
): Promise<void> {
  if (hints.userId) {
    // One statement: links only if that account still exists, and never re-links.
    await tx.execute(sql`
      insert into ${stripeCustomers} (customer_id, user_id, created_at)
      select ${customerId}::text, ${users.id}, ${ctx.now.toISOString()}::timestamptz from ${users} where ${users.id} = ${hints.userId}
      on conflict do nothing`)
    return
  }
  const customer = hints.customer
  if (!customer || customer.deleted || !customer.email) return
  const [linked] = await tx.select().from(stripeCustomers).where(eq(stripeCustomers.customerId, customerId))
  if (linked) return
  const user = await signInUser(tx, ctx.config, ctx.now, customer.email.trim().toLowerCase())
  await tx.insert(stripeCustomers).values({ customerId, userId: user.id, createdAt: ctx.now }).onConflictDoNothing()
}

/**
 * Overwrites Masthead's copy with the subscription as Stripe had it when it
 * was fetched, in one statement, unless a later read is already stored
 * (concurrent deliveries for one subscription may commit in either order).
 */
export async function storeSubscription(tx: Database, ctx: EventContext, fetched: FetchedSubscription) {
  const { subscription, fetchedAt } = fetched
  const item = subscription.items.data[0]
  if (!item) return
  const price = item.price
  const metadataTier = price.metadata?.tier_id ?? subscription.metadata?.tier_id ?? null
  // The tier whose price this is, else the tier named in the metadata (a price since replaced).
  const tierId = sql`(select ${tiers.id} from ${tiers}
    where ${tierOwnsPrice(price.id)} or ${tiers.id} = ${metadataTier}::text
    order by (${tiers.id} = ${metadataTier}::text) limit 1)`
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
    fetchedAt,
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
      setWhere: sql`${subscriptions.fetchedAt} <= excluded.fetched_at`,
    })
}

/** What every event about a subscription does: link its customer, then store it. */
export async function applySubscription(tx: Database, ctx: EventContext, fetched: FetchedSubscription) {
  const { subscription, customer } = fetched
  await linkCustomer(tx, ctx, idOf(subscription.customer)!, { userId: subscription.metadata?.user_id, customer })
  await storeSubscription(tx, ctx, fetched)
}
