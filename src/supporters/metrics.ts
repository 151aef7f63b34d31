import { sql } from 'drizzle-orm'
import { rowsOf, type Database } from '../db/client'
import { inList, NEVER_STARTED_STATUSES } from '../db/statuses'
import { activeSupporterCount, monthlyRevenue, refreshSupporters, statusSql } from '../db/supporter-figures'

export interface Metrics {
  activeSupporters: number
  /** Monthly recurring revenue by currency, minor units: yearly prices divided by 12. */
  mrr: { currency: string; amount: number }[]
  newLast30Days: number
  churnedLast30Days: number
  donationsThisMonth: { currency: string; amount: number; count: number }[]
  /** Active supporters at the end of each of the last 12 months (the last point is now). */
  trend: { month: string; active: number }[]
}

export async function metricsAt(db: Database, now: Date): Promise<Metrics> {
  await refreshSupporters(db)
  const at = sql`${now.toISOString()}::timestamptz`
  const activeSupporters = await activeSupporterCount(db, now)
  const mrr = await monthlyRevenue(db, now)
  const [moves] = await rowsOf<{ fresh: string | number; churned: string | number }>(
    db,
    sql`select
      (select count(*) from supporters s where s.since > ${at} - interval '30 days' and s.since <= ${at}) as fresh,
      (select count(*) from supporters s where ${statusSql(now)} = 'ended' and exists (
          select 1 from subscriptions sub join stripe_customers sc on sc.customer_id = sub.customer_id
          where sc.user_id = s.user_id and sub.ended_at > ${at} - interval '30 days' and sub.ended_at <= ${at}
        union all
          select 1 from all_grants g where g.user_id = s.user_id
            and least(coalesce(g.ends_at, 'infinity'), coalesce(g.revoked_at, 'infinity')) > ${at} - interval '30 days'
            and least(coalesce(g.ends_at, 'infinity'), coalesce(g.revoked_at, 'infinity')) <= ${at})) as churned`,
  )
  const donations = await rowsOf<{ currency: string; amount: string | number; count: string | number }>(
    db,
    sql`select p.currency, sum(p.amount) as amount, count(*) as count from payments p
      where p.kind = 'donation' and p.occurred_at >= date_trunc('month', ${at}, 'UTC') and p.occurred_at <= ${at}
      group by p.currency order by p.currency`,
  )
  const trend = await rowsOf<{ month: Date | string; active: string | number }>(
    db,
    sql`with months as (
        -- the ends of the last 11 whole months, and now
        select case when i = 12 then ${at} else date_trunc('month', ${at}, 'UTC') - make_interval(months => 11 - i) end as m
        from generate_series(1, 12) i),
      spans as (
        select sc.user_id, s.stripe_created_at as from_t, coalesce(s.ended_at, 'infinity') as to_t
          from subscriptions s join stripe_customers sc on sc.customer_id = s.customer_id
          where s.status not in ${inList(NEVER_STARTED_STATUSES)}
        union all
        select g.user_id, g.starts_at, least(coalesce(g.ends_at, 'infinity'), coalesce(g.revoked_at, 'infinity')) from all_grants g)
      select months.m as month, count(distinct spans.user_id) as active
      from months left join spans on spans.from_t <= months.m and spans.to_t > months.m
      group by months.m order by months.m`,
  )
  return {
    activeSupporters,
    mrr,
    newLast30Days: Number(moves?.fresh ?? 0),
    churnedLast30Days: Number(moves?.churned ?? 0),
    donationsThisMonth: donations.map((r) => ({
      currency: r.currency,
      amount: Number(r.amount),
      count: Number(r.count),
    })),
    trend: trend.map((r) => ({ month: new Date(r.month).toISOString().slice(0, 10), active: Number(r.active) })),
  }
}
