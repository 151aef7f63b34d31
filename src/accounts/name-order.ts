import { sql } from 'drizzle-orm'
import { rowsOf, type Database } from '../db/client'
import type { Keyring } from '../privacy/keys'
import { compareSortTexts, gapFor, orderKeyFor, orderKeysBetween, sortTextOf, type Placed } from '../privacy/name-order'
import { openAccount } from '../privacy/people'

/**
 * Placing accounts in the name order (src/privacy/name-order.ts) from the database: names are
 * encrypted, so the neighbours of a new sort text are found by decrypting a bounded window of
 * the order. Placements are serialised by a transaction-scoped advisory lock, so that two
 * accounts placed at once do not take the same key; callers place inside the transaction that
 * writes the key.
 */

/** The advisory lock every placement takes (any constant; this one spells "name"). */
const ORDER_LOCK = 0x6e616d65
/** One sampled account in this many narrows a single placement to a window of about as many. */
const SAMPLE_EVERY = 256

interface StoredRow {
  id: string
  name_order: string
  email: string | null
  name: string | null
  card: string | null
}

async function lock(db: Database): Promise<void> {
  await db.execute(sql`select pg_advisory_xact_lock(${ORDER_LOCK})`)
}

/** A row's sort text, from its card (one decryption), or its two values for a row sealed before cards. */
const sortTextOfRow = async (keyring: Keyring, row: StoredRow) => sortTextOf(await openAccount(keyring, row))

/** Every row's sort text, at most 256 decryptions in flight. */
async function placed(keyring: Keyring, rows: StoredRow[]): Promise<(Placed & { id: string })[]> {
  const out: (Placed & { id: string })[] = []
  for (let start = 0; start < rows.length; start += 256) {
    const slice = rows.slice(start, start + 256)
    const texts = await Promise.all(slice.map((row) => sortTextOfRow(keyring, row)))
    slice.forEach((row, i) => out.push({ id: row.id, key: row.name_order, text: texts[i]! }))
  }
  return out
}

/**
 * The order key for one account's sort text (`sortTextOf`): a binary search among every 256th
 * placed account finds the window the text falls in, then one within that window, decrypting
 * about log₂(accounts) values in all. `except`: the account being moved (a new address without a
 * name), which does not count as its own neighbour.
 */
export async function placeAccount(db: Database, keyring: Keyring, sortText: string, except = ''): Promise<string> {
  await lock(db)
  const textOf = ({ row }: { row: StoredRow }) => sortTextOfRow(keyring, row)
  const bounds = await gapFor(sortText, keyed(await samplesOf(db, except)), textOf)
  return orderKeyFor(sortText, keyed(await windowOf(db, bounds, except)), textOf, bounds)
}

type Bounds = { before: string | null; after: string | null }
const keyed = (rows: StoredRow[]) => rows.map((row) => ({ row, key: row.name_order }))

/** Every SAMPLE_EVERY-th placed account, in order (all but `except`). */
function samplesOf(db: Database, except: string): Promise<StoredRow[]> {
  return rowsOf<StoredRow>(
    db,
    sql`select id, name_order, email, name, card from (
          select id, name_order, email, name, card, row_number() over (order by name_order collate "C") as n
          from users where name_order <> '' and id <> ${except}) s
        where (n - 1) % ${SAMPLE_EVERY} = 0 order by name_order collate "C"`,
  )
}

/** The placed accounts strictly between two keys (null: the start or the end), in order. */
function windowOf(db: Database, bounds: Bounds, except: string): Promise<StoredRow[]> {
  return rowsOf<StoredRow>(
    db,
    sql`select id, name_order, email, name, card from users
        where name_order <> '' and id <> ${except}
          and (${bounds.before}::text is null or name_order collate "C" > ${bounds.before})
          and (${bounds.after}::text is null or name_order collate "C" < ${bounds.after})
        order by name_order collate "C"`,
  )
}

/** The order key of an account not placed yet (placeWaitingAccounts places it). */
export const UNPLACED = ''

/** Waiting accounts placed per transaction by placeWaitingAccounts: the order's lock is let go in between. */
const WAITING_BATCH = 100

/**
 * Places the accounts created without a place (`newAccount` with `placed: false`: a signed-out
 * reader's paid checkout, whose webhook must not wait for the order's lock, since every checkout
 * takes the same lock and, held across the placement's round trips, it made concurrent checkouts
 * queue for it on the pooled connections every other event needs: BENCHMARKS.md, webhooks). Up
 * to WAITING_BATCH at a time, in creation order, under one taking of the lock: each is placed as
 * `placeAccount` places one, but the samples are read and decrypted once for the batch, so is
 * each window between two samples that the batch's accounts fall in (a few for a whole batch), and
 * a window counts the keys given earlier in the batch; one statement writes the batch's keys, and
 * an account placed meanwhile by anything else keeps its own. Until it is placed, an account
 * sorts first by name. Returns how many it placed.
 */
export async function placeWaitingAccounts(db: Database, keyring: Keyring): Promise<number> {
  // Every run of the jobs asks: one index probe, without the transaction and the lock, when none waits.
  const [waits] = await rowsOf<{ one: number }>(
    db,
    sql`select 1 as one from users where name_order collate "C" = ${UNPLACED} limit 1`,
  )
  if (!waits) return 0
  let total = 0
  for (;;) {
    const placedNow = await db.transaction(async (tx) => {
      await lock(tx)
      const waiting = await rowsOf<StoredRow>(
        tx,
        // collate "C": the index on the order key (users_name_order_idx) finds them.
        sql`select id, name_order, email, name, card from users where name_order collate "C" = ${UNPLACED}
            order by created_at, id limit ${WAITING_BATCH}`,
      )
      if (waiting.length === 0) return 0
      const texts = new Map<string, Promise<string>>() // sort texts decrypted in this batch, by account
      const textOf = ({ row }: { row: StoredRow }) => {
        let text = texts.get(row.id)
        if (!text) texts.set(row.id, (text = sortTextOfRow(keyring, row)))
        return text
      }
      const samples = keyed(await samplesOf(tx, UNPLACED))
      // The placed accounts between two samples, read once per batch: the batch's accounts fall in a few windows.
      const windows = new Map<string, Promise<StoredRow[]>>()
      const windowFor = (bounds: Bounds) => {
        const key = JSON.stringify([bounds.before, bounds.after])
        let rows = windows.get(key)
        if (!rows) windows.set(key, (rows = windowOf(tx, bounds, UNPLACED)))
        return rows
      }
      const given: { row: StoredRow; key: string }[] = []
      for (const row of waiting) {
        const text = await textOf({ row })
        const bounds = await gapFor(text, samples, textOf)
        const inside = (key: string) =>
          (bounds.before === null || key > bounds.before) && (bounds.after === null || key < bounds.after)
        const window = [...keyed(await windowFor(bounds)), ...given.filter((g) => inside(g.key))].sort((a, b) =>
          a.key < b.key ? -1 : a.key > b.key ? 1 : 0,
        )
        given.push({ row, key: await orderKeyFor(text, window, textOf, bounds) })
      }
      const keys = JSON.stringify(given.map(({ row, key }) => ({ id: row.id, key })))
      await tx.execute(sql`update users u set name_order = v.key
        from jsonb_to_recordset(${keys}::jsonb) as v(id text, key text)
        where u.id = v.id and u.name_order = ${UNPLACED}`)
      return waiting.length
    })
    total += placedNow
    if (placedNow < WAITING_BATCH) return total
  }
}

/** Placed accounts read at once by `placeAccounts`: memory for one page, however many accounts there are. */
const PAGE = 2000

/**
 * Order keys for many accounts at once (an import, the encryption of an existing database):
 * every placed account is decrypted once, a page at a time in order, the newcomers merged in as
 * the pages go by, and each run of newcomers between two placed neighbours spread evenly over
 * their gap, so that no placed account changes key. Accounts in `people` that were placed before
 * are placed again. Memory: the newcomers and one page of placed accounts.
 */
export async function placeAccounts(
  db: Database,
  keyring: Keyring,
  people: readonly { id: string; sortText: string }[],
  /** Placed accounts read at once (tests make it small to cross many pages). */
  page = PAGE,
): Promise<Map<string, string>> {
  const keys = new Map<string, string>()
  if (people.length === 0) return keys
  await lock(db)
  const moving = new Set(people.map((p) => p.id))
  const newcomers = [...people].sort((a, b) => compareSortTexts(a.sortText, b.sortText))
  let i = 0
  let before: string | null = null
  const flush = (run: { id: string }[], after: string | null) => {
    if (run.length === 0) return
    const spread = orderKeysBetween(before, after, run.length)
    run.forEach((p, n) => keys.set(p.id, spread[n]!))
  }
  for (let last = { key: '', id: '' }; ;) {
    const rows = await rowsOf<StoredRow>(
      db,
      sql`select id, name_order, email, name, card from users
          where name_order <> ''
            and (name_order collate "C", id) > (${last.key}, ${last.id})
          order by name_order collate "C", id limit ${page}`,
    )
    if (rows.length === 0) break
    last = { key: rows.at(-1)!.name_order, id: rows.at(-1)!.id }
    const existing = await placed(
      keyring,
      rows.filter((row) => !moving.has(row.id)),
    )
    for (const account of existing) {
      const run: { id: string }[] = []
      // Newcomers go after their namesakes already placed, as a single placement would put them.
      while (i < newcomers.length && compareSortTexts(newcomers[i]!.sortText, account.text) < 0)
        run.push(newcomers[i++]!)
      flush(run, account.key)
      before = account.key
    }
  }
  flush(newcomers.slice(i), null)
  return keys
}
