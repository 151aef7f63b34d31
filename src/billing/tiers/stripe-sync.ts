import { eq } from 'drizzle-orm'
import type { Database } from '../../db/client'
import { stripeObjects, type Interval } from '../../db/schema'
import type { Services } from '../../services'
import { isMastheads, MASTHEAD_METADATA, type Stripe } from '../stripe'
import { listTiers, setTierStripeIds, type Tier } from './tiers'

/**
 * Makes Stripe sell what the tiers table says. Masthead's database is the
 * source of truth; Stripe gets one product per tier and one price per tier
 * and interval. Every step first looks for what is already there (products by
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

/** The lookup key of a tier's price: it stays with whichever price is current. */
export const priceLookupKey = (tierId: string, interval: Interval) => `masthead_${tierId}_${interval}`

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

  const month = priceLookupKey(tier.id, 'month')
  const year = priceLookupKey(tier.id, 'year')
  const found = new Map<string, Stripe.Price>()
  for await (const price of stripe.prices.list({ lookup_keys: [month, year], limit: 10 })) {
    if (price.lookup_key) found.set(price.lookup_key, price)
  }
  const monthlyPriceId = await syncPrice(stripe, tier, product.id, 'month', found.get(month), counts)
  const yearlyPriceId = await syncPrice(stripe, tier, product.id, 'year', found.get(year), counts)

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

/**
 * Prices cannot change amount or currency in Stripe, so a changed price is a
 * new price that takes over the lookup key; the old one is deactivated, which
 * stops new sales but leaves existing subscriptions on it untouched.
 */
async function syncPrice(
  stripe: Stripe,
  tier: Tier,
  productId: string,
  interval: Interval,
  existing: Stripe.Price | undefined,
  counts: SyncCounts,
): Promise<string> {
  const amount = interval === 'month' ? tier.monthlyAmount : tier.yearlyAmount
  const current =
    existing !== undefined &&
    isMastheads(existing.metadata) &&
    existing.unit_amount === amount &&
    existing.currency === tier.currency &&
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
    currency: tier.currency,
    unit_amount: amount,
    recurring: { interval },
    lookup_key: priceLookupKey(tier.id, interval),
    transfer_lookup_key: true,
    metadata: { ...MASTHEAD_METADATA, tier_id: tier.id, interval },
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
