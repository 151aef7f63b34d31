import * as z from 'zod'

/** Formats integer minor units for people: 1250 usd → "$12.50". */
export function formatMoney(amount: number, currency: string): string {
  return new Intl.NumberFormat('en', { style: 'currency', currency: currency.toUpperCase() }).format(amount / 100)
}

/**
 * An amount typed by a person in major units ("5", "5.5", "5.00") as integer
 * minor units. Parsed from the digits, never through floating point, and more
 * than two decimals is refused rather than rounded: a price is never guessed.
 */
export function parseMajorUnits(text: string): { ok: true; amount: number } | { ok: false; message: string } {
  const value = text.trim()
  if (value === '') return { ok: false, message: 'Enter an amount, like 5.00.' }
  if (value.startsWith('-')) return { ok: false, message: 'The amount must be more than zero.' }
  if (value.includes(',')) {
    return { ok: false, message: 'Write the amount with a dot for decimals and no thousands separators, like 1500.00.' }
  }
  if (/^\d*\.\d{3,}$/.test(value)) return { ok: false, message: 'Use at most two decimal places, like 5.55.' }
  const match = /^(\d{1,9})(?:\.(\d{1,2}))?$|^\.(\d{1,2})$/.exec(value)
  if (!match) return { ok: false, message: 'Enter the amount as a number, like 5.00.' }
  const whole = match[1] ?? '0'
  const fraction = (match[2] ?? match[3] ?? '').padEnd(2, '0')
  return { ok: true, amount: Number(whole) * 100 + Number(fraction) }
}

/** Minor units as a person types them back into a form: 500 → "5.00". */
export function toMajorUnits(amount: number): string {
  return `${Math.trunc(amount / 100)}.${String(amount % 100).padStart(2, '0')}`
}

/** `parseMajorUnits` as a zod schema, for forms. */
export const majorUnits = z.string({ error: 'Enter an amount, like 5.00.' }).transform((text, ctx) => {
  const parsed = parseMajorUnits(text)
  if (parsed.ok) return parsed.amount
  ctx.addIssue({ code: 'custom', message: parsed.message })
  return z.NEVER
})

/** An amount sent by an API client: already integer minor units. */
export const minorUnits = z
  .number({ error: 'The amount must be a number of minor units (cents), such as 1250 for 12.50.' })
  .int({ error: 'The amount must be a whole number of minor units (cents), such as 1250 for 12.50.' })
