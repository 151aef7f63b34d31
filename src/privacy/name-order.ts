import { normalizeAddress, type Person } from './blind-index'

/**
 * Sorting by name without names in clear: an order key.
 *
 * Encrypted names cannot be sorted by the database, and the supporters list must still answer a
 * page sorted by name in p95 ≤ 20 ms with 100,000 supporters. Sorting in the application would
 * mean decrypting every name for the first page (100,000 decryptions: seconds on Node); coarse
 * buckets sorted in the application only meet the budget when a bucket holds a few hundred rows,
 * and buckets that fine reveal as much as the order itself, for more code. So each account
 * carries an order key: a short text whose byte order (`collate "C"`) is the order of the
 * accounts' sort texts, written beside the encrypted name and copied to the supporters summary,
 * where an index on (order key, user id) serves the sort as the expression index on the name
 * did: a page is an index walk of `limit + 1` rows whatever the table's size, and keyset
 * cursors carry the order key.
 *
 * An order key is a position, not a function of the name: it is a fraction in base 36
 * ("0.i" is "i", "0.1zzi" is "1zzi"), chosen between the keys of the account's neighbours, so it
 * reveals the order of the sort texts and nothing else (no letter, no distance between names).
 * Placing an account (new, renamed, or with a new address when it has no name) finds its
 * neighbours by a binary search that decrypts only the sort texts it probes (`gapFor`, then
 * `orderKeyFor`: among every 256th account, then within that window), and
 * placements are serialised (an advisory lock) so each sees the others. Placing many (an import,
 * the migration, a rotation) sorts them and spreads keys evenly (`orderKeysBetween`); the
 * rotation renumbers every account evenly, which also forgets the history that uneven key lengths
 * would otherwise show (a key grows by about a character for each five placements into the same
 * gap).
 */

/** What the name sort compares, as the list always has: the name, or the address when there is none. */
export function sortTextOf(person: Person): string {
  const name = person.name?.trim()
  return name ? name.normalize('NFC') : normalizeAddress(person.email)
}

/**
 * People's order of names: accents and case count only between names otherwise equal ("Ávila"
 * beside "Avila", "de Vries" beside "De Vries"), then code points, so that distinct texts never
 * tie. The locale is fixed, so that Node and Workers, whatever their defaults, agree.
 */
const collator = new Intl.Collator('en', { usage: 'sort', sensitivity: 'variant' })

export function compareSortTexts(a: string, b: string): number {
  return collator.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0)
}

/** The digits of an order key, in the order of their bytes (and of every common collation). */
const DIGITS = '0123456789abcdefghijklmnopqrstuvwxyz'
/** Base 36 digits, never ending in 0 (so one fraction has one key, and text order is numeric order). */
export const ORDER_KEY = /^[0-9a-z]*[1-9a-z]$/

function digit(key: string, i: number): number {
  return DIGITS.indexOf(key[i] ?? '0')
}

/** The fraction halfway between `a` and `b` (null: 1), as short as it can be. Both valid, a < b. */
function midpoint(a: string, b: string | null): string {
  if (b !== null) {
    let n = 0
    while (digit(a, n) === digit(b, n)) n++
    if (n > 0) return b.slice(0, n) + midpoint(a.slice(n), b.slice(n))
  }
  const low = a === '' ? 0 : digit(a, 0)
  const high = b === null ? DIGITS.length : digit(b, 0)
  if (high - low > 1) return DIGITS[Math.round((low + high) / 2)]!
  // Adjacent digits: b's first digit alone lies between when b goes on; else go one digit deeper.
  if (b !== null && b.length > 1) return b.slice(0, 1)
  return DIGITS[low]! + midpoint(a.slice(1), null)
}

/** A key between two keys (null: the start or the end of the order). */
export function orderKeyBetween(before: string | null, after: string | null): string {
  for (const key of [before, after]) {
    if (key !== null && !ORDER_KEY.test(key)) throw new Error(`"${key}" is not an order key.`)
  }
  if (before !== null && after !== null && before >= after) {
    throw new Error(`No key lies between "${before}" and "${after}": renumber the order keys.`)
  }
  return midpoint(before ?? '', after)
}

/** `count` keys between two keys, in order, spread evenly: about log₃₆(count) + 1 characters each. */
export function orderKeysBetween(before: string | null, after: string | null, count: number): string[] {
  const keys: string[] = []
  const spread = (low: string | null, high: string | null, n: number) => {
    if (n <= 0) return
    const middle = orderKeyBetween(low, high)
    const left = Math.floor((n - 1) / 2)
    spread(low, middle, left)
    keys.push(middle)
    spread(middle, high, n - 1 - left)
  }
  spread(before, after, count)
  return keys
}

export interface Placed {
  /** The decrypted sort text (`sortTextOf`). */
  text: string
  key: string
}

/**
 * Where a sort text falls among rows given in key order: the keys either side (after any equal
 * text, so a new account goes after its namesakes). `bounds` are the keys just outside `rows`
 * when they are a window of the order (null: the start or the end), so that a search can narrow
 * the order to a window first (every 256th account, then the accounts between two of those).
 * A binary search: `textOf` is asked for about log₂(rows) texts, so only those are decrypted.
 */
export async function gapFor<Row extends { key: string }>(
  text: string,
  rows: readonly Row[],
  textOf: (row: Row) => string | Promise<string>,
  bounds: { before: string | null; after: string | null } = { before: null, after: null },
): Promise<{ before: string | null; after: string | null }> {
  let low = 0
  let high = rows.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if (compareSortTexts(await textOf(rows[middle]!), text) <= 0) low = middle + 1
    else high = middle
  }
  return {
    before: low > 0 ? rows[low - 1]!.key : bounds.before,
    after: low < rows.length ? rows[low]!.key : bounds.after,
  }
}

/** The order key for a sort text among rows in key order (`gapFor`, with the same arguments). */
export async function orderKeyFor<Row extends { key: string }>(
  text: string,
  rows: readonly Row[],
  textOf: (row: Row) => string | Promise<string>,
  bounds?: { before: string | null; after: string | null },
): Promise<string> {
  const gap = await gapFor(text, rows, textOf, bounds)
  return orderKeyBetween(gap.before, gap.after)
}
