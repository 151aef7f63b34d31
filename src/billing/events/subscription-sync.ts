import { sql } from 'drizzle-orm'
import type Stripe from 'stripe'
import type { Database } from '../../db/client'
import { stripeCustomers, subscriptions, tiers, users } from '../../db/schema'
import { randomId } from '../../util/random'
import { isMastheads } from '../stripe'
import { bool, idOf, int, text, ts, whenStored, type EventContext, type Write } from './context'

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
 * if new (a signed-out reader who paid). The first link wins, and a customer
 * that is already linked creates no account.
 */
export function linkCustomer(
  ctx: EventContext,
  customerId: string,
  hints: { userId?: string | null | undefined; customer?: Stripe.Customer | Stripe.DeletedCustomer | null },
): Write[] {
  const now = ts(ctx.now)
  if (hints.userId) {
    // Only if that account still exists.
    return [
      {
        name: 'link',
        query: sql`insert into ${stripeCustomers} (customer_id, user_id, created_at)
          select ${text(customerId)}, ${users.id}, ${now} from ${users}
          where ${users.id} = ${text(hints.userId)} and ${whenStored}
          on conflict do nothing`,
      },
    ]
  }
  const customer = hints.customer
  if (!customer || customer.deleted || !customer.email) return []
  const email = customer.email.trim().toLowerCase()
  const role = ctx.config.ADMIN_EMAILS.includes(email) ? 'admin' : 'reader'
  const unlinked = sql`not exists (select 1 from ${stripeCustomers} where customer_id = ${text(customerId)})`
  return [
    { name: 'known_account', query: sql`select id from ${users} where email = ${text(email)}` },
    {
      name: 'new_account',
      query: sql`insert into ${users} (id, email, role, created_at, updated_at)
        select ${text(randomId())}, ${text(email)}, ${text(role)}, ${now}, ${now}
        where ${whenStored} and ${unlinked} and not exists (select 1 from known_account)
        on conflict (email) do nothing returning id`,
    },
    {
      name: 'link',
      query: sql`insert into ${stripeCustomers} (customer_id, user_id, created_at)
        select ${text(customerId)}, id, ${now} from (select id from known_account union all select id from new_account) account
        where ${whenStored} and ${unlinked}
        on conflict do nothing`,
    },
  ]
}

/**
 * Overwrites Masthead's copy with the subscription as Stripe had it when it
 * was fetched, unless a later read is already stored (concurrent deliveries
 * for one subscription may commit in either order).
 */
export function storeSubscription(ctx: EventContext, fetched: FetchedSubscription): Write[] {
  const { subscription, fetchedAt } = fetched
  const item = subscription.items.data[0]
  if (!item) return []
  const price = item.price
  const metadataTier = price.metadata?.tier_id ?? subscription.metadata?.tier_id ?? null
  // The tier whose price this is, else the tier named in the metadata (a price since replaced).
  const tierId = sql`(select ${tiers.id} from ${tiers}
    where ${tierOwnsPrice(price.id)} or ${tiers.id} = ${text(metadataTier)}
    order by (${tiers.id} = ${text(metadataTier)}) limit 1)`
  const endedAt = subscription.ended_at ? new Date(subscription.ended_at * 1000) : null
  return [
    {
      name: 'subscription',
      query: sql`insert into ${subscriptions} (id, customer_id, tier_id, price_id, interval, amount, currency, status,
          cancel_at_period_end, current_period_end, ended_at, stripe_created_at, past_due_since, fetched_at, updated_at)
        select ${text(subscription.id)}, ${text(idOf(subscription.customer))}, ${tierId}, ${text(price.id)},
          ${text(price.recurring?.interval === 'year' ? 'year' : 'month')}, ${int((price.unit_amount ?? 0) * (item.quantity ?? 1))},
          ${text(price.currency)}, ${text(subscription.status)}, ${bool(subscription.cancel_at_period_end)},
          ${ts(new Date(item.current_period_end * 1000))}, ${ts(endedAt)}, ${ts(new Date(subscription.created * 1000))},
          ${ts(subscription.status === 'past_due' ? ctx.now : null)}, ${ts(fetchedAt)}, ${ts(ctx.now)}
        where ${whenStored}
        on conflict (id) do update set
          customer_id = excluded.customer_id, tier_id = excluded.tier_id, price_id = excluded.price_id,
          interval = excluded.interval, amount = excluded.amount, currency = excluded.currency, status = excluded.status,
          cancel_at_period_end = excluded.cancel_at_period_end, current_period_end = excluded.current_period_end,
          ended_at = excluded.ended_at, stripe_created_at = excluded.stripe_created_at,
          -- The grace period runs from the first time it was seen past due.
          past_due_since = case when excluded.status = 'past_due'
            then coalesce(${subscriptions}.past_due_since, excluded.past_due_since) end,
          fetched_at = excluded.fetched_at, updated_at = excluded.updated_at
        where ${subscriptions}.fetched_at <= excluded.fetched_at`,
    },
  ]
}

/** What every event about a subscription does: link its customer, then store it. */
export function applySubscription(ctx: EventContext, fetched: FetchedSubscription): Write[] {
  const { subscription, customer } = fetched
  return [
    ...linkCustomer(ctx, idOf(subscription.customer)!, { userId: subscription.metadata?.user_id, customer }),
    ...storeSubscription(ctx, fetched),
  ]
}
