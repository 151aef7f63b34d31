import { asc, inArray, sql } from 'drizzle-orm'
import type Stripe from 'stripe'
import { rowsOf, type Database } from '../db/client'
import { subscriptions, tiers } from '../db/schema'
import { PAYING_STATUSES } from '../db/statuses'
import { AppError } from '../http/errors'
import { isMastheads, MASTHEAD_METADATA } from './stripe'

/**
 * Adopting a subscription Stripe already bills, made by something other than Masthead (Ghost,
 * Stripe's dashboard): no new checkout, the member keeps paying as before. Shared by the Ghost
 * import (src/imports/ghost-import.ts) and `npm run import:stripe` (src/cli/import-stripe.ts).
 *
 * Adopting is two idempotent steps: Masthead's copy of the subscription is stored as the webhooks
 * store its own (insert if absent), and the subscription is marked in Stripe (metadata `masthead=1`,
 * `tier_id`, `user_id`), which is what the webhooks go by (`isOurs`, ARCHITECTURE.md "Billing"): from
 * then on every event about it updates the copy, its tier found by the metadata's `tier_id`. Run
 * again, both steps find their work done and change nothing.
 */

/** A price id (`price_…`), a product id (`prod_…`) or a product name → a Masthead tier id. */
export type PriceMapping = Record<string, string>

/** An empty mapping that any name, `__proto__` too, can be a key of. */
export const emptyPriceMapping = (): PriceMapping => Object.create(null) as PriceMapping

/** Stripe lists at most this many a page: one subrequest each (a Worker may make 50 on the free plan). */
export const STRIPE_PAGE = 100

export interface TierCatalogEntry {
  id: string
  name: string
  currency: string
  monthlyAmount: number
  yearlyAmount: number
  stripeMonthlyPriceId: string | null
  stripeYearlyPriceId: string | null
}

export const tierCatalog = (db: Database): Promise<TierCatalogEntry[]> =>
  db
    .select({
      id: tiers.id,
      name: tiers.name,
      currency: tiers.currency,
      monthlyAmount: tiers.monthlyAmount,
      yearlyAmount: tiers.yearlyAmount,
      stripeMonthlyPriceId: tiers.stripeMonthlyPriceId,
      stripeYearlyPriceId: tiers.stripeYearlyPriceId,
    })
    .from(tiers)
    .orderBy(asc(tiers.position))

/** The tier that sells this price itself (a Masthead price), if any. */
export const ownTierOf = (catalog: readonly TierCatalogEntry[], priceId: string) =>
  catalog.find((t) => t.stripeMonthlyPriceId === priceId || t.stripeYearlyPriceId === priceId)?.id ?? null

const own = (mapping: PriceMapping, key: string | null | undefined) =>
  key != null && Object.hasOwn(mapping, key) && typeof mapping[key] === 'string' ? mapping[key] : null

/** What a subscription sells: its first item's price, that price's product, and the product's name when known. */
export interface SoldPrice {
  priceId: string
  productId: string
  productName: string | null
  currency: string
  /** Minor units a month (a yearly price over twelve, rounded). */
  monthly: number
  interval: 'month' | 'year'
  /** Minor units per period, quantity included. */
  amount: number
}

export function soldPrice(
  subscription: Stripe.Subscription,
  productNames: ReadonlyMap<string, string>,
): SoldPrice | null {
  const item = subscription.items.data[0]
  if (!item) return null
  const price = item.price
  const productId = typeof price.product === 'string' ? price.product : price.product.id
  const interval = price.recurring?.interval === 'year' ? 'year' : 'month'
  const amount = (price.unit_amount ?? 0) * (item.quantity ?? 1)
  return {
    priceId: price.id,
    productId,
    productName: productNames.get(productId) ?? null,
    currency: price.currency,
    interval,
    amount,
    monthly: interval === 'year' ? Math.round(amount / 12) : amount,
  }
}

/**
 * The Masthead tier a subscription's price becomes: the tier that sells it, else the mapping by
 * price id, then product id, then product name (whatever its case). Null: not mapped.
 */
export function tierFor(price: SoldPrice, catalog: readonly TierCatalogEntry[], mapping: PriceMapping): string | null {
  const tier =
    ownTierOf(catalog, price.priceId) ??
    own(mapping, price.priceId) ??
    own(mapping, price.productId) ??
    own(mapping, price.productName)
  if (tier !== null) return tier
  const name = price.productName?.toLowerCase()
  if (name === undefined) return null
  const key = Object.keys(mapping).find((k) => k.toLowerCase() === name)
  return key === undefined ? null : own(mapping, key)
}

/** Every value of a mapping must be a tier here: a typo is refused before anything is read or written. */
export function checkMapping(mapping: PriceMapping, catalog: readonly TierCatalogEntry[], what = 'price') {
  const known = new Set(catalog.map((t) => t.id))
  for (const [key, tierId] of Object.entries(mapping)) {
    if (!known.has(tierId)) {
      throw new AppError(
        'validation_failed',
        `The ${what} "${key}" is mapped to "${tierId}", which is not a tier here.`,
      )
    }
  }
}

/**
 * The suggested tier for each price: the tier whose name is the price's product name (whatever its
 * case), else the one whose monthly price is nearest the price's monthly amount, in its currency.
 * A price with neither is left out.
 */
export function suggestPriceMapping(prices: readonly SoldPrice[], catalog: readonly TierCatalogEntry[]): PriceMapping {
  const mapping = emptyPriceMapping()
  for (const price of prices) {
    if (ownTierOf(catalog, price.priceId)) continue
    const named = catalog.find(
      (t) => price.productName !== null && t.name.toLowerCase() === price.productName.toLowerCase(),
    )
    if (named) {
      mapping[price.priceId] = named.id
      continue
    }
    let nearest: TierCatalogEntry | undefined
    for (const tier of catalog) {
      if (tier.currency !== price.currency) continue
      if (!nearest || Math.abs(tier.monthlyAmount - price.monthly) < Math.abs(nearest.monthlyAmount - price.monthly))
        nearest = tier
    }
    if (nearest) mapping[price.priceId] = nearest.id
  }
  return mapping
}

/** Whether Stripe still bills it: active, trialing or past due. Nothing else is adopted. */
export const isPaying = (subscription: Stripe.Subscription) =>
  (PAYING_STATUSES as readonly string[]).includes(subscription.status)

export const customerOf = (subscription: Stripe.Subscription) =>
  typeof subscription.customer === 'string' ? subscription.customer : subscription.customer.id

/**
 * One page of the account's subscriptions that are not canceled (Stripe's default list), 100 at a
 * time from `startingAfter`: one subrequest. `customer` expanded when asked (the Stripe adoption
 * needs each customer's address to find or make the account).
 */
export async function subscriptionsPage(
  stripe: Stripe,
  startingAfter: string | null,
  options: { expandCustomer?: boolean } = {},
): Promise<{ data: Stripe.Subscription[]; hasMore: boolean }> {
  const page = await stripe.subscriptions.list({
    limit: STRIPE_PAGE,
    ...(startingAfter ? { starting_after: startingAfter } : {}),
    ...(options.expandCustomer ? { expand: ['data.customer'] } : {}),
  })
  return { data: page.data, hasMore: page.has_more }
}

/**
 * Every paying subscription on the account (of these customers, when given), read a page of 100 a
 * request: for the command line, which has no subrequest limit. A job reads a page a step instead.
 */
export async function payingSubscriptions(
  stripe: Stripe,
  options: { customers?: ReadonlySet<string>; expandCustomer?: boolean } = {},
): Promise<Stripe.Subscription[]> {
  const out: Stripe.Subscription[] = []
  for (let after: string | null = null, more = true; more;) {
    const page = await subscriptionsPage(stripe, after, options)
    for (const s of page.data)
      if (isPaying(s) && (!options.customers || options.customers.has(customerOf(s)))) out.push(s)
    more = page.hasMore && page.data.length > 0
    after = page.data.at(-1)?.id ?? null
  }
  return out
}

/** Every product's name, a page of 100 at a time (a publication has a handful): for mapping by name. */
export async function productNames(stripe: Stripe): Promise<Map<string, string>> {
  const names = new Map<string, string>()
  let startingAfter: string | undefined
  for (;;) {
    const page = await stripe.products.list({
      limit: STRIPE_PAGE,
      ...(startingAfter ? { starting_after: startingAfter } : {}),
    })
    for (const product of page.data) names.set(product.id, product.name)
    if (!page.has_more || page.data.length === 0) return names
    startingAfter = page.data[page.data.length - 1]!.id
  }
}

/** A subscription to adopt: for which account, as which tier. */
export interface Adoption {
  subscription: Stripe.Subscription
  userId: string
  tierId: string
}

/** Which of these subscriptions Masthead already keeps a copy of. */
export async function storedSubscriptionIds(db: Database, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set()
  const found = await db
    .select({ id: subscriptions.id })
    .from(subscriptions)
    .where(inArray(subscriptions.id, [...ids]))
  return new Set(found.map((f) => f.id))
}

/** Whether the subscription is marked in Stripe as Masthead's, with this tier and account. */
export const isMarked = (adoption: Adoption) => {
  const metadata = adoption.subscription.metadata
  return isMastheads(metadata) && metadata.tier_id === adoption.tierId && metadata.user_id === adoption.userId
}

/**
 * Stores Masthead's copy of each subscription not yet stored, as the webhooks store their own
 * (src/billing/webhooks/events/subscription-sync.ts). Its snapshot second is the subscription's
 * creation, on Stripe's clock rather than ours (which may be ahead): every event about it since, the
 * one marking it first of all, is later and replaces the copy, so it converges to Stripe's. A copy already there (stored by an earlier run or by a webhook) is
 * left as it is. Returns how many were stored. Run inside the caller's transaction.
 */
export async function storeAdopted(tx: Database, adoptions: readonly Adoption[], now: Date): Promise<number> {
  if (adoptions.length === 0) return 0
  const rows = adoptions.map(({ subscription, tierId }) => {
    const item = subscription.items.data[0]!
    const price = item.price
    return {
      id: subscription.id,
      customer_id: customerOf(subscription),
      tier_id: tierId,
      price_id: price.id,
      interval: price.recurring?.interval === 'year' ? 'year' : 'month',
      amount: (price.unit_amount ?? 0) * (item.quantity ?? 1),
      currency: price.currency,
      status: subscription.status,
      cancel_at_period_end: subscription.cancel_at_period_end,
      current_period_end: new Date(item.current_period_end * 1000).toISOString(),
      ended_at: subscription.ended_at ? new Date(subscription.ended_at * 1000).toISOString() : null,
      stripe_created_at: new Date(subscription.created * 1000).toISOString(),
      past_due_since: subscription.status === 'past_due' ? now.toISOString() : null,
      snapshot_at: new Date(subscription.created * 1000).toISOString(),
    }
  })
  const stored = await rowsOf<{ id: string }>(
    tx,
    sql`insert into ${subscriptions} (id, customer_id, tier_id, price_id, interval, amount, currency, status,
        cancel_at_period_end, current_period_end, ended_at, stripe_created_at, past_due_since, snapshot_at, fetched_at,
        updated_at)
      select r.id, r.customer_id, r.tier_id, r.price_id, r.interval, r.amount, r.currency, r.status,
        r.cancel_at_period_end, r.current_period_end, r.ended_at, r.stripe_created_at, r.past_due_since,
        r.snapshot_at, ${now.toISOString()}::timestamptz, ${now.toISOString()}::timestamptz
      from json_to_recordset(${JSON.stringify(rows)}::json) as r(id text, customer_id text, tier_id text, price_id text,
        interval text, amount integer, currency text, status text, cancel_at_period_end boolean,
        current_period_end timestamptz, ended_at timestamptz, stripe_created_at timestamptz, past_due_since timestamptz,
        snapshot_at timestamptz)
      on conflict (id) do nothing
      returning id`,
  )
  return stored.length
}

/**
 * Marks each subscription in Stripe as Masthead's (one subrequest each, only for those not marked
 * yet), so that the webhooks keep the copy current. After the copy is committed: a mark that fails
 * is made by the next run, which finds the copy stored and the mark missing.
 */
export async function markAdopted(stripe: Stripe, adoptions: readonly Adoption[]): Promise<number> {
  let marked = 0
  for (const adoption of adoptions) {
    if (isMarked(adoption)) continue
    await stripe.subscriptions.update(adoption.subscription.id, {
      metadata: { ...MASTHEAD_METADATA, tier_id: adoption.tierId, user_id: adoption.userId },
    })
    marked += 1
  }
  return marked
}
