import { and, asc, eq, inArray, sql } from 'drizzle-orm'
import * as z from 'zod'
import type { Database } from '../../db/client'
import { tierPrices, tiers, type Interval } from '../../db/schema'
import { AppError } from '../../http/errors'
import { isStripeCurrency } from '../../util/currencies'
import { minorAmount, readTypedAmounts, unchargeable, type AmountField } from './amounts'

/**
 * A tier's prices in currencies other than its own (table tier_prices): the same tier, the
 * same benefits, sold for ¥1,000 a month beside €8.00. Each is a row per (tier, currency);
 * the sync (stripe-sync.ts) makes a Stripe price per row and interval on the tier's product.
 */

export type TierPrice = typeof tierPrices.$inferSelect

export interface TierPriceAmounts {
  monthlyAmount: number
  yearlyAmount: number
}

/** What the API sends for one currency's prices: both amounts, in minor units of that currency. */
export const tierPriceSchema = z.strictObject(
  {
    monthlyAmount: minorAmount('monthly amount'),
    yearlyAmount: minorAmount('yearly amount'),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `Unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}: a price has monthlyAmount and yearlyAmount.`
        : undefined,
  },
)

/**
 * The currency of an extra price, from a path or a form: one the publication sells in
 * (SUPPORTED_CURRENCIES, each a currency Stripe charges in), lower-case. Throws a 422 naming them.
 */
export function priceCurrency(text: string, currencies: readonly string[]): string {
  const code = text.trim().toLowerCase()
  if (!code) throw new AppError('validation_failed', 'Choose a currency.', { field: 'currency' })
  if (!currencies.includes(code) || !isStripeCurrency(code)) {
    throw new AppError(
      'validation_failed',
      `The currency must be one of ${currencies.join(', ')} (SUPPORTED_CURRENCIES), not "${text.slice(0, 10)}".`,
      { field: 'currency' },
    )
  }
  return code
}

/** Both amounts of one currency's prices, checked for Stripe; the API's minor units. */
export function checkPriceAmounts(body: unknown, currency: string): TierPriceAmounts {
  const parsed = tierPriceSchema.safeParse(body)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new AppError('validation_failed', issue?.message ?? 'The price is not valid.', {
      field: String(issue?.path[0] ?? 'form'),
    })
  }
  const [field, message] = Object.entries(unchargeable(parsed.data, currency, 'minor'))[0] ?? []
  if (field) throw new AppError('validation_failed', message!, { field })
  return parsed.data
}

/** The same from a form, typed in major units of the currency: every field's error at once. */
export function readPriceForm(
  form: Record<string, string>,
  currency: string,
): { amounts: TierPriceAmounts; errors: null } | { amounts: null; errors: Record<string, string> } {
  const input: Record<string, unknown> = {}
  const errors = readTypedAmounts((field: AmountField) => form[field] ?? '', currency, input)
  if (Object.keys(errors).length > 0) return { amounts: null, errors }
  return { amounts: input as unknown as TierPriceAmounts, errors: null }
}

// ---------------------------------------------------------------- data

/** Extra prices of the given tiers (all tiers when none are named), by tier and currency. */
export async function listTierPrices(db: Database, tierIds?: readonly string[]): Promise<TierPrice[]> {
  if (tierIds && tierIds.length === 0) return []
  return db
    .select()
    .from(tierPrices)
    .where(tierIds ? inArray(tierPrices.tierId, [...tierIds]) : undefined)
    .orderBy(asc(tierPrices.tierId), asc(tierPrices.currency))
}

/**
 * Sets a tier's prices in `currency`, adding them or replacing the amounts. One statement, so
 * nothing is half-written; a stored Stripe price whose amount changed is forgotten in it, as
 * for the tier's own prices (tiers.ts, updateTier). The tier's own currency is refused: its
 * prices are the tier's. Null when there is no such tier.
 */
export async function putTierPrice(
  db: Database,
  now: Date,
  tierId: string,
  currency: string,
  amounts: TierPriceAmounts,
): Promise<{ price: TierPrice; created: boolean } | null> {
  return db.transaction(async (tx) => {
    // Locked, so that the tier's currency cannot become this one meanwhile.
    const [tier] = await tx.select({ currency: tiers.currency }).from(tiers).where(eq(tiers.id, tierId)).for('update')
    if (!tier) return null
    if (tier.currency === currency) {
      throw new AppError(
        'validation_failed',
        `${currency.toUpperCase()} is this tier's own currency: change its prices in the tier's form.`,
        { field: 'currency' },
      )
    }
    const keep = (interval: Interval) => {
      const [price, amount] =
        interval === 'month'
          ? [tierPrices.stripeMonthlyPriceId, tierPrices.monthlyAmount]
          : [tierPrices.stripeYearlyPriceId, tierPrices.yearlyAmount]
      const next = interval === 'month' ? amounts.monthlyAmount : amounts.yearlyAmount
      return sql`case when ${amount} = ${next} then ${price} end`
    }
    // Every writer locks the tier first, so what is here now is what the upsert meets.
    const [before] = await tx
      .select({ currency: tierPrices.currency })
      .from(tierPrices)
      .where(and(eq(tierPrices.tierId, tierId), eq(tierPrices.currency, currency)))
    const [row] = await tx
      .insert(tierPrices)
      .values({ tierId, currency, ...amounts, createdAt: now, updatedAt: now })
      .onConflictDoUpdate({
        target: [tierPrices.tierId, tierPrices.currency],
        set: {
          ...amounts,
          stripeMonthlyPriceId: keep('month'),
          stripeYearlyPriceId: keep('year'),
          updatedAt: now,
        },
      })
      .returning()
    return row ? { price: row, created: !before } : null
  })
}

/** Removes a tier's prices in `currency`; what was removed, or null if there were none. */
export async function removeTierPrice(db: Database, tierId: string, currency: string): Promise<TierPrice | null> {
  const [row] = await db
    .delete(tierPrices)
    .where(and(eq(tierPrices.tierId, tierId), eq(tierPrices.currency, currency)))
    .returning()
  return row ?? null
}

/** Records the Stripe prices that sell a tier in one extra currency. Only the sync writes these. */
export async function setTierPriceStripeIds(
  db: Database,
  now: Date,
  price: Pick<TierPrice, 'tierId' | 'currency' | 'monthlyAmount' | 'yearlyAmount'>,
  ids: { stripeMonthlyPriceId: string; stripeYearlyPriceId: string },
): Promise<void> {
  // Only while the amounts are still the ones synced: an edit meanwhile waits for the next sync.
  await db
    .update(tierPrices)
    .set({ ...ids, updatedAt: now })
    .where(
      and(
        eq(tierPrices.tierId, price.tierId),
        eq(tierPrices.currency, price.currency),
        eq(tierPrices.monthlyAmount, price.monthlyAmount),
        eq(tierPrices.yearlyAmount, price.yearlyAmount),
      ),
    )
}
