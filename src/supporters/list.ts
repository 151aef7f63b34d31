import { sql, type SQL } from 'drizzle-orm'
import * as z from 'zod'
import type { Config } from '../config'
import { rowsOf, type Database } from '../db/client'
import { INTERVALS } from '../db/schema'
import { inList, NEVER_STARTED_STATUSES } from '../db/statuses'
import { AppError } from '../http/errors'

/**
 * The supporter list: filters, search, sorts and keyset pages over the
 * `supporters` table (kept by triggers, drizzle/0006_supporters.sql).
 */

/** The statuses of a supporter whose membership has not ended: the metrics' active supporters. */
export const ACTIVE_SUPPORTER_STATUSES = ['active', 'trialing', 'past_due', 'canceled_at_period_end'] as const
/** A supporter's status, as `statusSql` derives it and the list filters by it. */
export const SUPPORTER_STATUSES = [...ACTIVE_SUPPORTER_STATUSES, 'ended', 'never_paid'] as const
export type SupporterStatus = (typeof SUPPORTER_STATUSES)[number]
export const SOURCES = ['stripe', 'donation', 'comp', 'patreon'] as const
export const SORTS = ['since', 'lifetime', 'name'] as const
export type Sort = (typeof SORTS)[number]

const day = z
  .string()
  .trim()
  .regex(/^\d{4}-\d{2}-\d{2}$/, { error: 'Dates look like 2026-11-25.' })
  .refine((d) => !Number.isNaN(new Date(`${d}T00:00:00Z`).getTime()), { error: 'That date does not exist.' })

const blankIsAbsent = (value: unknown) => (value === '' ? undefined : value)

/** The list's parameters, the same for the page, the JSON and the CSV. */
export const listQuerySchema = z.object({
  q: z.preprocess(
    blankIsAbsent,
    z.string().trim().max(200, { error: 'The search is at most 200 characters.' }).optional(),
  ),
  status: z.preprocess(
    blankIsAbsent,
    z.enum(SUPPORTER_STATUSES, { error: `The status must be one of ${SUPPORTER_STATUSES.join(', ')}.` }).optional(),
  ),
  tier: z.preprocess(blankIsAbsent, z.string().trim().max(64).optional()),
  interval: z.preprocess(blankIsAbsent, z.enum(INTERVALS, { error: 'The interval must be month or year.' }).optional()),
  source: z.preprocess(
    blankIsAbsent,
    z.enum(SOURCES, { error: `The source must be one of ${SOURCES.join(', ')}.` }).optional(),
  ),
  patreon: z.preprocess(
    blankIsAbsent,
    z.enum(['moved', 'not_moved'], { error: 'Patreon must be moved or not_moved.' }).optional(),
  ),
  since_from: z.preprocess(blankIsAbsent, day.optional()),
  since_to: z.preprocess(blankIsAbsent, day.optional()),
  sort: z.preprocess(blankIsAbsent, z.enum(SORTS, { error: `Sort by ${SORTS.join(', ')}.` }).default('since')),
  limit: z.preprocess(
    blankIsAbsent,
    z.coerce
      .number({ error: 'The limit must be a number.' })
      .int({ error: 'The limit must be a whole number.' })
      .min(1, { error: 'The limit must be at least 1.' })
      .max(200, { error: 'The limit must be at most 200.' })
      .default(50),
  ),
  cursor: z.preprocess(blankIsAbsent, z.string().max(500).optional()),
})
export type ListQuery = z.output<typeof listQuerySchema>

/** Reads the list's parameters from a query string; a bad one is a 422 naming it. */
export function parseListQuery(query: Record<string, string>): ListQuery {
  const parsed = listQuerySchema.safeParse(query)
  if (!parsed.success) throw new AppError('validation_failed', parsed.error.issues[0]!.message)
  if (parsed.data.since_from && parsed.data.since_to && parsed.data.since_from > parsed.data.since_to) {
    throw new AppError('validation_failed', 'The "since" range ends before it starts.')
  }
  return parsed.data
}

/** The filter as it was asked for, without paging, for the audit log and links. */
export function filterOf(query: ListQuery): Record<string, string> {
  const out: Record<string, string> = {}
  for (const key of [
    'q',
    'status',
    'tier',
    'interval',
    'source',
    'patreon',
    'since_from',
    'since_to',
    'sort',
  ] as const) {
    const value = query[key]
    if (value !== undefined) out[key] = String(value)
  }
  return out
}

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

/** Each sort's direction and the type of its first key; the user id ends every order, so pages are stable. */
const ORDER: Record<Sort, { direction: 'asc' | 'desc'; type: string }> = {
  since: { direction: 'desc', type: 'timestamptz' },
  lifetime: { direction: 'desc', type: 'bigint' },
  name: { direction: 'asc', type: 'text' },
}

const likePattern = (term: string) => `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`

function whereOf(query: ListQuery, now: Date): SQL {
  const conditions: SQL[] = [sql`true`]
  if (query.q) {
    const pattern = likePattern(query.q)
    conditions.push(sql`(s.email ilike ${pattern} or s.name ilike ${pattern})`)
  }
  if (query.status) conditions.push(sql`${statusSql(now)} = ${query.status}`)
  if (query.tier) conditions.push(sql`coalesce(s.tier_id, s.grant_tier_id) = ${query.tier}`)
  if (query.interval) conditions.push(sql`s.interval = ${query.interval}`)
  if (query.source) conditions.push(sql`s.source = ${query.source}`)
  // Imported patrons: who has moved over to a Stripe subscription, and who has not yet.
  if (query.patreon) {
    conditions.push(sql`s.patreon_status is not null and s.moved_from_patreon = ${query.patreon === 'moved'}`)
  }
  if (query.since_from) conditions.push(sql`s.since >= ${`${query.since_from}T00:00:00Z`}::timestamptz`)
  if (query.since_to) conditions.push(sql`s.since < (${`${query.since_to}T00:00:00Z`}::timestamptz + interval '1 day')`)
  return sql.join(conditions, sql` and `)
}

export interface SupporterRow {
  userId: string
  email: string
  name: string | null
  status: SupporterStatus
  source: string | null
  tierId: string | null
  interval: string | null
  amount: number | null
  currency: string | null
  since: Date | null
  lifetimeAmount: number
  lifetimeCurrency: string | null
  lastPaymentAt: Date | null
  patreonStatus: string | null
  movedFromPatreon: boolean
}

interface RawRow {
  user_id: string
  email: string
  name: string | null
  status: SupporterStatus
  source: string | null
  tier_id: string | null
  interval: string | null
  amount: number | null
  currency: string | null
  since: Date | string | null
  lifetime_amount: number | string
  lifetime_currency: string | null
  last_payment_at: Date | string | null
  patreon_status: string | null
  moved_from_patreon: boolean
  k1: string | null
}

const asDate = (value: Date | string | null) => (value === null ? null : new Date(value))

function toRow(r: RawRow): SupporterRow {
  return {
    userId: r.user_id,
    email: r.email,
    name: r.name,
    status: r.status,
    source: r.source,
    tierId: r.tier_id,
    interval: r.interval,
    amount: r.amount,
    currency: r.currency,
    since: asDate(r.since),
    lifetimeAmount: Number(r.lifetime_amount),
    lifetimeCurrency: r.lifetime_currency,
    lastPaymentAt: asDate(r.last_payment_at),
    patreonStatus: r.patreon_status,
    movedFromPatreon: r.moved_from_patreon,
  }
}

const encodeCursor = (k1: string | null, id: string) => Buffer.from(JSON.stringify([k1, id])).toString('base64url')

function decodeCursor(cursor: string): [string | null, string] {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown
    if (Array.isArray(value) && value.length === 2 && typeof value[1] === 'string') {
      const [k1, id] = value as [unknown, string]
      if (k1 === null || typeof k1 === 'string') return [k1, id]
    }
  } catch {
    // fall through
  }
  throw new AppError('validation_failed', 'The page cursor is not valid: start again from the first page.')
}

/** The columns of a list row, from a relation aliased `s` (the table, or the searched rows). */
function rowColumns(query: ListQuery, now: Date): SQL {
  return sql`s.user_id, s.email, s.name, ${statusSql(now)} as status, s.source,
    coalesce(s.tier_id, s.grant_tier_id) as tier_id, s.interval, s.amount, s.currency, s.since,
    s.lifetime_amount, s.lifetime_currency, s.last_payment_at, s.patreon_status, s.moved_from_patreon,
    (${sortKey(query.sort)})::text as k1`
}

/** Rows after `query.cursor`, in the requested order: a condition on the sort key and the user id. */
function afterCursor(query: ListQuery): SQL {
  if (!query.cursor) return sql`true`
  const order = ORDER[query.sort]
  const [k1, id] = decodeCursor(query.cursor)
  const comparison = sql.raw(order.direction === 'desc' ? '<' : '>')
  return sql`(${sortKey(query.sort)}, s.user_id) ${comparison} (${k1}::${sql.raw(order.type)}, ${id}::text)`
}

function pageOf(rows: RawRow[], query: ListQuery): { rows: SupporterRow[]; nextCursor: string | null } {
  const page = rows.slice(0, query.limit)
  const last = page.at(-1)
  return {
    rows: page.map(toRow),
    nextCursor: rows.length > query.limit && last ? encodeCursor(last.k1, last.user_id) : null,
  }
}

/** One page of rows after `query.cursor`, in the requested order. */
export async function listSupporters(
  db: Database,
  query: ListQuery,
  now: Date,
): Promise<{ rows: SupporterRow[]; nextCursor: string | null }> {
  const direction = sql.raw(ORDER[query.sort].direction)
  const rows = await rowsOf<RawRow>(
    db,
    sql`select ${rowColumns(query, now)}
      from supporters s
      where ${whereOf(query, now)} and ${afterCursor(query)}
      order by ${orderBy(query.sort, direction)}
      limit ${query.limit + 1}`,
  )
  return pageOf(rows, query)
}

/** Search terms this long use the trigram indexes, and so match a small part of the table. */
const INDEXED_SEARCH = 3

/**
 * A page and the count for its filter, as the list page and API show them. With a search term the
 * trigram search is the costly part, so it runs once: the matching rows are kept (few, for a term
 * of three or more characters) and both the count and the page are taken from them, in one
 * statement. Without one, the page walks a sort index and stops early, and the count is a query of
 * its own, run alongside it.
 */
export async function supporterPage(
  db: Database,
  query: ListQuery,
  now: Date,
): Promise<{ rows: SupporterRow[]; nextCursor: string | null; count: number }> {
  if (!query.q || query.q.length < INDEXED_SEARCH) {
    const [list, count] = await Promise.all([listSupporters(db, query, now), countSupporters(db, query, now)])
    return { ...list, count }
  }
  const direction = sql.raw(ORDER[query.sort].direction)
  // `left join … on true` keeps one row, holding the count, when the page itself is empty.
  const rows = await rowsOf<RawRow & { total: number | string; sk: unknown }>(
    db,
    sql`with matched as materialized (select * from supporters s where ${whereOf(query, now)}),
      page as (
        select ${rowColumns(query, now)}, ${sortKey(query.sort)} as sk
        from matched s
        where ${afterCursor(query)}
        order by ${orderBy(query.sort, direction)}
        limit ${query.limit + 1}
      )
      select (select count(*) from matched) as total, page.*
      from (select 1) as one left join page on true
      order by page.sk ${direction}, page.user_id ${direction}`,
  )
  return {
    ...pageOf(
      rows.filter((r) => r.user_id !== null),
      query,
    ),
    count: Number(rows[0]?.total ?? 0),
  }
}

/** The first sort key; indexed as an expression (drizzle/0006_supporters.sql). */
function sortKey(sort: Sort): SQL {
  if (sort === 'since') return sql`coalesce(s.since, '-infinity'::timestamptz)`
  if (sort === 'lifetime') return sql`s.lifetime_amount`
  return sql`coalesce(lower(s.name), lower(s.email))`
}

function orderBy(sort: Sort, direction: SQL): SQL {
  return sql`${sortKey(sort)} ${direction}, s.user_id ${direction}`
}

/** How many rows the filter matches, whatever the page. */
export async function countSupporters(db: Database, query: ListQuery, now: Date): Promise<number> {
  const [row] = await rowsOf<{ n: number | string }>(
    db,
    sql`select count(*) as n from supporters s where ${whereOf(query, now)}`,
  )
  return Number(row?.n ?? 0)
}

/** Every row the filter matches, in batches, for the CSV export: keyset pages, so memory stays flat. */
export async function* allSupporters(db: Database, query: ListQuery, now: Date, batch = 1000) {
  let cursor: string | undefined
  for (;;) {
    const page = await listSupporters(db, { ...query, limit: batch, cursor }, now)
    if (page.rows.length > 0) yield page.rows
    if (!page.nextCursor) return
    cursor = page.nextCursor
  }
}

/** Links to the customer in Stripe's dashboard (test mode has its own path). */
export const stripeDashboardUrl = (config: Config, customerId: string) =>
  `https://dashboard.stripe.com/${config.STRIPE_SECRET_KEY?.startsWith('sk_live_') ? '' : 'test/'}customers/${encodeURIComponent(customerId)}`

/** Brings the rows that changes have marked up to date (drizzle/0006_supporters.sql); the list is exact when read. */
export async function refreshSupporters(db: Database): Promise<number> {
  const [row] = await rowsOf<{ n: number | string }>(db, sql`select masthead_refresh_dirty_supporters() as n`)
  return Number(row?.n ?? 0)
}
