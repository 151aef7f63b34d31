import { sql, type SQL } from 'drizzle-orm'
import { rowsOf, type Database } from './client'
import { inList, NEVER_STARTED_STATUSES, PAYING_STATUSES } from './statuses'

/**
 * What the supporters summary table (drizzle/0006; src/db/routines.ts) says about supporters as a
 * whole: each one's status now, and the two headline figures, active supporters and monthly
 * recurring revenue. The editors' dashboard (src/supporters/metrics.ts) and the join page's goal
 * meter (src/billing/goal.ts) both read them here, so the meter shows the dashboard's figures.
 */

/** The statuses of a supporter whose membership has not ended: the metrics' active supporters. */
export const ACTIVE_SUPPORTER_STATUSES = ['active', 'trialing', 'past_due', 'canceled_at_period_end'] as const
/** A supporter's status, as `statusSql` derives it and the list filters by it. */
export const SUPPORTER_STATUSES = [...ACTIVE_SUPPORTER_STATUSES, 'ended', 'never_paid'] as const
export type SupporterStatus = (typeof SUPPORTER_STATUSES)[number]

/**
 * A supporter's state now, from the raw fields the table keeps: the same
 * states as `membershipStatus` (src/entitlements/membership.ts), plus comps and
 * Patreon memberships (active while current) and "never paid".
 */
export function statusSql(now: Date): SQL {
  const at = sql`${now.toISOString()}::timestamptz`
  return sql`(case
    when s.sub_status = 'trialing' then 'trialing'
    when s.sub_status = 'active' and not s.cancel_at_period_end then 'active'
    when s.sub_status = 'active' and s.cancel_at_period_end and s.current_period_end > ${at} then 'canceled_at_period_end'
    when s.sub_status = 'past_due' then 'past_due'
    when s.grant_source is not null and s.grant_starts_at <= ${at}
      and (s.grant_ends_at is null or s.grant_ends_at > ${at}) then 'active'
    when s.lifetime_amount > 0 or s.grant_source is not null
      or s.sub_status is not null and s.sub_status not in ${inList(NEVER_STARTED_STATUSES)} then 'ended'
    else 'never_paid' end)`
}

/** Brings the rows that changes have marked up to date (drizzle/0006_supporters.sql); the list is exact when read. */
export async function refreshSupporters(db: Database): Promise<number> {
  const [row] = await rowsOf<{ n: number | string }>(db, sql`select masthead_refresh_dirty_supporters() as n`)
  return Number(row?.n ?? 0)
}

/** Supporters whose membership has not ended (ACTIVE_SUPPORTER_STATUSES), now. */
export async function activeSupporterCount(db: Database, now: Date): Promise<number> {
  const [active] = await rowsOf<{ n: string | number }>(
    db,
    sql`select count(*) as n from supporters s where ${statusSql(now)} in ${inList(ACTIVE_SUPPORTER_STATUSES)}`,
  )
  return Number(active?.n ?? 0)
}

/** Monthly recurring revenue by currency, minor units: yearly amounts divided by 12, rounded. One currency if given. */
export async function monthlyRevenue(
  db: Database,
  now: Date,
  currency?: string,
): Promise<{ currency: string; amount: number }[]> {
  const at = sql`${now.toISOString()}::timestamptz`
  const rows = await rowsOf<{ currency: string; amount: string | number }>(
    db,
    sql`select s.currency, round(sum(case when s.interval = 'year' then s.amount / 12.0 else s.amount end)) as amount
      from supporters s
      where s.sub_status in ${inList(PAYING_STATUSES)} and s.amount is not null
        and not (s.cancel_at_period_end and s.current_period_end <= ${at})
        ${currency === undefined ? sql`` : sql`and s.currency = ${currency}`}
      group by s.currency order by s.currency`,
  )
  return rows.map((r) => ({ currency: r.currency, amount: Number(r.amount) }))
}
