import type { Config } from '../config'
import type { Benefit } from '../db/schema'
import { parseMajorUnits } from '../util/money'

/** How often a gift is given: once is a payment, monthly and yearly are subscriptions (a pledge). */
export const FREQUENCIES = ['once', 'monthly', 'yearly'] as const
export type Frequency = (typeof FREQUENCIES)[number]

export const FREQUENCY_WORDS: Record<Frequency, { label: string; per: string }> = {
  once: { label: 'Once', per: '' },
  monthly: { label: 'Monthly', per: ' a month' },
  yearly: { label: 'Yearly', per: ' a year' },
}

/** The Stripe interval of a recurring gift. */
export const intervalOf = (frequency: Exclude<Frequency, 'once'>) => (frequency === 'monthly' ? 'month' : 'year')

export interface Suggestion {
  /** Major units as the admin wrote them: what the form sends back. */
  text: string
  /** Integer minor units in `currency`. */
  amount: number
  chosen: boolean
}

/** The admin's suggested amounts for a frequency (SUGGESTED_AMOUNTS_*), in `currency`'s minor units. */
export function suggestionsFor(config: Config, frequency: Frequency, currency: string): Suggestion[] {
  const set = {
    once: config.SUGGESTED_AMOUNTS_ONCE,
    monthly: config.SUGGESTED_AMOUNTS_MONTH,
    yearly: config.SUGGESTED_AMOUNTS_YEAR,
  }[frequency]
  return set.amounts.flatMap((text, i) => {
    const parsed = parseMajorUnits(text, currency)
    return parsed.ok ? [{ text, amount: parsed.amount, chosen: i === set.defaultIndex }] : []
  })
}

/**
 * What each benefit means to a reader, in plain words, in the order they are listed. (The
 * staff pages name them differently: BENEFIT_LABELS in tiers/tiers.ts.)
 */
const BENEFIT_WORDS: Record<Benefit, string> = {
  adFree: 'No ads',
  supportersOnlyContent: 'Supporters-only articles',
  earlyAccess: 'Read new stories first',
  hideSupportPrompts: 'No more asking',
}

export const benefitWords = (benefits: readonly string[]): string[] =>
  (Object.keys(BENEFIT_WORDS) as Benefit[]).filter((b) => benefits.includes(b)).map((b) => BENEFIT_WORDS[b])
