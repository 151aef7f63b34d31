import * as z from 'zod'
import { chargeProblem, displayDecimals, isStripeCurrency, minorUnitExponent } from './currencies'

/**
 * Money is integer minor units beside a currency code, and how many decimals a minor unit
 * stands for is the currency's (src/util/currencies.ts): 1000 jpy is ¥1,000, 1000 usd is
 * $10.00, 1000 kwd is KWD 1.000. Nothing here goes through floating point.
 */

/**
 * An amount of minor units as decimal digits in major units, exactly: 1250 usd → "12.50",
 * 1000 jpy → "1000", 5120 kwd → "5.120", 50000 isk → "500". What a form shows for a person to
 * type back, and what `formatMoney` formats.
 */
export function toMajorUnits(amount: number, currency: string): string {
  if (!Number.isSafeInteger(amount)) throw new RangeError(`Not a whole number of minor units: ${amount}`)
  const exponent = minorUnitExponent(currency)
  const decimals = displayDecimals(amount, currency)
  const digits = String(Math.abs(amount)).padStart(exponent + 1, '0')
  const whole = digits.slice(0, digits.length - exponent)
  const fraction = digits.slice(digits.length - exponent, digits.length - exponent + decimals)
  return `${amount < 0 ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`
}

const formats = new Map<string, Intl.NumberFormat | null>()

function formatFor(code: string, decimals: number): Intl.NumberFormat | null {
  const key = `${code}:${decimals}`
  let format = formats.get(key)
  if (format === undefined) {
    try {
      format = new Intl.NumberFormat('en', {
        style: 'currency',
        currency: code,
        minimumFractionDigits: decimals,
        maximumFractionDigits: decimals,
      })
    } catch {
      format = null // not a well-formed currency code
    }
    formats.set(key, format)
  }
  return format
}

/**
 * Formats integer minor units for people, with the currency's own decimals: 1250 usd →
 * "$12.50", 1000 jpy → "¥1,000", 5120 kwd → "KWD 5.120". The digits are handed to Intl as
 * text, so no amount is ever rounded on its way to the page.
 */
export function formatMoney(amount: number, currency: string): string {
  const code = currency.toUpperCase()
  const text = toMajorUnits(amount, currency)
  const format = formatFor(code, displayDecimals(amount, currency))
  // Intl formats a decimal string exactly (ES2023's Intl.NumberFormat v3).
  return format ? format.format(text as `${number}`) : `${code} ${text}`
}

const examples = ['500', '5.0', '5.00', '5.000'] as const
const example = (exponent: number) => examples[exponent] ?? '5.00'
const TOO_MANY_DECIMALS: Record<number, string> = {
  2: 'Use at most two decimal places, like 5.55.',
  3: 'Use at most three decimal places, like 5.250.',
}

/**
 * An amount a person typed in major units of `currency` ("5", "5.5", "5.00" for USD; "1000"
 * for JPY; "5.120" for KWD) as integer minor units. Parsed from the digits, never through
 * floating point; more decimals than the currency has are refused rather than rounded (unless
 * they are zeros): a price is never guessed. Whether Stripe can charge it is `chargeProblem`'s question.
 */
export function parseMajorUnits(
  text: string,
  currency: string,
): { ok: true; amount: number } | { ok: false; message: string } {
  const exponent = minorUnitExponent(currency)
  const like = example(exponent)
  const value = text.trim()
  if (value === '') return { ok: false, message: `Enter an amount, like ${like}.` }
  if (value.startsWith('-')) return { ok: false, message: 'The amount must be more than zero.' }
  if (value.includes(',')) {
    const big = exponent === 0 ? '1500' : `1500.${'0'.repeat(exponent)}`
    const how = exponent === 0 ? 'no thousands separators' : 'a dot for decimals and no thousands separators'
    return { ok: false, message: `Write the amount with ${how}, like ${big}.` }
  }
  const decimals = /^\d*\.(\d+)$/.exec(value)?.[1]
  // Decimals past the currency's own are refused unless they are zeros ("1000.00" yen is ¥1,000 exactly).
  if (decimals !== undefined && /[1-9]/.test(decimals.slice(exponent))) {
    const message =
      TOO_MANY_DECIMALS[exponent] ??
      `${currency.toUpperCase()} has no decimal places: write a whole number, like ${like}.`
    return { ok: false, message }
  }
  const match = /^(\d{1,9})(?:\.(\d+))?$|^\.(\d+)$/.exec(value)
  if (!match) return { ok: false, message: `Enter the amount as a number, like ${like}.` }
  const whole = match[1] ?? '0'
  const fraction = (match[2] ?? match[3] ?? '').slice(0, exponent).padEnd(exponent, '0')
  return { ok: true, amount: Number(whole) * 10 ** exponent + Number(fraction || '0') }
}

/**
 * `parseMajorUnits` in `currency` as a zod schema, for forms: the amount's decimals depend on
 * the currency, so read that first. For a currency Stripe charges in, an amount it would
 * refuse (KWD 5.125, ISK 500.50) is refused here, with Stripe's rule.
 */
export const majorUnits = (currency: string) =>
  z.string({ error: `Enter an amount, like ${example(minorUnitExponent(currency))}.` }).transform((text, ctx) => {
    const parsed = parseMajorUnits(text, currency)
    if (!parsed.ok) {
      ctx.addIssue({ code: 'custom', message: parsed.message })
      return z.NEVER
    }
    // A currency Stripe does not charge in is the currency field's error, not the amount's.
    const problem = isStripeCurrency(currency) ? chargeProblem(parsed.amount, currency) : null
    if (problem) {
      ctx.addIssue({ code: 'custom', message: problem })
      return z.NEVER
    }
    return parsed.amount
  })

/** An amount sent by an API client: already integer minor units of its currency. */
export const minorUnits = z
  .number({ error: 'The amount must be a number of minor units (cents), such as 1250 for 12.50.' })
  .int({ error: 'The amount must be a whole number of minor units (cents), such as 1250 for 12.50.' })
