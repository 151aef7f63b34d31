import type { Config } from '../config'
import type { Database } from '../db/client'
import { activeSupporterCount, monthlyRevenue, refreshSupporters } from '../db/supporter-figures'
import type { Clock } from '../services'
import { formatMoney, parseMajorUnits } from '../util/money'

/** How near the publication is to the goal an admin set (GOAL_SUPPORTERS or GOAL_MONTHLY_AMOUNT). */
export interface GoalProgress {
  kind: 'supporters' | 'monthly'
  /** Supporters, or minor units a month in `currency`. */
  current: number
  target: number
  currency: string
  /** "412 of 500 supporters", "$3,120.00 of $5,000.00 a month". */
  words: string
}

/** How long a reading is kept: the page and the prompts cost no query while it is fresh. */
export const GOAL_CACHE_MS = 60_000

/**
 * Per configuration (so per database: one app, one config object), the last reading and until
 * when it holds. A plain value, no socket or promise: safe to keep across requests on Workers
 * (an isolate keeps one per bindings object, as src/worker.ts keeps the config).
 */
const readings = new WeakMap<Config, { until: number; progress: GoalProgress }>()

/**
 * The goal's progress, or null when no goal is set. Read from the database at most once per
 * GOAL_CACHE_MS per configuration; every other view is answered from memory.
 */
export async function goalProgress(services: {
  config: Config
  db: Database
  clock: Clock
}): Promise<GoalProgress | null> {
  const { config, db, clock } = services
  const target = goalTarget(config)
  if (!target) return null
  const now = clock.now()
  const kept = readings.get(config)
  if (kept && now.getTime() < kept.until) return kept.progress
  // The dashboard's own figures (src/db/supporter-figures.ts), from the summary brought up to date first.
  await refreshSupporters(db)
  const current =
    target.kind === 'supporters'
      ? await activeSupporterCount(db, now)
      : ((await monthlyRevenue(db, now, target.currency))[0]?.amount ?? 0)
  const progress: GoalProgress = {
    ...target,
    current,
    words: wordsOf(target.kind, current, target.target, target.currency),
  }
  readings.set(config, { until: now.getTime() + GOAL_CACHE_MS, progress })
  return progress
}

function goalTarget(config: Config): Omit<GoalProgress, 'current' | 'words'> | null {
  const currency = config.SUPPORTED_CURRENCIES[0]!
  if (config.GOAL_SUPPORTERS !== undefined) return { kind: 'supporters', target: config.GOAL_SUPPORTERS, currency }
  if (config.GOAL_MONTHLY_AMOUNT === undefined) return null
  const parsed = parseMajorUnits(config.GOAL_MONTHLY_AMOUNT, currency) // checked when the config was read
  return parsed.ok ? { kind: 'monthly', target: parsed.amount, currency } : null
}

const count = new Intl.NumberFormat('en')
function wordsOf(kind: GoalProgress['kind'], current: number, target: number, currency: string): string {
  if (kind === 'supporters') return `${count.format(current)} of ${count.format(target)} supporters`
  return `${formatMoney(current, currency)} of ${formatMoney(target, currency)} a month`
}
