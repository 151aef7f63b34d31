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
/** A placement searches in memory once the gap it narrowed holds at most this many accounts. */
const WINDOW = 48
/** Above every order key in byte order (keys are [0-9a-z]): the open end of the order. */
const END = '~'

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
 * The order key for one account's sort text (`sortTextOf`), by narrowing the order's key space
 * rather than counting rows. Each step is one statement of index probes: the first WINDOW + 1
 * accounts of the gap it has narrowed to, and the first account at or after each of PROBES keys
 * spread evenly across the gap. While the gap holds more than WINDOW accounts, a binary search
 * among the probed accounts (decrypting about log₂ PROBES of them) narrows it to the accounts
 * between two probed neighbours, about a sixteenth of the gap; when no account lies past the first
 * probe key, the gap ends there. A placement costs about log₁₆(accounts ÷ WINDOW) + 1 steps and
 * log₂(accounts) decryptions however large the table, and no statement reads the whole order. The
 * bounds of a gap need not be keys in use: no account lies between them, and the new key is made
 * between them. `except`: the account being moved (a new address without a name), which does not
 * count as its own neighbour.
 */
export async function placeAccount(db: Database, keyring: Keyring, sortText: string, except = ''): Promise<string> {
  await lock(db)
  const keyed = (rows: StoredRow[]) => rows.map((row) => ({ row, key: row.name_order }))
  const textOf = ({ row }: { row: StoredRow }) => sortTextOfRow(keyring, row)
  let gap: { before: string | null; after: string | null } = { before: null, after: null }
  for (;;) {
    const { before, after } = gap
    const probes = orderKeysBetween(before, after, PROBES)
    const inGap = sql`name_order collate "C" < ${after ?? END} and id <> ${except}`
    const rows: (StoredRow & { probe: boolean })[] = await rowsOf(
      db,
      sql.join(
        [
          sql`(select id, name_order, email, name, card, false as probe from users
            where name_order collate "C" > ${before ?? ''} and ${inGap}
            order by name_order collate "C", id limit ${WINDOW + 1})`,
          ...probes.map(
            (probe) => sql`(select id, name_order, email, name, card, true as probe from users
              where name_order collate "C" >= ${probe} and ${inGap}
              order by name_order collate "C", id limit 1)`,
          ),
        ],
        sql` union all `,
      ),
    )
    const window = rows.filter((row) => !row.probe)
    if (window.length <= WINDOW) return orderKeyFor(sortText, keyed(window), textOf, gap)
    const probed = [...new Map(rows.filter((row) => row.probe).map((row) => [row.id, row])).values()].sort((a, b) =>
      a.name_order < b.name_order ? -1 : a.name_order > b.name_order ? 1 : 0,
    )
    gap = probed.length === 0 ? { before, after: probes[0]! } : await gapFor(sortText, keyed(probed), textOf, gap)
  }
}

/** Keys a placement probes per step, spread evenly across the gap it has narrowed to. */
const PROBES = 15

/**
 * Runs `task`, a transaction that places an account, once this process's earlier placements on
 * the same database have ended. They would wait for the order's lock anyway, but each inside its
 * transaction, holding a pooled connection while it waited: a burst of signed-out checkouts took
 * every connection of the Node server's pool and stalled every other statement behind them
 * (BENCHMARKS.md, webhooks). Waiting here holds none; across processes (several servers, the
 * Worker's isolates) the advisory lock still orders placements.
 */
export function placementsInTurn<T>(db: Database, task: () => Promise<T>): Promise<T> {
  const previous = turns.get(db) ?? Promise.resolve()
  const run = previous.then(task, task)
  turns.set(
    db,
    run.catch(() => undefined),
  )
  return run
}
const turns = new WeakMap<Database, Promise<unknown>>()

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
