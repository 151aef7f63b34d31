import { sql } from 'drizzle-orm'
import { rowsOf, type Database } from '../db/client'
import { inList, PAYING_STATUSES } from '../db/statuses'

/**
 * How the move from Patreon stands, for the import page and the API: the imported patrons who now
 * pay through Stripe (moved), the active ones who do not yet, and those whose Patreon membership
 * lapsed (declined or former) without moving; with what each side brings in a month, by currency
 * (an annual amount counts as a twelfth). Counts and sums only: no one is named.
 */
export interface MoveStatus {
  moved: { patrons: number; monthly: Monthly[] }
  notYet: { patrons: number; monthly: Monthly[] }
  lapsed: { patrons: number }
}

/** Minor units a month in one currency. */
export interface Monthly {
  currency: string
  amount: number
}

export async function moveStatus(db: Database): Promise<MoveStatus> {
  const paying = sql`select sc.user_id, s.amount, s.interval, s.currency from subscriptions s
    join stripe_customers sc on sc.customer_id = s.customer_id where s.status in ${inList(PAYING_STATUSES)}`
  const [counts] = await rowsOf<{ moved: number | string; not_yet: number | string; lapsed: number | string }>(
    db,
    sql`select
        count(*) filter (where p.user_id is not null) as moved,
        count(*) filter (where p.user_id is null and pm.status = 'active') as not_yet,
        count(*) filter (where p.user_id is null and pm.status in ('declined', 'former')) as lapsed
      from patreon_members pm
      left join (select distinct user_id from (${paying}) x) p on p.user_id = pm.user_id
      where pm.status <> 'none'`,
  )
  const stripeSide = await rowsOf<{ currency: string; amount: number | string }>(
    db,
    sql`select x.currency, round(sum(case when x.interval = 'year' then x.amount / 12.0 else x.amount end)) as amount
      from (${paying}) x where x.user_id in (select user_id from patreon_members where status <> 'none')
      group by x.currency order by x.currency`,
  )
  const patreonSide = await rowsOf<{ currency: string; amount: number | string }>(
    db,
    sql`select pm.currency, round(sum(case when lower(coalesce(pm.charge_frequency, 'monthly')) like 'annual%'
          then pm.pledge_amount / 12.0 else pm.pledge_amount end)) as amount
      from patreon_members pm
      where pm.status = 'active' and pm.pledge_amount is not null and pm.currency is not null
        and pm.user_id not in (select user_id from (${paying}) x)
      group by pm.currency order by pm.currency`,
  )
  const monthly = (rows: { currency: string; amount: number | string }[]) =>
    rows.map((r) => ({ currency: r.currency, amount: Number(r.amount) }))
  return {
    moved: { patrons: Number(counts?.moved ?? 0), monthly: monthly(stripeSide) },
    notYet: { patrons: Number(counts?.not_yet ?? 0), monthly: monthly(patreonSide) },
    lapsed: { patrons: Number(counts?.lapsed ?? 0) },
  }
}
