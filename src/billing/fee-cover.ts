import type { Config } from '../config'
import { chargeStep } from '../util/currencies'
import { formatMoney, parseMajorUnits } from '../util/money'

type FeeConfig = Pick<Config, 'FEE_COVER_PERCENT' | 'FEE_COVER_FIXED' | 'SUPPORTED_CURRENCIES'>

/** Whether donors are offered to cover the fees: off when FEE_COVER_PERCENT and FEE_COVER_FIXED are both 0. */
export function offersFeeCover(config: FeeConfig): boolean {
  return config.FEE_COVER_PERCENT > 0 || config.SUPPORTED_CURRENCIES.some((currency) => fixedPart(config, currency) > 0)
}

/**
 * FEE_COVER_FIXED in minor units of `currency`: the entry naming it, else a bare amount for the
 * main currency (the first of SUPPORTED_CURRENCIES); a currency named nowhere adds no fixed part.
 * Validated when the config was read (src/config.ts), so it parses.
 */
export function fixedPart(config: FeeConfig, currency: string): number {
  const main = config.SUPPORTED_CURRENCIES[0]
  const entry =
    config.FEE_COVER_FIXED.find((fixed) => fixed.currency === currency) ??
    (currency === main ? config.FEE_COVER_FIXED.find((fixed) => fixed.currency === null) : undefined)
  if (!entry) return 0
  const parsed = parseMajorUnits(entry.amount, currency)
  return parsed.ok ? parsed.amount : 0
}

/**
 * What covering the fees adds to `amount` (integer minor units of `currency`): FEE_COVER_PERCENT
 * of it, rounded up to the next minor unit, plus the fixed part, the sum rounded up to what
 * Stripe charges in (whole krónur for ISK, steps of 10 for three-decimal currencies: chargeStep).
 * Integer arithmetic throughout (the percentage is held in basis points):
 * ⌈(⌈amount × bp / 10,000⌉ + fixed) / step⌉ × step. Rounding up: the newsroom never gets less.
 */
export function feeCoverFor(config: FeeConfig, amount: number, currency: string): number {
  if (amount <= 0) return 0
  const percent = Math.floor((amount * config.FEE_COVER_PERCENT + 9_999) / 10_000)
  const step = chargeStep(currency)
  return Math.floor((percent + fixedPart(config, currency) + step - 1) / step) * step
}

/** The rule in words, for the page without its script: "2.9% + $0.30". */
export function feeCoverRuleWords(config: FeeConfig, currency: string): string {
  const bp = config.FEE_COVER_PERCENT
  // Basis points as JavaScript prints the fraction, shortest: 290 → "2.9%", 295 → "2.95%", 300 → "3%".
  const percent = bp > 0 ? `${bp / 100}%` : ''
  const fixed = fixedPart(config, currency)
  return [percent, fixed > 0 ? formatMoney(fixed, currency) : ''].filter(Boolean).join(' + ')
}

/** The checkbox's words, as the admin wrote them (FEE_COVER_WORDING). */
export const feeCoverWording = (config: Pick<Config, 'FEE_COVER_WORDING' | 'PUBLICATION_NAME'>) =>
  config.FEE_COVER_WORDING.replaceAll('{publication}', config.PUBLICATION_NAME)
