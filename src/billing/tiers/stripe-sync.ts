import { eq } from 'drizzle-orm'
import type { Database } from '../../db/client'
import { stripeObjects, type Interval } from '../../db/schema'
import type { Services } from '../../services'
import { isMastheads, MASTHEAD_METADATA, type Stripe } from '../stripe'
import { listTierPrices, setTierPriceStripeIds, type TierPrice } from './prices'
import { listTiers, setTierStripeIds, type Tier } from './tiers'

/**
 * Makes Stripe sell what the tiers table says. Masthead's database is the
 * source of truth; Stripe gets one product per tier and one price per tier,
 * interval and currency (the tier's own, and each of its tier_prices). Every step first looks for what is already there (products by
 * metadata, prices by lookup key), so running it again makes nothing new, and a
 * run cut short is finished by the next one.
 */

/** What one sync did to Stripe objects: a replaced price counts as created. */
export interface SyncCounts {
  created: number
  updated: number
  unchanged: number
}

export const PLEDGE_PRODUCT_KEY = 'product:pledge'
export const PLEDGE_PRODUCT_NAME = 'Monthly pledge'

/**
 * The lookup key of a tier's price: it stays with whichever price is current. The tier's own
 * currency has no suffix (as before prices in other currencies existed); the others have theirs.
 */
export const priceLookupKey = (tierId: string, interval: Interval, currency?: string) =>
  currency ? `masthead_${tierId}_${interval}_${currency}` : `masthead_${tierId}_${interval}`

/** Stripe's prices by lookup key, for the given keys (Stripe takes at most 10 keys a request). */
async function pricesByKey(stripe: Stripe, keys: string[]): Promise<Map<string, Stripe.Price>> {
  const found = new Map<string, Stripe.Price>()
  for (let i = 0; i < keys.length; i += 10) {
    for await (const price of stripe.prices.list({ lookup_keys: keys.slice(i, i + 10), limit: 10 })) {
      if (price.lookup_key) found.set(price.lookup_key, price)
    }
  }
  return found
}

/** Masthead's products in the Stripe account, by what they sell (newest first). */
interface ProductIndex {
  tiers: Map<string, Stripe.Product[]>
  pledge: Stripe.Product[]
}

async function indexProducts(stripe: Stripe): Promise<ProductIndex> {
  const index: ProductIndex = { tiers: new Map(), pledge: [] }
  // Products cannot be listed by metadata, so read them all; an account has few.
  for await (const product of stripe.products.list({ limit: 100 })) {
    if (!isMastheads(product.metadata)) continue
    const tierId = product.metadata.tier_id
    if (tierId) index.tiers.set(tierId, [...(index.tiers.get(tierId) ?? []), product])
    else if (product.metadata.kind === 'pledge') index.pledge.push(product)
  }
  return index
}

const zero = (): SyncCounts => ({ created: 0, updated: 0, unchanged: 0 })

function add(into: SyncCounts, more: SyncCounts): SyncCounts {
  into.created += more.created
  into.updated += more.updated
  into.unchanged += more.unchanged
  return into
}

/** Creates a tier's product and prices in Stripe, or brings them up to date, and stores their ids on the tier. */
export async function syncTierToStripe(stripe: Stripe, db: Database, now: Date, tier: Tier): Promise<SyncCounts> {
  return syncTier(stripe, db, now, tier, await indexProducts(stripe))
}

async function syncTier(
  stripe: Stripe,
  db: Database,
  now: Date,
  tier: Tier,
  products: ProductIndex,
): Promise<SyncCounts> {
  const counts = zero()
  const candidates = products.tiers.get(tier.id) ?? []
  // Two syncs racing could each have made a product; stay with the one already in use.
  const existing = candidates.find((p) => p.id === tier.stripeProductId) ?? candidates[0]
  const product = await syncProduct(stripe, tier, existing, counts)

  const extra = await listTierPrices(db, [tier.id])
  const sold: PriceSpec[] = [tier, ...extra].flatMap((price) =>
    (['month', 'year'] as const).map((interval) => ({
      tierId: tier.id,
      currency: price.currency,
      interval,
      amount: interval === 'month' ? price.monthlyAmount : price.yearlyAmount,
      key: priceLookupKey(tier.id, interval, price === tier ? undefined : price.currency),
    })),
  )
  const found = await pricesByKey(
    stripe,
    sold.map((spec) => spec.key),
  )
  const ids = new Map<string, string>()
  for (const spec of sold) ids.set(spec.key, await syncPrice(stripe, product.id, spec, found.get(spec.key), counts))
  const monthlyPriceId = ids.get(priceLookupKey(tier.id, 'month'))!
  const yearlyPriceId = ids.get(priceLookupKey(tier.id, 'year'))!
  for (const price of extra) await storeExtraIds(db, now, price, ids)
  await retireUnsold(stripe, product.id, new Set(ids.values()), counts)

  if (
    tier.stripeProductId !== product.id ||
    tier.stripeMonthlyPriceId !== monthlyPriceId ||
    tier.stripeYearlyPriceId !== yearlyPriceId
  ) {
    await setTierStripeIds(db, now, tier.id, {
      stripeProductId: product.id,
      stripeMonthlyPriceId: monthlyPriceId,
      stripeYearlyPriceId: yearlyPriceId,
    })
  }
  return counts
}

async function syncProduct(
  stripe: Stripe,
  tier: Tier,
  existing: Stripe.Product | undefined,
  counts: SyncCounts,
): Promise<Stripe.Product> {
  if (!existing) {
    counts.created += 1
    return stripe.products.create({
      name: tier.name,
      // Stripe refuses an empty description on create (on update, empty means "unset").
      ...(tier.description ? { description: tier.description } : {}),
      active: tier.active,
      metadata: { ...MASTHEAD_METADATA, tier_id: tier.id },
    })
  }
  if (
    existing.name === tier.name &&
    (existing.description ?? '') === tier.description &&
    existing.active === tier.active
  ) {
    counts.unchanged += 1
    return existing
  }
  counts.updated += 1
  return stripe.products.update(existing.id, { name: tier.name, description: tier.description, active: tier.active })
}

const productIdOf = (price: Stripe.Price) => (typeof price.product === 'string' ? price.product : price.product.id)

/** One price Stripe should sell: a tier, an interval, a currency and its amount, under its lookup key. */
interface PriceSpec {
  tierId: string
  currency: string
  interval: Interval
  amount: number
  key: string
}

async function storeExtraIds(db: Database, now: Date, price: TierPrice, ids: Map<string, string>) {
  const monthly = ids.get(priceLookupKey(price.tierId, 'month', price.currency))!
  const yearly = ids.get(priceLookupKey(price.tierId, 'year', price.currency))!
  if (price.stripeMonthlyPriceId === monthly && price.stripeYearlyPriceId === yearly) return
  await setTierPriceStripeIds(db, now, price, { stripeMonthlyPriceId: monthly, stripeYearlyPriceId: yearly })
}

/**
 * Deactivates Masthead's prices on the tier's product that it no longer sells: those of a
 * currency whose prices were removed (a replaced price is deactivated by syncPrice already).
 * Subscriptions on them go on; nobody new can buy them.
 */
async function retireUnsold(stripe: Stripe, productId: string, selling: Set<string>, counts: SyncCounts) {
  for await (const price of stripe.prices.list({ product: productId, active: true, limit: 100 })) {
    if (selling.has(price.id) || !isMastheads(price.metadata)) continue
    await stripe.prices.update(price.id, { active: false })
    counts.updated += 1
  }
}

/**
 * Prices cannot change amount or currency in Stripe, so a changed price is a
 * new price that takes over the lookup key; the old one is deactivated, which
 * stops new sales but leaves existing subscriptions on it untouched.
 */
async function syncPrice(
  stripe: Stripe,
  productId: string,
  spec: PriceSpec,
  existing: Stripe.Price | undefined,
  counts: SyncCounts,
): Promise<string> {
  const { amount, currency, interval } = spec
  const current =
    existing !== undefined &&
    isMastheads(existing.metadata) &&
    existing.unit_amount === amount &&
    existing.currency === currency &&
    existing.recurring?.interval === interval &&
    productIdOf(existing) === productId
  if (existing && current) {
    if (existing.active) {
      counts.unchanged += 1
    } else {
      // Someone archived it in the dashboard, but the tier still sells it.
      await stripe.prices.update(existing.id, { active: true })
      counts.updated += 1
    }
    return existing.id
  }
  const price = await stripe.prices.create({
    product: productId,
    currency,
    unit_amount: amount,
    recurring: { interval },
    lookup_key: spec.key,
    transfer_lookup_key: true,
    metadata: { ...MASTHEAD_METADATA, tier_id: spec.tierId, interval },
  })
  counts.created += 1
  // Created first, deactivated second: if the run stops in between, the tier is still sold.
  if (existing?.active && isMastheads(existing.metadata)) await stripe.prices.update(existing.id, { active: false })
  return price.id
}

/** The product that pay-what-you-want monthly pledges are priced against (with inline price data). */
async function syncPledgeProduct(stripe: Stripe, db: Database, products: ProductIndex): Promise<SyncCounts> {
  const counts = zero()
  const stored = await pledgeProductId(db)
  let product = products.pledge.find((p) => p.id === stored) ?? products.pledge[0]
  if (!product) {
    product = await stripe.products.create({
      name: PLEDGE_PRODUCT_NAME,
      metadata: { ...MASTHEAD_METADATA, kind: 'pledge' },
    })
    counts.created += 1
  } else if (product.name !== PLEDGE_PRODUCT_NAME || !product.active) {
    product = await stripe.products.update(product.id, { name: PLEDGE_PRODUCT_NAME, active: true })
    counts.updated += 1
  } else {
    counts.unchanged += 1
  }
  if (stored !== product.id) {
    await db
      .insert(stripeObjects)
      .values({ key: PLEDGE_PRODUCT_KEY, stripeId: product.id })
      .onConflictDoUpdate({ target: stripeObjects.key, set: { stripeId: product.id } })
  }
  return counts
}

/** The Stripe id of the pledge product, or null before the first sync. */
export async function pledgeProductId(db: Database): Promise<string | null> {
  const [row] = await db
    .select({ stripeId: stripeObjects.stripeId })
    .from(stripeObjects)
    .where(eq(stripeObjects.key, PLEDGE_PRODUCT_KEY))
  return row?.stripeId ?? null
}

/** Syncs every tier (inactive ones too, so that Stripe stops selling them) and the pledge product. */
export async function syncAllToStripe(
  services: Pick<Services, 'db' | 'clock' | 'stripe'>,
): Promise<SyncCounts & { tiers: number }> {
  const { db, clock, stripe } = services
  if (!stripe) throw new Error('Stripe is not configured: set STRIPE_SECRET_KEY.')
  const products = await indexProducts(stripe)
  const counts = zero()
  const all = await listTiers(db)
  for (const tier of all) add(counts, await syncTier(stripe, db, clock.now(), tier, products))
  add(counts, await syncPledgeProduct(stripe, db, products))
  return { ...counts, tiers: all.length }
}
