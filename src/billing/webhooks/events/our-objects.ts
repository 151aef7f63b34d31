import { sql, type SQL } from 'drizzle-orm'
import type Stripe from 'stripe'
import type { Database } from '../../../db/client'
import { tiers } from '../../../db/schema'
import { isMastheads } from '../../stripe'
import { idOf } from './context'

/**
 * Whether a Stripe object is Masthead's, on a Stripe account that may sell
 * other products too (Ghost PR #20243). Masthead marks what it sells; the
 * price lookup only catches prices made before the marking.
 */
export async function isOurs(db: Database, subscription: Stripe.Subscription): Promise<boolean> {
  return isMastheads(subscription.metadata) || isOurPrice(db, subscription.items.data[0]?.price)
}

/** A price Masthead marked, or one a tier owns (made before the marking); an id alone is looked up. */
export async function isOurPrice(db: Database, price: string | Stripe.Price | null | undefined): Promise<boolean> {
  if (!price) return false
  if (typeof price !== 'string' && isMastheads(price.metadata)) return true
  const [tier] = await db
    .select({ id: tiers.id })
    .from(tiers)
    .where(tierOwnsPrice(idOf(price)!))
  return tier !== undefined
}

/** The condition on `tiers` that the tier sells this price, monthly or yearly. */
export const tierOwnsPrice = (priceId: string | SQL) =>
  sql`${tiers.stripeMonthlyPriceId} = ${priceId} or ${tiers.stripeYearlyPriceId} = ${priceId}`
