import { sql, type SQL } from 'drizzle-orm'
import type Stripe from 'stripe'
import { stripeCustomers, subscriptions, tiers } from '../../../db/schema'
import { inList, PAYING_STATUSES } from '../../../db/statuses'
import { feeCoverOf, fixedWrite, idOf, iso, slot, whenStored, type EventContext, type Write } from './context'
import { isOurs, tierOwnsPrice } from './our-objects'

/**
 * A subscription as one source saw it, and how recent that is. An event's
 * own snapshot is as of the event's `created` second; a re-fetch is as of
 * the moment Stripe was asked, which is after the event that prompted it.
 */
export interface SubscriptionState {
  subscription: Stripe.Subscription
  /** The Stripe second of the event this state came with, or that prompted the re-fetch. */
  second: Date
  /** Set for a re-fetch: when it was asked for (Stripe's answer is at least this recent). */
  fetchedAt: Date | null
}

/**
 * The subscription as the event carries it, if it is Masthead's. Stripe's
 * snapshot is exact as of the event; storeSubscription keeps whichever state
 * is from the later second and asks Stripe when two share a second.
 * Subscriptions to other products on a shared Stripe account are ignored
 * (Ghost PR #20243).
 */
export async function snapshotOf(ctx: EventContext, event: Stripe.Event): Promise<SubscriptionState | null> {
  const subscription = event.data.object as Stripe.Subscription
  if (!(await isOurs(ctx.db, subscription))) return null
  return { subscription, second: new Date(event.created * 1000), fetchedAt: null }
}

/** The subscription as Stripe has it now, for an event whose snapshot could not be ordered. */
export async function refetchSubscription(
  ctx: EventContext,
  event: Stripe.Event,
  subscriptionId: string,
): Promise<SubscriptionState | null> {
  const fetchedAt = ctx.clock.now()
  const subscription = await ctx.stripe.subscriptions.retrieve(subscriptionId)
  if (!(await isOurs(ctx.db, subscription))) return null
  return { subscription, second: new Date(event.created * 1000), fetchedAt }
}

/**
 * Overwrites Masthead's copy with `state` if it is the more recent: a
 * snapshot from a later second than the stored one, or a re-fetch for the
 * same or a later second that was asked for after the stored one. A
 * snapshot from the same second as the stored state cannot be ordered
 * (Stripe's `created` counts whole seconds), so the upsert raises
 * masthead_snapshot_tie, the whole statement fails, and processEvent asks
 * Stripe instead. Concurrent deliveries meet in the conflict clause, which
 * sees the latest committed row. Whatever order Stripe delivers in, the
 * events of the last second decide, and the last of them is settled by a
 * read from Stripe: the stored state converges to Stripe's.
 */
export function storeSubscription(ctx: EventContext, state: SubscriptionState): Write[] {
  const { subscription, second, fetchedAt } = state
  const item = subscription.items.data[0]
  if (!item) return []
  const price = item.price
  const amount = (price.unit_amount ?? 0) * (item.quantity ?? 1)
  const endedAt = subscription.ended_at ? new Date(subscription.ended_at * 1000) : null
  return [
    {
      name: 'subscription',
      fixed: fetchedAt ? UPSERT_FETCHED : UPSERT_SNAPSHOT,
      values: {
        'subscription.id': subscription.id,
        'subscription.customer': idOf(subscription.customer),
        'subscription.metadata_tier': price.metadata?.tier_id ?? subscription.metadata?.tier_id ?? null,
        'subscription.price': price.id,
        'subscription.interval': price.recurring?.interval === 'year' ? 'year' : 'month',
        'subscription.amount': amount,
        'subscription.fee_cover': feeCoverOf(subscription.metadata, amount),
        'subscription.currency': price.currency,
        'subscription.status': subscription.status,
        'subscription.cancel_at_period_end': subscription.cancel_at_period_end,
        'subscription.current_period_end': iso(new Date(item.current_period_end * 1000)),
        'subscription.ended_at': iso(endedAt),
        'subscription.created': iso(new Date(subscription.created * 1000)),
        'subscription.past_due_since': iso(subscription.status === 'past_due' ? ctx.now : null),
        'subscription.snapshot_at': iso(second),
        'subscription.fetched_at': iso(fetchedAt),
        'subscription.now': iso(ctx.now),
      },
    },
  ]
}

/**
 * The upsert, kept only if the state is the more recent (see storeSubscription); `sameSecond` decides
 * between two states of one second.
 */
const upsert = (sameSecond: SQL) => {
  const metadataTier = slot.text('subscription.metadata_tier')
  // The tier whose price this is, else the tier named in the metadata (a price since replaced).
  const tierId = sql`(select ${tiers.id} from ${tiers}
    where ${tierOwnsPrice(slot.text('subscription.price'))} or ${tiers.id} = ${metadataTier}
    order by (${tiers.id} = ${metadataTier}) limit 1)`
  return sql`insert into ${subscriptions} (id, customer_id, tier_id, price_id, interval, amount, fee_cover_amount, currency, status,
      cancel_at_period_end, current_period_end, ended_at, stripe_created_at, past_due_since, snapshot_at, fetched_at,
      updated_at)
    select ${slot.text('subscription.id')}, ${slot.text('subscription.customer')}, ${tierId},
      ${slot.text('subscription.price')}, ${slot.text('subscription.interval')}, ${slot.int('subscription.amount')},
      ${slot.int('subscription.fee_cover')}, ${slot.text('subscription.currency')}, ${slot.text('subscription.status')},
      ${slot.bool('subscription.cancel_at_period_end')}, ${slot.ts('subscription.current_period_end')},
      ${slot.ts('subscription.ended_at')}, ${slot.ts('subscription.created')}, ${slot.ts('subscription.past_due_since')},
      ${slot.ts('subscription.snapshot_at')}, ${slot.ts('subscription.fetched_at')}, ${slot.ts('subscription.now')}
    where ${whenStored}
    on conflict (id) do update set
      customer_id = excluded.customer_id, tier_id = excluded.tier_id, price_id = excluded.price_id,
      interval = excluded.interval, amount = excluded.amount, fee_cover_amount = excluded.fee_cover_amount,
      currency = excluded.currency, status = excluded.status,
      cancel_at_period_end = excluded.cancel_at_period_end, current_period_end = excluded.current_period_end,
      ended_at = excluded.ended_at, stripe_created_at = excluded.stripe_created_at,
      -- The grace period runs from the first time it was seen past due.
      past_due_since = case when excluded.status = 'past_due'
        then coalesce(${subscriptions}.past_due_since, excluded.past_due_since) end,
      snapshot_at = excluded.snapshot_at, fetched_at = excluded.fetched_at, updated_at = excluded.updated_at
    where case
      when ${subscriptions}.snapshot_at < excluded.snapshot_at then true
      when ${subscriptions}.snapshot_at = excluded.snapshot_at then ${sameSecond}
      else false end
    returning ${changedMembership} as changed`
}

/**
 * Whether the account's memberships may have changed, which the subscription's `finish` (the check for a
 * duplicate membership) depends on: the subscription is new, or its status or cancel flag is not what the
 * statement's snapshot had, or the account has another paying subscription (then every event checks, as
 * before). In RETURNING, `subscriptions` is the row as written, and the subqueries read the snapshot.
 */
const changedMembership = sql`(not exists (select 1 from ${subscriptions} was
      where was.id = ${subscriptions}.id and was.status = ${subscriptions}.status
        and was.cancel_at_period_end = ${subscriptions}.cancel_at_period_end)
    or exists (select 1 from ${stripeCustomers} mine
      join ${stripeCustomers} theirs on theirs.user_id = mine.user_id
      join ${subscriptions} other on other.customer_id = theirs.customer_id
      where mine.customer_id = ${subscriptions}.customer_id and other.id <> ${subscriptions}.id
        and other.status in ${inList(PAYING_STATUSES)}))`
/** An event's own snapshot: one from the stored state's second cannot be ordered, and raises. */
const UPSERT_SNAPSHOT = fixedWrite('subscription.snapshot', upsert(sql`masthead_snapshot_tie(excluded.id)`), {
  tellsChange: true,
})
/** A read from Stripe: of two for one second, the later wins. */
const UPSERT_FETCHED = fixedWrite(
  'subscription.fetched',
  upsert(sql`coalesce(${subscriptions}.fetched_at, '-infinity') <= excluded.fetched_at`),
  { tellsChange: true },
)
