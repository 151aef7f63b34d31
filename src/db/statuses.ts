import { sql, type SQL } from 'drizzle-orm'

/**
 * Which Stripe subscription statuses count for what: defined here once, and
 * used both as TS values and as SQL (`inList`), so the session's entitlement
 * facts, the supporters table, metrics, invitations and checkout agree.
 * (Which *membership* a status means, with its grace period, is decided in
 * src/entitlements/membership.ts.)
 */

/** A subscription that makes its customer a paying member (benefits may still be in their grace period). */
export const PAYING_STATUSES = ['active', 'trialing', 'past_due'] as const

/** A subscription paid up: it replaces a comp (drizzle/0006, masthead_end_comps_of_payers). */
export const PAID_UP_STATUSES = ['active', 'trialing'] as const

/**
 * A subscription under which a second one must not be sold (Ghost PR #28508);
 * `incomplete` only while Stripe may still complete it (billing/customers.ts).
 */
export const LIVE_STATUSES = [...PAYING_STATUSES, 'incomplete'] as const

/**
 * A subscription whose first payment has not succeeded (or never did): it has not made its
 * customer a supporter (the supporter list's "never paid", the metrics' trend).
 */
export const NEVER_STARTED_STATUSES = ['incomplete', 'incomplete_expired'] as const

/** The SQL list `('a', 'b')` of a status set, for `column in ${inList(SET)}`. Values are fixed above, never input. */
export function inList(values: readonly string[]): SQL {
  return sql.raw(inListText(values))
}

/** The same list as text, for SQL written as plain strings (src/db/routines.ts, the entitlement facts). */
export function inListText(values: readonly string[]): string {
  if (values.some((v) => !/^[a-z_]+$/.test(v))) throw new Error(`not a status: ${values.join(', ')}`)
  return `(${values.map((v) => `'${v}'`).join(', ')})`
}
