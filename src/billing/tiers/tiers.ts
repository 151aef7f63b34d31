import { parseMajorUnits } from '../../util/money'
import { asc, eq, sql } from 'drizzle-orm'
import * as z from 'zod'
import type { Database } from '../../db/client'
import { BENEFITS, tiers, type Benefit, type Interval } from '../../db/schema'
import { AppError } from '../../http/errors'

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
}

export type NewTier = TierFields & { id: string }

/** Largest price a tier may have, in minor units (100,000.00): a typo guard, well inside PostgreSQL's integer. */
export const MAX_TIER_AMOUNT = 10_000_000

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

/** Minor units, as an API client sends them: 500 means 5.00. */
const minorAmount = (label: string) =>
  z
    .number({ error: `The ${label} must be a number of minor units (cents), such as 500 for 5.00.` })
    .int({ error: `The ${label} is not whole minor units: send an integer number of cents, such as 500 for 5.00.` })
    .positive({ error: `The ${label} must be more than zero.` })
    .max(MAX_TIER_AMOUNT, { error: `The ${label} must be at most ${MAX_TIER_AMOUNT} minor units (100,000.00).` })

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
  const position = text('position').trim()
  input.position = position === '' ? 0 : /^-?\d+$/.test(position) ? Number(position) : Number.NaN
  const errors: Record<string, string> = {}
  for (const [field, label] of [
    ['monthlyAmount', 'monthly amount'],
    ['yearlyAmount', 'yearly amount'],
  ] as const) {
    const parsed = parseMajorUnits(text(field))
    if (parsed.ok) input[field] = parsed.amount
    else errors[field] = parsed.message.replace('The amount', `The ${label}`)
  }
  return { input, errors }
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
    .where(eq(tiers.id, id))
    .returning()
  return row ? asTier(row) : null
}

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
