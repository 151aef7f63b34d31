import type { Context } from 'hono'
import { AppError } from '../../http/errors'
import type { FieldErrors } from '../../http/input'
import { log } from '../../http/log'
import { pathTo } from '../../http/paths'
import type { AppEnv } from '../../services'
import { page } from '../../ui/layout'
import { TierEditPage, type StripeState, type TierFormValues } from './pages'
import type { PriceFormState } from './price-pages'
import { listTierPrices, type TierPrice } from './prices'
import { syncTierToStripe } from './stripe-sync'
import { getTier, type Tier } from './tiers'

/** What the tier routes and the price routes both do after a save (routes.tsx, price-routes.tsx). */

/** What became of the Stripe side of a save. A failure never undoes the save. */
export type StripeSync = 'synced' | 'failed' | 'not_configured'

export const stripeState = (c: Context<AppEnv>): StripeState =>
  c.var.services.stripe ? 'configured' : 'not_configured'
export const currencies = (c: Context<AppEnv>) => c.var.services.config.SUPPORTED_CURRENCIES

/**
 * Saves are Masthead's, Stripe follows: after a save the tier is synced, and
 * if Stripe is unreachable or refuses, the admin is told and can save again
 * (the sync is idempotent) or run `npm run stripe:sync` later.
 */
export async function syncAfterSave(c: Context<AppEnv>, tier: Tier): Promise<{ tier: Tier; stripeSync: StripeSync }> {
  const { stripe, db, clock } = c.var.services
  if (!stripe) return { tier, stripeSync: 'not_configured' }
  try {
    await syncTierToStripe(stripe, db, clock.now(), tier)
    return { tier: (await getTier(db, tier.id)) ?? tier, stripeSync: 'synced' }
  } catch (error) {
    // Tiers hold no personal data; the error's type, code and message say what Stripe objected to.
    log('warn', 'stripe_sync_failed', {
      requestId: c.get('requestId'),
      tierId: tier.id,
      // Stripe's errors are all named Error; their `type` says which kind (StripeConnectionError, …).
      errorType: (error as { type?: unknown } | null)?.type ?? (error instanceof Error ? error.name : typeof error),
      code: (error as { code?: unknown } | null)?.code,
      message: error instanceof Error ? error.message : undefined,
    })
    return { tier, stripeSync: 'failed' }
  }
}

export function savedRedirect(
  c: Context<AppEnv>,
  notice: 'created' | 'updated' | 'price-saved' | 'price-removed',
  stripeSync: StripeSync,
  path = '/admin/tiers',
) {
  const query = new URLSearchParams({ notice })
  if (stripeSync === 'failed') query.set('stripe', 'failed')
  return c.redirect(pathTo(c, `${path}?${query}`), 303)
}

export async function findTier(c: Context<AppEnv>): Promise<Tier> {
  const tier = await getTier(c.var.services.db, c.req.param('id') ?? '')
  if (!tier) throw new AppError('not_found', 'There is no tier with that id.')
  return tier
}

/** The edit page; `priceForm` is a price form shown again with its errors (price-routes.tsx). */
export const editPage = async (
  c: Context<AppEnv>,
  tier: Tier,
  values: TierFormValues,
  errors?: FieldErrors,
  status: 200 | 409 | 422 = 200,
  priceForm?: PriceFormState,
) =>
  page(
    c,
    `Tier: ${tier.name}`,
    <TierEditPage
      tier={tier}
      stripe={stripeState(c)}
      currencies={currencies(c)}
      form={values}
      errors={errors}
      prices={await listTierPrices(c.var.services.db, [tier.id])}
      priceForm={priceForm}
      notice={errors || priceForm ? undefined : c.req.query('notice')}
      stripeFailed={!errors && !priceForm && c.req.query('stripe') === 'failed'}
    />,
    status,
  )

/** A tier as the API shows it: the row, and its prices in other currencies. */
export const withPrices = (tier: Tier, prices: TierPrice[]) => ({
  ...tier,
  prices: prices.filter((price) => price.tierId === tier.id),
})

/** The API's answer to a save: the tier as saved (and synced), with its prices, and what became of Stripe. */
export async function savedTier(c: Context<AppEnv>, tier: Tier) {
  const { tier: synced, stripeSync } = await syncAfterSave(c, tier)
  return { tier: withPrices(synced, await listTierPrices(c.var.services.db, [tier.id])), stripeSync }
}
