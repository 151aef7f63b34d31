/**
 * The currencies Stripe can charge in (its "presentment currencies", docs.stripe.com/currencies),
 * each with the exponent of its minor unit in Stripe's API: how many decimal places an amount
 * of it has. Every amount Masthead stores, sends or receives is an integer of these minor units,
 * so 1000 is ¥1,000, $10.00 or KWD 1.000 depending on the currency beside it.
 *
 * Stripe's own rules, as its currencies page states them:
 * - Zero-decimal currencies (JPY, KRW, …): the amount is the charge, not multiplied by 100.
 * - Three-decimal currencies (BHD, JOD, KWD, OMR, TND): amounts in thousandths, whose last digit
 *   must be 0 for Stripe's payment partners (5.124 KWD is refused; 5.120 or 5.130 it takes).
 * - ISK: two decimals in the API "for backwards compatibility", but charged in whole krónur
 *   only, so an amount must be evenly divisible by 100 (ISK 5 is 500).
 * - HUF and TWD: two decimals; Stripe pays them out as zero-decimal (whole units only), but
 *   charges may have decimals, and Masthead only charges.
 * - UGX: zero-decimal for charges, as listed; its payout rule likewise concerns payouts only.
 */

export type Exponent = 0 | 2 | 3

const ZERO_DECIMAL = [
  'bif',
  'clp',
  'djf',
  'gnf',
  'jpy',
  'kmf',
  'krw',
  'mga',
  'pyg',
  'rwf',
  'ugx',
  'vnd',
  'vuv',
  'xaf',
  'xof',
  'xpf',
] as const

const THREE_DECIMAL = ['bhd', 'jod', 'kwd', 'omr', 'tnd'] as const

// prettier-ignore
const TWO_DECIMAL = [
  'usd', 'aed', 'afn', 'all', 'amd', 'ang', 'aoa', 'ars', 'aud', 'awg', 'azn', 'bam', 'bbd', 'bdt', 'bgn', 'bmd',
  'bnd', 'bob', 'brl', 'bsd', 'bwp', 'byn', 'bzd', 'cad', 'cdf', 'chf', 'cny', 'cop', 'crc', 'cve', 'czk', 'dkk',
  'dop', 'dzd', 'egp', 'etb', 'eur', 'fjd', 'fkp', 'gbp', 'gel', 'gip', 'gmd', 'gtq', 'gyd', 'hkd', 'hnl', 'htg',
  'huf', 'idr', 'ils', 'inr', 'isk', 'jmd', 'kes', 'kgs', 'khr', 'kyd', 'kzt', 'lak', 'lbp', 'lkr', 'lrd', 'lsl',
  'mad', 'mdl', 'mkd', 'mmk', 'mnt', 'mop', 'mur', 'mvr', 'mwk', 'mxn', 'myr', 'mzn', 'nad', 'ngn', 'nio', 'nok',
  'npr', 'nzd', 'pab', 'pen', 'pgk', 'php', 'pkr', 'pln', 'qar', 'ron', 'rsd', 'rub', 'sar', 'sbd', 'scr', 'sek',
  'sgd', 'shp', 'sle', 'sos', 'srd', 'std', 'szl', 'thb', 'tjs', 'top', 'try', 'ttd', 'twd', 'tzs', 'uah', 'uyu',
  'uzs', 'wst', 'xcd', 'xcg', 'yer', 'zar', 'zmw',
] as const

export type StripeCurrency =
  (typeof ZERO_DECIMAL)[number] | (typeof THREE_DECIMAL)[number] | (typeof TWO_DECIMAL)[number]

/** Every currency Stripe can charge in, lower-case as its API wants them, with its exponent. */
export const STRIPE_CURRENCIES: ReadonlyMap<StripeCurrency, Exponent> = new Map<StripeCurrency, Exponent>(
  [
    ...ZERO_DECIMAL.map((code) => [code, 0] as const),
    ...TWO_DECIMAL.map((code) => [code, 2] as const),
    ...THREE_DECIMAL.map((code) => [code, 3] as const),
  ].sort(([a], [b]) => a.localeCompare(b)),
)

/** Whether Stripe can charge in this currency (any case). */
export function isStripeCurrency(code: string): code is StripeCurrency {
  return STRIPE_CURRENCIES.has(code.toLowerCase() as StripeCurrency)
}

const isoExponents = new Map<string, number>()

/**
 * Decimal places of a currency's minor unit, as Stripe counts them. A code Stripe does not
 * charge in (an imported record's, say) falls back to ISO 4217's count as the runtime knows
 * it, and to 2 for a code it does not know either.
 */
export function minorUnitExponent(code: string): number {
  const lower = code.toLowerCase()
  const stripe = STRIPE_CURRENCIES.get(lower as StripeCurrency)
  if (stripe !== undefined) return stripe
  let iso = isoExponents.get(lower)
  if (iso === undefined) {
    try {
      iso = new Intl.NumberFormat('en', { style: 'currency', currency: lower }).resolvedOptions().maximumFractionDigits
    } catch {
      iso = 2
    }
    isoExponents.set(lower, iso ?? 2)
  }
  return iso ?? 2
}

/**
 * The step a chargeable amount of this currency moves in, in minor units: 10 for the
 * three-decimal currencies (the last digit must be 0), 100 for ISK (whole krónur), else 1.
 */
export function chargeStep(code: string): number {
  const lower = code.toLowerCase()
  if (lower === 'isk') return 100
  return STRIPE_CURRENCIES.get(lower as StripeCurrency) === 3 ? 10 : 1
}

/**
 * Decimal places to show an amount with. The exponent, except where Stripe charges only whole
 * units although its API keeps decimals (ISK): those are shown whole unless an old amount
 * really has a fraction.
 */
export function displayDecimals(amount: number, code: string): number {
  const exponent = minorUnitExponent(code)
  const step = chargeStep(code)
  if (step === 10 ** exponent && amount % step === 0) return 0
  return exponent
}

/**
 * Why Stripe would refuse to charge this amount of this currency, or null if it would not.
 * `as` says how the person wrote it: typed in major units (a form) or sent in minor units (the API).
 */
export function chargeProblem(amount: number, code: string, as: 'typed' | 'minor' = 'typed'): string | null {
  const upper = code.toUpperCase()
  if (!isStripeCurrency(code)) return `Stripe cannot charge in ${upper}.`
  const step = chargeStep(code)
  if (amount % step === 0) return null
  if (step === 100) {
    return as === 'typed'
      ? `${upper} is charged in whole units only: leave out the decimals, like 500.`
      : `${upper} is charged in whole units only: send a multiple of 100 minor units, such as 50000 for ${upper} 500.`
  }
  return as === 'typed'
    ? `${upper} is charged in steps of 0.010: the third decimal must be 0, like 5.120.`
    : `${upper} is charged in steps of 10 minor units: the last digit must be 0, such as 5120 for ${upper} 5.120.`
}
