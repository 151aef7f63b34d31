import { and, asc, eq, notExists, sql } from 'drizzle-orm'
import * as z from 'zod'
import type { Database } from '../../db/client'
import { BENEFITS, tierPrices, tiers, type Benefit, type Interval } from '../../db/schema'
import { AppError } from '../../http/errors'
import { MAX_TIER_AMOUNT, minorAmount, readTypedAmounts, unchargeable, type AmountField } from './amounts'
import { listTierPrices } from './prices'

export { MAX_TIER_AMOUNT }

/** A tier as stored. `benefits` is text[] in the database; only BENEFITS are ever written to it. */
export type Tier = Omit<typeof tiers.$inferSelect, 'benefits'> & { benefits: Benefit[] }

/** What an admin sets on a tier (Stripe ids and timestamps are Masthead's business). */
export interface TierFields {
  name: string
  description: string
  currency: string
  monthlyAmount: number
  yearlyAmount: number
  position: number
  active: boolean
  benefits: Benefit[]
  /** Days of free trial before the first charge (0: none); stored as 0 when not given. */
  trialDays?: number
}

export type NewTier = TierFields & { id: string }

export const BENEFIT_LABELS: Record<Benefit, string> = {
  adFree: 'No ads',
  hideSupportPrompts: 'No requests for support',
  supportersOnlyContent: 'Supporters-only articles',
  earlyAccess: 'Early access',
}

// ---------------------------------------------------------------- input

const tierId = z
  .string({ error: 'Enter an id, like "reader".' })
  .trim()
  .regex(/^[a-z0-9][a-z0-9-]{1,39}$/, {
    error:
      'The id must be 2 to 40 lowercase letters, digits or hyphens, starting with a letter or digit, like "reader".',
  })

/** The longest free trial a tier may offer, in days (Stripe's limit for a subscription's trial). */
export const MAX_TRIAL_DAYS = 730

const TRIAL_DAYS_ERROR = `The free trial must be a whole number of days from 0 to ${MAX_TRIAL_DAYS}.`

/**
 * The one description of a valid tier, for the page and the API alike. It is
 * built per config because the allowed currencies are a setting. Fields have
 * no defaults here, so that `.partial()` makes a true partial update (zod 4
 * would fill defaults into absent optional fields).
 */
export function tierFieldsSchema(currencies: readonly string[]) {
  return z.object({
    name: z
      .string({ error: 'Enter a name.' })
      .trim()
      .min(1, { error: 'Enter a name.' })
      .max(80, { error: 'The name must be at most 80 characters.' }),
    description: z
      .string({ error: 'The description must be text.' })
      .trim()
      .max(500, { error: 'The description must be at most 500 characters.' }),
    currency: z
      .string({ error: 'Choose a currency.' })
      .trim()
      .toLowerCase()
      .refine((code) => currencies.includes(code), {
        error: `The currency must be one of ${currencies.join(', ')} (SUPPORTED_CURRENCIES).`,
      }),
    monthlyAmount: minorAmount('monthly amount'),
    yearlyAmount: minorAmount('yearly amount'),
    trialDays: z
      .number({ error: TRIAL_DAYS_ERROR })
      .int({ error: TRIAL_DAYS_ERROR })
      .min(0, { error: TRIAL_DAYS_ERROR })
      .max(MAX_TRIAL_DAYS, { error: TRIAL_DAYS_ERROR }),
    position: z
      .number({ error: 'The position must be a whole number.' })
      .int({ error: 'The position must be a whole number.' })
      .min(0, { error: 'The position must be between 0 and 10000.' })
      .max(10_000, { error: 'The position must be between 0 and 10000.' }),
    active: z.boolean({ error: 'Active must be true or false.' }),
    benefits: z
      .array(
        z.enum(BENEFITS, {
          error: (issue) => `Unknown benefit ${JSON.stringify(issue.input)}: choose from ${BENEFITS.join(', ')}.`,
        }),
        { error: `Benefits must be a list drawn from ${BENEFITS.join(', ')}.` },
      )
      .refine((list) => new Set(list).size === list.length, { error: 'List each benefit once.' }),
  })
}

// API clients are told about a misspelt field rather than having it silently ignored.
const unknownFields = (fields: string[]) => ({
  error: (issue: z.core.$ZodRawIssue) =>
    issue.code === 'unrecognized_keys'
      ? `Unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}: a tier has ${fields.join(', ')}.`
      : undefined,
})

/** A new tier: id, name, currency and both amounts are required; the rest has defaults. */
export function newTierSchema(currencies: readonly string[]) {
  const fields = tierFieldsSchema(currencies)
  const shape = {
    id: tierId,
    ...fields.shape,
    description: fields.shape.description.default(''),
    position: fields.shape.position.default(0),
    trialDays: fields.shape.trialDays.default(0),
    active: fields.shape.active.default(true),
    benefits: fields.shape.benefits.default([]),
  }
  return z.strictObject(shape, unknownFields(Object.keys(shape)))
}

/** A partial update (PATCH): any subset of the fields; the id never changes. */
export function tierPatchSchema(currencies: readonly string[]) {
  const shape = tierFieldsSchema(currencies).shape
  return z.strictObject(shape, unknownFields(Object.keys(shape))).partial()
}

/** What the tier form posts: strings, a checkbox, and repeated `benefits` values. */
export type TierForm = Record<string, string | string[] | undefined>

/**
 * Turns the form's strings into the API's shape (amounts in minor units) and
 * collects the amount errors, which only the form can make. The result is then
 * checked by the same schema as the API's, so both answer alike.
 */
export function tierFormInput(form: TierForm): { input: Record<string, unknown>; errors: Record<string, string> } {
  const text = (key: string) => {
    const value = form[key]
    return Array.isArray(value) ? (value[0] ?? '') : (value ?? '')
  }
  const input: Record<string, unknown> = {
    name: text('name'),
    description: text('description'),
    currency: text('currency'),
    active: form.active !== undefined,
    benefits: form.benefits === undefined ? [] : Array.isArray(form.benefits) ? form.benefits : [form.benefits],
  }
  if (form.id !== undefined) input.id = text('id')
  const whole = (field: string) => {
    const value = text(field).trim()
    return value === '' ? 0 : /^-?\d+$/.test(value) ? Number(value) : Number.NaN
  }
  input.position = whole('position')
  input.trialDays = whole('trialDays')
  // Amounts are typed in the chosen currency's decimals: "1000" yen, "5.00" euros, "5.120" dinars.
  const errors = readTypedAmounts((field: AmountField) => text(field), text('currency').trim().toLowerCase(), input)
  return { input, errors }
}

/**
 * Amounts an API client sent that Stripe could not charge in the tier's currency, by field:
 * for a new tier, its amounts; for a change, the amounts sent, and the stored ones too when the
 * currency changes (5.05 USD cannot become KWD 0.505).
 */
export function tierAmountErrors(fields: Partial<TierFields>, stored?: Tier): Record<string, string> {
  const currency = fields.currency ?? stored?.currency
  if (!currency) return {}
  const moved = stored !== undefined && fields.currency !== undefined && fields.currency !== stored.currency
  const amounts = {
    monthlyAmount: fields.monthlyAmount ?? (moved ? stored.monthlyAmount : undefined),
    yearlyAmount: fields.yearlyAmount ?? (moved ? stored.yearlyAmount : undefined),
  }
  return unchargeable(amounts, currency, 'minor')
}

// ---------------------------------------------------------------- data

const asTier = (row: typeof tiers.$inferSelect): Tier => ({ ...row, benefits: row.benefits as Benefit[] })

/** Every tier, in the order readers see them. */
export async function listTiers(db: Database): Promise<Tier[]> {
  const rows = await db.select().from(tiers).orderBy(asc(tiers.position), asc(tiers.name), asc(tiers.id))
  return rows.map(asTier)
}

export async function getTier(db: Database, id: string): Promise<Tier | null> {
  const [row] = await db.select().from(tiers).where(eq(tiers.id, id))
  return row ? asTier(row) : null
}

/** Inserts a tier; a tier with the same id already existing is a conflict (409). */
export async function createTier(db: Database, now: Date, input: NewTier): Promise<Tier> {
  const [row] = await db
    .insert(tiers)
    .values({ ...input, createdAt: now, updatedAt: now })
    .onConflictDoNothing({ target: tiers.id })
    .returning()
  if (!row)
    throw new AppError('conflict', `A tier with the id "${input.id}" already exists. Choose another id.`, {
      field: 'id',
    })
  return asTier(row)
}

/**
 * Changes the given fields of a tier; null when there is no such tier. A
 * stored Stripe price whose amount or currency no longer matches is forgotten
 * in the same statement: until a sync makes its replacement, nothing can sell
 * the tier at the old price, and the admin page shows it as not in Stripe.
 */
export async function updateTier(
  db: Database,
  now: Date,
  id: string,
  patch: Partial<TierFields>,
): Promise<Tier | null> {
  // In an UPDATE's SET, columns read the row's values from before the update.
  const keepPrice = (interval: Interval) => {
    const [price, amount] =
      interval === 'month'
        ? [tiers.stripeMonthlyPriceId, tiers.monthlyAmount]
        : [tiers.stripeYearlyPriceId, tiers.yearlyAmount]
    const next = interval === 'month' ? patch.monthlyAmount : patch.yearlyAmount
    return sql<
      string | null
    >`case when ${amount} = ${next ?? amount} and ${tiers.currency} = ${patch.currency ?? tiers.currency} then ${price} end`
  }
  const [row] = await db
    .update(tiers)
    .set({
      ...patch,
      ...(patch.monthlyAmount !== undefined || patch.currency !== undefined
        ? { stripeMonthlyPriceId: keepPrice('month') }
        : {}),
      ...(patch.yearlyAmount !== undefined || patch.currency !== undefined
        ? { stripeYearlyPriceId: keepPrice('year') }
        : {}),
      updatedAt: now,
    })
    .where(and(eq(tiers.id, id), patch.currency === undefined ? undefined : notPricedIn(id, patch.currency)))
    .returning()
  if (row) return asTier(row)
  if (patch.currency !== undefined && (await getTier(db, id))) {
    throw new AppError(
      'conflict',
      `The tier already has prices in ${patch.currency.toUpperCase()} among its other currencies: remove those first.`,
      { field: 'currency' },
    )
  }
  return null
}

const notPricedIn = (tierId: string, currency: string) =>
  notExists(
    sql`(select 1 from ${tierPrices} where ${tierPrices.tierId} = ${tierId} and ${tierPrices.currency} = ${currency})`,
  )

/** Records the Stripe objects that sell a tier. Only the sync writes these. */
export async function setTierStripeIds(
  db: Database,
  now: Date,
  id: string,
  ids: { stripeProductId: string; stripeMonthlyPriceId: string; stripeYearlyPriceId: string },
): Promise<void> {
  await db
    .update(tiers)
    .set({ ...ids, updatedAt: now })
    .where(eq(tiers.id, id))
}

// ---------------------------------------------------------------- what readers can buy

/** One currency a tier is sold in: the amounts in its minor units, and whether Stripe sells it yet. */
export interface TierOfferPrice {
  currency: string
  monthlyAmount: number
  yearlyAmount: number
  onSale: boolean
}

/** An active tier as the join page offers it: `prices` holds its own currency first, then the others by code. */
export type TierOffer = Tier & { prices: TierOfferPrice[] }

/** The active tiers in the order readers see them, each with every currency it is sold in. */
export async function listTierOffers(db: Database): Promise<TierOffer[]> {
  const active = (await listTiers(db)).filter((tier) => tier.active)
  const extra = await listTierPrices(
    db,
    active.map((tier) => tier.id),
  )
  return active.map((tier) => ({
    ...tier,
    prices: [
      {
        currency: tier.currency,
        monthlyAmount: tier.monthlyAmount,
        yearlyAmount: tier.yearlyAmount,
        onSale: Boolean(tier.stripeMonthlyPriceId && tier.stripeYearlyPriceId),
      },
      ...extra
        .filter((price) => price.tierId === tier.id)
        .map((price) => ({
          currency: price.currency,
          monthlyAmount: price.monthlyAmount,
          yearlyAmount: price.yearlyAmount,
          onSale: Boolean(price.stripeMonthlyPriceId && price.stripeYearlyPriceId),
        })),
    ],
  }))
}

/** The Stripe price a reader's choice comes to, or why there is none. */
export type TierPriceChoice =
  { ok: true; tier: Tier; currency: string; amount: number; priceId: string | null } | { ok: false; error: AppError }

/**
 * Which Stripe price sells `tierId` in `currency` (absent or empty: the tier's own) for
 * `interval`. An unknown or inactive tier is a 422, as it always was; a currency the tier is
 * not sold in is a 400 naming those it is. `priceId` is null until the sync has made the price.
 */
export async function tierPriceFor(
  db: Database,
  tierId: string,
  currency: string | undefined,
  interval: Interval,
): Promise<TierPriceChoice> {
  const tier = await getTier(db, tierId)
  if (!tier?.active) {
    return { ok: false, error: new AppError('validation_failed', `There is no tier called "${tierId}".`) }
  }
  const wanted = currency?.trim().toLowerCase() || tier.currency
  if (wanted === tier.currency) {
    const own = interval === 'month' ? tier.stripeMonthlyPriceId : tier.stripeYearlyPriceId
    const amount = interval === 'month' ? tier.monthlyAmount : tier.yearlyAmount
    return { ok: true, tier, currency: wanted, amount, priceId: own }
  }
  const [price] = await db
    .select()
    .from(tierPrices)
    .where(and(eq(tierPrices.tierId, tier.id), eq(tierPrices.currency, wanted)))
  if (!price) {
    const offered = [tier.currency, ...(await listTierPrices(db, [tier.id])).map((p) => p.currency)]
    const list = offered.map((code) => code.toUpperCase()).join(', ')
    const shown = /^[a-z]{3}$/.test(wanted) ? wanted.toUpperCase() : 'that currency'
    return {
      ok: false,
      error: new AppError('bad_request', `${tier.name} is not sold in ${shown}: choose one of ${list}.`, {
        field: 'currency',
      }),
    }
  }
  return {
    ok: true,
    tier,
    currency: wanted,
    amount: interval === 'month' ? price.monthlyAmount : price.yearlyAmount,
    priceId: interval === 'month' ? price.stripeMonthlyPriceId : price.stripeYearlyPriceId,
  }
}
