import { Hono, type Context } from 'hono'
import { audit } from '../../audit/audit'
import { AppError } from '../../http/errors'
import { answerFormError, submitForm, type RenderForm } from '../../http/forms'
import { requireRole } from '../../http/guards'
import { readBody, typed } from '../../http/input'
import type { AppEnv } from '../../services'
import { tierFormValues } from './pages'
import {
  checkPriceAmounts,
  priceCurrency,
  putTierPrice,
  readPriceForm,
  removeTierPrice,
  type TierPriceAmounts,
} from './prices'
import { currencies, editPage, findTier, savedRedirect, savedTier } from './save'
import type { Tier } from './tiers'

/**
 * A tier's prices in other currencies: forms on the tier's page (/admin/tiers/:id/prices…)
 * and the API (/api/admin/tiers/:id/prices/:currency). Each save writes one row in one
 * statement, goes to the audit log as a change to the tier, and is followed by the tier's
 * sync, which makes (or retires) the Stripe prices.
 */

/** Forms, mounted on /admin/tiers. */
export const tierPricePages = new Hono<AppEnv>().use(requireRole('admin'))

/** The API, mounted on /api/admin/tiers. */
export const tierPriceApi = new Hono<AppEnv>().use(requireRole('admin'))

async function setAudited(c: Context<AppEnv>, tier: Tier, currency: string, amounts: TierPriceAmounts) {
  const { db, clock } = c.var.services
  const saved = await putTierPrice(db, clock.now(), tier.id, currency, amounts)
  if (!saved) throw new AppError('not_found', 'There is no tier with that id.')
  await audit(db, clock.now(), c.var.user, 'tier.updated', null, {
    tierId: tier.id,
    price: { currency, ...amounts },
  })
  return saved
}

async function removeAudited(c: Context<AppEnv>, tier: Tier, currency: string) {
  const { db, clock } = c.var.services
  const removed = await removeTierPrice(db, tier.id, currency)
  if (!removed) throw new AppError('not_found', `${tier.name} has no prices in ${currency.toUpperCase()}.`)
  await audit(db, clock.now(), c.var.user, 'tier.updated', null, { tierId: tier.id, priceRemoved: currency })
}

// ---------------------------------------------------------------- forms

const formText = async (c: Context<AppEnv>) => {
  const body = await readBody(c)
  return {
    currency: typed(body.currency),
    monthlyAmount: typed(body.monthlyAmount),
    yearlyAmount: typed(body.yearlyAmount),
  }
}

/** Saves a price form; `row` is the currency of the row's own form, '' for the form adding one. */
async function savePriceForm(c: Context<AppEnv>, row: string) {
  const tier = await findTier(c)
  const form = await formText(c)
  const rerender: RenderForm = (errors, status) =>
    editPage(c, tier, tierFormValues(tier), undefined, status as 409 | 422, {
      currency: row,
      values: form,
      // A row's form has no currency field: a problem with its currency is the form's.
      errors: row && errors.currency ? { form: errors.currency, ...errors } : errors,
    })
  return submitForm(
    c,
    async () => {
      const currency = priceCurrency(row || form.currency, currencies(c))
      const read = readPriceForm(form, currency)
      if (!read.amounts) return answerFormError(c, read.errors, rerender)
      await setAudited(c, tier, currency, read.amounts)
      const { stripeSync } = await savedTier(c, tier)
      return savedRedirect(c, 'price-saved', stripeSync, `/admin/tiers/${tier.id}`)
    },
    rerender,
  )
}

tierPricePages.post('/:id/prices', (c) => savePriceForm(c, ''))

tierPricePages.post('/:id/prices/:currency', (c) => savePriceForm(c, c.req.param('currency').toLowerCase()))

tierPricePages.post('/:id/prices/:currency/remove', async (c) => {
  const tier = await findTier(c)
  await removeAudited(c, tier, c.req.param('currency').toLowerCase())
  const { stripeSync } = await savedTier(c, tier)
  return savedRedirect(c, 'price-removed', stripeSync, `/admin/tiers/${tier.id}`)
})

// ---------------------------------------------------------------- API

tierPriceApi.put('/:id/prices/:currency', async (c) => {
  const tier = await findTier(c)
  const currency = priceCurrency(c.req.param('currency'), currencies(c))
  const amounts = checkPriceAmounts(await readBody(c), currency)
  const { created } = await setAudited(c, tier, currency, amounts)
  return c.json(await savedTier(c, tier), created ? 201 : 200)
})

tierPriceApi.delete('/:id/prices/:currency', async (c) => {
  const tier = await findTier(c)
  await removeAudited(c, tier, c.req.param('currency').toLowerCase())
  return c.json(await savedTier(c, tier))
})
