import { sql, type SQL } from 'drizzle-orm'
import * as z from 'zod'
import type { Config } from '../config'
import { rowsOf, type Database } from '../db/client'
import { INTERVALS } from '../db/schema'
import { SUPPORTER_STATUSES, statusSql, type SupporterStatus } from '../db/supporter-figures'
import { AppError } from '../http/errors'
import { MIN_PREFIX, queryTokens, queryWords } from '../privacy/blind-index'
import type { Keyring } from '../privacy/keys'
import { openAccount } from '../privacy/people'

/**
 * The supporter list: filters, search, sorts and keyset pages over the
 * `supporters` table (kept by triggers, drizzle/0006_supporters.sql). Its
 * addresses and names are encrypted (ARCHITECTURE.md, "Personal data at rest"):
 * the search matches blind-indexed word prefixes, the name sort walks the order
 * keys, and only the rows of the page asked for are decrypted.
 */

export const SOURCES = ['stripe', 'donation', 'comp', 'patreon', 'gift'] as const
export const SORTS = ['since', 'lifetime', 'name'] as const
export type Sort = (typeof SORTS)[number]

const day = z
  .string()
  .trim()
  .regex(/^\d{4}-\d{2}-\d{2}$/, { error: 'Dates look like 2026-11-25.' })
  // Date rolls 2026-02-31 over into March: a day that exists reads back as itself.
  .refine((d) => realDay(d), { error: 'That date does not exist.' })

const blankIsAbsent = (value: unknown) => (value === '' ? undefined : value)

/**
 * The search finds words by their first letters, from MIN_PREFIX of them (src/privacy/blind-index.ts):
 * no shorter prefix is indexed. Of a query's words, the shorter ones are ignored ("de Vries" searches
 * for "vries"), and the page says so (`ignoredWords`); a query with no word long enough is refused,
 * rather than answered with the whole list or with nothing.
 */
export const SEARCH_TOO_SHORT = `Search for words of at least ${MIN_PREFIX} letters: names and addresses are found by the beginnings of their words.`

const searchedWords = (q: string) => queryWords(q).filter((w) => Array.from(w).length >= MIN_PREFIX)

/** The words of a search too short to be searched for, as folded (lower-cased, without accents). */
export const ignoredWords = (q: string | undefined): string[] =>
  q ? queryWords(q).filter((w) => Array.from(w).length < MIN_PREFIX) : []

/** The list's parameters, the same for the page, the JSON and the CSV. */
export const listQuerySchema = z.object({
  q: z.preprocess(
    blankIsAbsent,
    z
      .string()
      .trim()
      .max(200, { error: 'The search is at most 200 characters.' })
      .refine((q) => q === '' || searchedWords(q).length > 0, { error: SEARCH_TOO_SHORT })
      .optional(),
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

/** Each sort's direction and the type of its first key; the user id ends every order, so pages are stable. */
const ORDER: Record<Sort, { direction: 'asc' | 'desc'; type: string }> = {
  since: { direction: 'desc', type: 'timestamptz' },
  lifetime: { direction: 'desc', type: 'bigint' },
  name: { direction: 'asc', type: 'text' },
}

/**
 * The search as the index answers it: one token set per data key (rows a key rotation has not
 * reached yet carry the old key's tokens), null without a search. A row matches when its tokens
 * contain every token of one set: the GIN index on `search_tokens` serves `@>`.
 */
type Search = string[][] | null

const searchOf = async (keyring: Keyring, query: ListQuery): Promise<Search> =>
  query.q ? queryTokens(keyring, query.q) : null

const textArray = (values: readonly string[]) =>
  sql`array[${sql.join(
    values.map((v) => sql`${v}`),
    sql`, `,
  )}]::text[]`

function whereOf(query: ListQuery, search: Search, now: Date): SQL {
  const conditions: SQL[] = [sql`true`]
  if (search) {
    // No set: nothing long enough to search for (parseListQuery refuses such a search).
    const sets = search.map((tokens) => sql`s.search_tokens @> ${textArray(tokens)}`)
    conditions.push(sets.length ? sql`(${sql.join(sets, sql` or `)})` : sql`false`)
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

/** A row of the list, its address and name in clear: only the rows of a page (or an export batch) are decrypted. */
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
  /** Only for a row with no card. */
  email: string | null
  name: string | null
  card: string | null
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

/**
 * A row as read: everything but the address and the name, which are still sealed in `card` (or,
 * for an account not sealed since cards came, in `email` and `name`) until `openRows`.
 */
interface SealedRow {
  row: SupporterRow
  card: string | null
  email: string | null
  name: string | null
}

/**
 * The rows in clear, in place: one decryption a row, by its card. Rows are filled rather than
 * copied, since an export opens 100,000 of them and every copy is garbage for the collector.
 */
async function openRows(keyring: Keyring, sealed: readonly SealedRow[], parallel = 256): Promise<SupporterRow[]> {
  for (let start = 0; start < sealed.length; start += parallel) {
    await Promise.all(
      sealed.slice(start, start + parallel).map(async (s) => {
        const person = await openAccount(keyring, s)
        s.row.email = person.email
        s.row.name = person.name
      }),
    )
  }
  return sealed.map((s) => s.row)
}

function toRow(r: RawRow): SealedRow {
  return {
    row: {
      userId: r.user_id,
      email: '',
      name: null,
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
    },
    card: r.card,
    email: r.email,
    name: r.name,
  }
}

const encodeCursor = (k1: string | null, id: string) => Buffer.from(JSON.stringify([k1, id])).toString('base64url')

/**
 * A cursor as `encodeCursor` wrote it for this sort: its key must be one the database can read
 * back as the sort's type (a made-up one would fail the cast in SQL, a 500), and neither part may
 * hold a NUL.
 */
function decodeCursor(cursor: string, sort: Sort): [string | null, string] {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown
    if (Array.isArray(value) && value.length === 2 && typeof value[1] === 'string' && !value[1].includes('\u0000')) {
      const [k1, id] = value as [unknown, string]
      if (k1 === null || (typeof k1 === 'string' && CURSOR_KEY[sort](k1))) return [k1, id]
    }
  } catch {
    // fall through
  }
  throw new AppError('validation_failed', 'The page cursor is not valid: start again from the first page.')
}

/** A day that exists: `Date` rolls 2026-02-31 over into March, so it must read back as itself. */
function realDay(day: string): boolean {
  const date = new Date(`${day}T00:00:00Z`)
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === day
}

/** What each sort's key looks like as PostgreSQL writes it (`::text`). */
const CURSOR_KEY: Record<Sort, (k1: string) => boolean> = {
  since: (k1) => {
    if (k1 === '-infinity') return true
    const match = /^(\d{4}-\d{2}-\d{2}) (\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?[+-]\d{2}(:\d{2})?$/.exec(k1)
    return (
      match !== null && realDay(match[1]!) && Number(match[2]) < 24 && Number(match[3]) < 60 && Number(match[4]) < 60
    )
  },
  lifetime: (k1) => /^-?\d{1,18}$/.test(k1),
  name: (k1) => !k1.includes('\u0000'),
}

/** The columns of a list row, from a relation aliased `s` (the table). */
function rowColumns(query: ListQuery, now: Date): SQL {
  // The card holds address and name: the two values alone are read only for a row without one.
  return sql`s.user_id, s.card, case when s.card is null then s.email end as email,
    case when s.card is null then s.name end as name, ${statusSql(now)} as status, s.source,
    coalesce(s.tier_id, s.grant_tier_id) as tier_id, s.interval, s.amount, s.currency, s.since,
    s.lifetime_amount, s.lifetime_currency, s.last_payment_at, s.patreon_status, s.moved_from_patreon,
    (${sortKey(query.sort)})::text as k1`
}

/**
 * Rows after `query.cursor`, in the requested order: a condition on the sort key and the user id
 * (`key` and `id`: those expressions over whatever relation the page is taken from).
 */
function afterCursor(query: ListQuery, key = sortKey(query.sort), id = sql`s.user_id`): SQL {
  if (!query.cursor) return sql`true`
  const order = ORDER[query.sort]
  const [k1, userId] = decodeCursor(query.cursor, query.sort)
  const comparison = sql.raw(order.direction === 'desc' ? '<' : '>')
  return sql`(${key}, ${id}) ${comparison} (${k1}::${sql.raw(order.type)}, ${userId}::text)`
}

/** A page as stored: the rows' addresses and names still encrypted. */
function pageOf(rows: RawRow[], query: ListQuery): { rows: SealedRow[]; nextCursor: string | null } {
  const page = rows.slice(0, query.limit)
  const last = page.at(-1)
  return {
    rows: page.map(toRow),
    nextCursor: rows.length > query.limit && last ? encodeCursor(last.k1, last.user_id) : null,
  }
}

async function sealedPage(
  db: Database,
  query: ListQuery,
  search: Search,
  now: Date,
): Promise<{ rows: SealedRow[]; nextCursor: string | null }> {
  const direction = sql.raw(ORDER[query.sort].direction)
  const rows = await rowsOf<RawRow>(
    db,
    sql`select ${rowColumns(query, now)}
      from supporters s
      where ${whereOf(query, search, now)} and ${afterCursor(query)}
      order by ${orderBy(query.sort, direction)}
      limit ${query.limit + 1}`,
  )
  return pageOf(rows, query)
}

/** One page of rows after `query.cursor`, in the requested order, decrypted. */
export async function listSupporters(
  db: Database,
  keyring: Keyring,
  query: ListQuery,
  now: Date,
): Promise<{ rows: SupporterRow[]; nextCursor: string | null }> {
  const page = await sealedPage(db, query, await searchOf(keyring, query), now)
  return { rows: await openRows(keyring, page.rows), nextCursor: page.nextCursor }
}

/**
 * A page and the count for its filter, as the list page and API show them, the page's rows
 * decrypted. With a search, the index scan of the tokens is the costly part, so it runs once: the
 * matching rows' ids and sort keys are kept (narrow, however many match) and both the count and
 * the page are taken from them, in one statement, the page's rows then read by id. Without one,
 * the page walks a sort index and stops early, and the count is a query of its own, run alongside it.
 */
export async function supporterPage(
  db: Database,
  keyring: Keyring,
  query: ListQuery,
  now: Date,
): Promise<{ rows: SupporterRow[]; nextCursor: string | null; count: number }> {
  const search = await searchOf(keyring, query)
  if (!search) {
    // The page is decrypted as soon as it arrives, while the count may still be running.
    const opened = sealedPage(db, query, null, now).then(async (page) => ({
      rows: await openRows(keyring, page.rows),
      nextCursor: page.nextCursor,
    }))
    const [page, count] = await Promise.all([opened, countOf(db, query, null, now)])
    return { ...page, count }
  }
  const direction = sql.raw(ORDER[query.sort].direction)
  // `left join … on true` keeps one row, holding the count, when the page itself is empty.
  const rows = await rowsOf<RawRow & { total: number | string }>(
    db,
    sql`with matched as materialized (
        select s.user_id, ${sortKey(query.sort)} as sk from supporters s where ${whereOf(query, search, now)}),
      page as (
        select m.user_id, m.sk from matched m
        where ${afterCursor(query, sql`m.sk`, sql`m.user_id`)}
        order by m.sk ${direction}, m.user_id ${direction}
        limit ${query.limit + 1}
      )
      select (select count(*) from matched) as total, found.*
      from (select 1) as one left join (
        select ${rowColumns(query, now)}, page.sk from page join supporters s on s.user_id = page.user_id
      ) found on true
      order by found.sk ${direction}, found.user_id ${direction}`,
  )
  const page = pageOf(
    rows.filter((r) => r.user_id !== null),
    query,
  )
  return {
    rows: await openRows(keyring, page.rows),
    nextCursor: page.nextCursor,
    count: Number(rows[0]?.total ?? 0),
  }
}

/**
 * The first sort key. By name, the order key (src/privacy/name-order.ts), compared bytewise as
 * its index (supporters_name_order_idx) is built; the others are indexed as they are written here
 * (drizzle/0005_supporters_tables.sql, drizzle/0006_supporters.sql).
 */
function sortKey(sort: Sort): SQL {
  if (sort === 'since') return sql`coalesce(s.since, '-infinity'::timestamptz)`
  if (sort === 'lifetime') return sql`s.lifetime_amount`
  return sql`s.name_order collate "C"`
}

function orderBy(sort: Sort, direction: SQL): SQL {
  return sql`${sortKey(sort)} ${direction}, s.user_id ${direction}`
}

async function countOf(db: Database, query: ListQuery, search: Search, now: Date): Promise<number> {
  const [row] = await rowsOf<{ n: number | string }>(
    db,
    sql`select count(*) as n from supporters s where ${whereOf(query, search, now)}`,
  )
  return Number(row?.n ?? 0)
}

/** How many rows the filter matches, whatever the page. */
export async function countSupporters(db: Database, keyring: Keyring, query: ListQuery, now: Date): Promise<number> {
  return countOf(db, query, await searchOf(keyring, query), now)
}

/** Decryptions in flight per export batch: enough to keep Web Crypto's thread pool busy. */
const EXPORT_DECRYPTIONS = 500

/** Settled later, or never if the export is abandoned: a rejection then is no unhandled one. */
function ahead<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {})
  return promise
}

/**
 * Every row the filter matches, decrypted, in batches, for the CSV export: keyset pages, so
 * memory stays flat. Decrypting costs more than reading (one value a row, the card, at 20-30 µs of Web Crypto on
 * Node), so the two overlap:
 * as soon as a batch is read the next is asked for, and each batch's decryption starts when it
 * arrives, while the one before is still being written out. At most two batches are held ahead
 * of the one being written.
 */
export async function* allSupporters(db: Database, keyring: Keyring, query: ListQuery, now: Date, batch = 1000) {
  const search = await searchOf(keyring, query)
  const read = (cursor: string | undefined) =>
    ahead(
      sealedPage(db, { ...query, limit: batch, cursor }, search, now).then((page) => ({
        rows: ahead(openRows(keyring, page.rows, EXPORT_DECRYPTIONS)),
        nextCursor: page.nextCursor,
      })),
    )
  let next: ReturnType<typeof read> | null = read(undefined)
  while (next) {
    const page: Awaited<ReturnType<typeof read>> = await next
    next = page.nextCursor ? read(page.nextCursor) : null
    const rows = await page.rows
    if (rows.length > 0) yield rows
  }
}

/** Links to the customer in Stripe's dashboard (test mode has its own path). */
export const stripeDashboardUrl = (config: Config, customerId: string) =>
  `https://dashboard.stripe.com/${config.STRIPE_SECRET_KEY?.startsWith('sk_live_') ? '' : 'test/'}customers/${encodeURIComponent(customerId)}`
