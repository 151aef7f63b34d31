import * as z from 'zod'
import { chargeProblem, isStripeCurrency } from '../../util/currencies'
import { formatMoney, parseMajorUnits } from '../../util/money'

/**
 * A tier's prices, as the tier itself and its prices in other currencies (prices.ts) both
 * check them: whole positive minor units of their currency, within Stripe's limit, and an
 * amount Stripe can charge in that currency (whole krónur for ISK, a last digit of 0 for the
 * three-decimal dinars and rials).
 */

/** Largest price a tier may have, in minor units: Stripe's limit of eight digits (999,999.99 in USD, ¥99,999,999). */
export const MAX_TIER_AMOUNT = 99_999_999

/** Minor units, as an API client sends them: 500 means 5.00 (in JPY, ¥500). */
export const minorAmount = (label: string) =>
  z
    .number({ error: `The ${label} must be a number of minor units (cents), such as 500 for 5.00 (or ¥500).` })
    .int({ error: `The ${label} is not whole minor units: send an integer number of cents, such as 500 for 5.00.` })
    .positive({ error: `The ${label} must be more than zero.` })
    .max(MAX_TIER_AMOUNT, { error: `The ${label} must be at most ${MAX_TIER_AMOUNT} minor units (Stripe's limit).` })

export const AMOUNT_FIELDS = [
  ['monthlyAmount', 'monthly amount'],
  ['yearlyAmount', 'yearly amount'],
] as const

export type AmountField = (typeof AMOUNT_FIELDS)[number][0]

/**
 * Amounts Stripe would refuse in `currency`, by field, phrased for how they were given
 * (typed in a form, or minor units from the API). Empty when both can be charged.
 */
export function unchargeable(
  amounts: Partial<Record<AmountField, number>>,
  currency: string,
  as: 'typed' | 'minor',
): Record<string, string> {
  const errors: Record<string, string> = {}
  // A currency Stripe does not charge in is the currency field's error.
  if (!isStripeCurrency(currency)) return errors
  for (const [field, label] of AMOUNT_FIELDS) {
    const amount = amounts[field]
    if (amount === undefined) continue
    const problem = chargeProblem(amount, currency, as)
    if (problem) errors[field] = `The ${label} cannot be charged: ${problem}`
  }
  return errors
}

/**
 * Reads the two amounts a form typed in major units of `currency` into `input`, and
 * returns the errors of those it could not read or Stripe could not charge.
 */
export function readTypedAmounts(
  text: (field: AmountField) => string,
  currency: string,
  input: Record<string, unknown>,
): Record<string, string> {
  const errors: Record<string, string> = {}
  for (const [field, label] of AMOUNT_FIELDS) {
    const parsed = parseMajorUnits(text(field), currency)
    if (!parsed.ok) errors[field] = parsed.message.replace('The amount', `The ${label}`)
    else if (parsed.amount > MAX_TIER_AMOUNT)
      errors[field] = `The ${label} must be at most ${formatMoney(MAX_TIER_AMOUNT, currency)} (Stripe's limit).`
    else input[field] = parsed.amount
  }
  return { ...errors, ...unchargeable(input, currency, 'typed') }
}
