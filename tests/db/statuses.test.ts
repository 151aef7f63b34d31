import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rowsOf } from '../../src/db/client'
import {
  inList,
  inListText,
  LIVE_STATUSES,
  NEVER_STARTED_STATUSES,
  PAID_UP_STATUSES,
  PAYING_STATUSES,
} from '../../src/db/statuses'
import { membershipStatus } from '../../src/entitlements/membership'
import { ACTIVE_SUPPORTER_STATUSES, statusSql, SUPPORTER_STATUSES } from '../../src/db/supporter-figures'
import { createTestDatabase, type TestDatabase } from '../helpers/db'

/** Every status a Stripe subscription can have (Stripe's API reference, `subscription.status`). */
const STRIPE_STATUSES = [
  'active',
  'trialing',
  'past_due',
  'incomplete',
  'incomplete_expired',
  'canceled',
  'unpaid',
  'paused',
] as const

const SETS: [string, readonly string[]][] = [
  ['PAYING_STATUSES', PAYING_STATUSES],
  ['PAID_UP_STATUSES', PAID_UP_STATUSES],
  ['LIVE_STATUSES', LIVE_STATUSES],
  ['NEVER_STARTED_STATUSES', NEVER_STARTED_STATUSES],
]

const NOW = new Date('2026-06-01T12:00:00Z')
const DAY = 86_400_000
const has = (set: readonly string[], status: string) => set.includes(status)

let database: TestDatabase
beforeAll(async () => {
  database = await createTestDatabase()
})
afterAll(async () => {
  await database?.close()
})

/** Whether the database finds each of `values` in the SQL list of `set`. */
async function inSql(values: readonly string[], set: readonly string[]): Promise<Record<string, boolean>> {
  const rows = await rowsOf<{ value: string; found: boolean }>(
    database.db,
    sql`select v.value, v.value in ${inList(set)} as found
      from (values ${sql.join(
        values.map((v) => sql`(${v}::text)`),
        sql`, `,
      )}) as v(value)`,
  )
  return Object.fromEntries(rows.map((r) => [r.value, r.found]))
}

describe.each(SETS)('%s', (_name, set) => {
  it('holds Stripe statuses only, each once', () => {
    for (const status of set) expect(STRIPE_STATUSES).toContain(status)
    expect(new Set(set).size).toBe(set.length)
  })

  it('as SQL, matches exactly the statuses it holds in TS', async () => {
    const expected = Object.fromEntries(STRIPE_STATUSES.map((s) => [s, has(set, s)]))
    expect(await inSql(STRIPE_STATUSES, set)).toEqual(expected)
  })
})

describe('the status sets', () => {
  it('nest: paid up ⊂ paying ⊂ live, and a subscription that never started is not paying', () => {
    for (const s of PAID_UP_STATUSES) expect(PAYING_STATUSES).toContain(s)
    for (const s of PAYING_STATUSES) expect(LIVE_STATUSES).toContain(s)
    for (const s of NEVER_STARTED_STATUSES) expect(PAYING_STATUSES).not.toContain(s)
  })

  it('are written into SQL only as status names', () => {
    expect(inListText(PAID_UP_STATUSES)).toBe(`('active', 'trialing')`)
    expect(() => inListText(['active', `x') or (true`])).toThrow(/not a status/)
  })

  // Within an open period, before the grace period of a failed payment ends, and whether or not the
  // member has cancelled at the period's end.
  it.each(
    STRIPE_STATUSES.flatMap((status) => [false, true].map((cancelAtPeriodEnd) => ({ status, cancelAtPeriodEnd }))),
  )(
    'membershipStatus can entitle $status (cancelling: $cancelAtPeriodEnd) exactly when it is a paying status',
    ({ status, cancelAtPeriodEnd }) => {
      const state = { status, cancelAtPeriodEnd, currentPeriodEnd: new Date(NOW.getTime() + 20 * DAY) }
      const graceDays = 7
      for (const pastDueSince of [null, new Date(NOW.getTime() - DAY)]) {
        const membership = membershipStatus({ ...state, pastDueSince }, NOW, graceDays)
        expect(membership.entitled, `past due since ${pastDueSince?.toISOString()}`).toBe(has(PAYING_STATUSES, status))
      }
    },
  )
})

describe('ACTIVE_SUPPORTER_STATUSES', () => {
  it('as SQL, matches exactly the supporter statuses it holds in TS', async () => {
    const expected = Object.fromEntries(SUPPORTER_STATUSES.map((s) => [s, has(ACTIVE_SUPPORTER_STATUSES, s)]))
    expect(await inSql(SUPPORTER_STATUSES, ACTIVE_SUPPORTER_STATUSES)).toEqual(expected)
  })

  it('holds the status of a supporter whose only membership is a subscription exactly when it is paying', async () => {
    const periodEnd = new Date(NOW.getTime() + 20 * DAY).toISOString()
    // A row of the supporters table (columns statusSql reads): one subscription, nothing paid yet, no comp.
    const rows = await rowsOf<{ sub_status: string; status: string }>(
      database.db,
      sql`select s.sub_status, ${statusSql(NOW)} as status
        from (values ${sql.join(
          STRIPE_STATUSES.map((status) => sql`(${status}::text, false, ${periodEnd}::timestamptz)`),
          sql`, `,
        )}) as v(sub_status, cancel_at_period_end, current_period_end),
        lateral (select v.*, null::text as grant_source, null::timestamptz as grant_starts_at,
          null::timestamptz as grant_ends_at, 0::bigint as lifetime_amount) as s`,
    )
    expect(rows).toHaveLength(STRIPE_STATUSES.length)
    for (const row of rows) {
      expect(has(ACTIVE_SUPPORTER_STATUSES, row.status), `${row.sub_status} → ${row.status}`).toBe(
        has(PAYING_STATUSES, row.sub_status),
      )
      expect(row.status === 'never_paid', `${row.sub_status} → ${row.status}`).toBe(
        has(NEVER_STARTED_STATUSES, row.sub_status),
      )
    }
  })
})
