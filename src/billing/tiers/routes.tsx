import { Hono, type Context } from 'hono'
import { audit } from '../../audit/audit'
import type { ZodType } from 'zod'
import {
  createTier,
  listTiers,
  newTierSchema,
  tierAmountErrors,
  tierFieldsSchema,
  tierFormInput,
  tierPatchSchema,
  updateTier,
  type Tier,
  type TierForm,
} from './tiers'
import { listTierPrices } from './prices'
import {
  currencies,
  editPage,
  findTier,
  savedRedirect,
  savedTier,
  stripeState,
  syncAfterSave,
  withPrices,
} from './save'
import { tierPricePages, tierPriceApi } from './price-routes'
import { AppError } from '../../http/errors'
import { answerFormError, submitForm, type RenderForm } from '../../http/forms'
import { requireRole } from '../../http/guards'
import { fieldErrors, readBody, readForm, validationError, type FieldErrors } from '../../http/input'
import type { AppEnv } from '../../services'
import { page } from '../../ui/layout'
import { emptyTierForm, tierFormValues, TiersPage, type TierFormValues } from './pages'

/** Tier management for admins, /admin/tiers. */
export const tierPages = new Hono<AppEnv>().use(requireRole('admin'))

/** The same for API clients, /api/admin/tiers. */
export const tierApi = new Hono<AppEnv>().use(requireRole('admin'))

/** Saves go to the audit log with the fields that were set (tiers hold no personal data). */
async function createAudited(c: Context<AppEnv>, fields: Parameters<typeof createTier>[2]): Promise<Tier> {
  const { db, clock } = c.var.services
  const tier = await createTier(db, clock.now(), fields)
  await audit(db, clock.now(), c.var.user, 'tier.created', null, { tierId: tier.id, fields })
  return tier
}

async function updateAudited(
  c: Context<AppEnv>,
  id: string,
  fields: Parameters<typeof updateTier>[3],
): Promise<Tier | null> {
  const { db, clock } = c.var.services
  const tier = await updateTier(db, clock.now(), id, fields)
  if (tier) await audit(db, clock.now(), c.var.user, 'tier.updated', null, { tierId: tier.id, fields })
  return tier
}

/** The tier form, keeping repeated fields (the benefits checkboxes) that readBody would collapse. */
async function readTierForm(c: Context<AppEnv>): Promise<TierForm> {
  const type = c.req.header('content-type') ?? ''
  if (!type.includes('application/x-www-form-urlencoded') && !type.includes('multipart/form-data')) {
    throw new AppError('unsupported_media_type', 'Send the tier form as a form.')
  }
  const out: TierForm = {}
  for (const [key, value] of Object.entries(await readForm(c, { all: true }))) {
    if (typeof value === 'string') out[key] = value
    else if (Array.isArray(value)) out[key] = value.filter((v): v is string => typeof v === 'string')
  }
  return out
}

/** What the person typed, to put back into a form shown again with its errors. */
function typedValues(form: TierForm, fallback: TierFormValues): TierFormValues {
  const text = (key: keyof TierFormValues) => {
    const value = form[key]
    return Array.isArray(value) ? (value[0] ?? '') : (value ?? String(fallback[key]))
  }
  return {
    id: text('id'),
    name: text('name'),
    description: text('description'),
    currency: text('currency'),
    monthlyAmount: text('monthlyAmount'),
    yearlyAmount: text('yearlyAmount'),
    position: text('position'),
    trialDays: text('trialDays'),
    active: form.active !== undefined,
    benefits: form.benefits === undefined ? [] : Array.isArray(form.benefits) ? form.benefits : [form.benefits],
  }
}

/** Checks a posted form with the API's schema; amount errors come from reading major units. */
function checkForm<T>(
  form: TierForm,
  schema: ZodType<T>,
): { data: T; errors: null } | { data: null; errors: FieldErrors } {
  const { input, errors } = tierFormInput(form)
  const parsed = schema.safeParse(input)
  const all = { ...(parsed.success ? {} : fieldErrors(parsed.error)), ...errors }
  if (parsed.success && Object.keys(errors).length === 0) return { data: parsed.data, errors: null }
  return { data: null, errors: all }
}

// ---------------------------------------------------------------- pages

const listPage = async (
  c: Context<AppEnv>,
  form?: { values: TierFormValues; errors: FieldErrors },
  status: 200 | 409 | 422 = 200,
) =>
  page(
    c,
    'Tiers',
    <TiersPage
      tiers={await listTiers(c.var.services.db)}
      prices={await listTierPrices(c.var.services.db)}
      stripe={stripeState(c)}
      currencies={currencies(c)}
      form={form?.values ?? emptyTierForm(currencies(c)[0] ?? 'usd')}
      errors={form?.errors}
      notice={form ? undefined : c.req.query('notice')}
      stripeFailed={!form && c.req.query('stripe') === 'failed'}
    />,
    status,
  )

tierPages.get('/', (c) => listPage(c))

tierPages.post('/', async (c) => {
  const form = await readTierForm(c)
  const values = typedValues(form, emptyTierForm(''))
  const rerender: RenderForm = (errors, status) => listPage(c, { values, errors }, status as 409 | 422)
  const checked = checkForm(form, newTierSchema(currencies(c)))
  if (!checked.data) return answerFormError(c, checked.errors, rerender)
  const fields = checked.data
  return submitForm(
    c,
    async () => {
      const tier = await createAudited(c, fields)
      const { stripeSync } = await syncAfterSave(c, tier)
      return savedRedirect(c, 'created', stripeSync)
    },
    rerender,
  )
})

tierPages.get('/:id', async (c) => {
  const tier = await findTier(c)
  return editPage(c, tier, tierFormValues(tier))
})

tierPages.post('/:id', async (c) => {
  const tier = await findTier(c)
  const form = await readTierForm(c)
  // The edit form has every field, so it is checked whole; the id comes from the path.
  const checked = checkForm(form, tierFieldsSchema(currencies(c)))
  const rerender: RenderForm = (errors, status) =>
    editPage(c, tier, typedValues(form, tierFormValues(tier)), errors, status as 409 | 422)
  if (!checked.data) return answerFormError(c, checked.errors, rerender)
  const fields = checked.data
  return submitForm(
    c,
    async () => {
      const saved = await updateAudited(c, tier.id, fields)
      if (!saved) throw new AppError('not_found', 'There is no tier with that id.')
      const { stripeSync } = await syncAfterSave(c, saved)
      return savedRedirect(c, 'updated', stripeSync)
    },
    rerender,
  )
})

// ---------------------------------------------------------------- API

tierApi.get('/', async (c) => {
  const { db } = c.var.services
  const prices = await listTierPrices(db)
  return c.json({ tiers: (await listTiers(db)).map((tier) => withPrices(tier, prices)) })
})

tierApi.get('/:id', async (c) => {
  const tier = await findTier(c)
  return c.json({ tier: withPrices(tier, await listTierPrices(c.var.services.db, [tier.id])) })
})

tierApi.post('/', async (c) => {
  const parsed = newTierSchema(currencies(c)).safeParse(await readBody(c))
  if (!parsed.success) throw validationError(fieldErrors(parsed.error))
  const unchargeable = tierAmountErrors(parsed.data)
  if (Object.keys(unchargeable).length > 0) throw validationError(unchargeable)
  const tier = await createAudited(c, parsed.data)
  return c.json(await savedTier(c, tier), 201)
})

tierApi.patch('/:id', async (c) => {
  const parsed = tierPatchSchema(currencies(c)).safeParse(await readBody(c))
  if (!parsed.success) throw validationError(fieldErrors(parsed.error))
  const unchargeable = tierAmountErrors(parsed.data, await findTier(c))
  if (Object.keys(unchargeable).length > 0) throw validationError(unchargeable)
  const tier = await updateAudited(c, c.req.param('id'), parsed.data)
  if (!tier) throw new AppError('not_found', 'There is no tier with that id.')
  return c.json(await savedTier(c, tier))
})

// A tier's prices in other currencies (price-routes.tsx).
tierPages.route('/', tierPricePages)
tierApi.route('/', tierPriceApi)
