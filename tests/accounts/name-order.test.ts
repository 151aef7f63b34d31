import { sql, type SQL } from 'drizzle-orm'
import { PgDialect } from 'drizzle-orm/pg-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { placeAccounts, placeWaitingAccounts } from '../../src/accounts/name-order'
import { newAccount } from '../../src/accounts/users'
import type { Database } from '../../src/db/client'
import { users } from '../../src/db/schema'
import { compareSortTexts } from '../../src/privacy/name-order'
import { createTestApp, type TestApp } from '../helpers/app'
import { insertAccount } from '../helpers/sealed'

/**
 * Placing many accounts at once (an import step) walks the accounts already placed a page at a
 * time, so that it holds one page, not all of them: whatever the page size, the keys come out the
 * same, and in the order of the sort texts.
 */

const PLACED = ['Ada Lovelace', 'Grace Hopper', 'alan@bletchley.example', 'Zoë Ørsted', 'Émile Borel', 'Ada Lovelace']
const NEWCOMERS = [
  'Aaron Aardvark',
  'Ada Lovelace',
  'Barbara Liskov',
  'grace@navy.example',
  'Hedy Lamarr',
  'Zeno',
  'zz@end.example',
  'Édith Piaf',
  'Ada Lovelace',
]

let t: TestApp
const placed = new Map<string, string>() // id → sort text of the accounts already placed

beforeAll(async () => {
  t = await createTestApp()
  const now = t.services.clock.now()
  for (const [i, text] of PLACED.entries()) {
    const email = `placed${i}@order.example`
    const name = text.includes('@') ? null : text
    const account = await insertAccount(t.services.db, t.services.config, now, { email: name ? email : text, name })
    placed.set(account.id, name ?? text)
  }
})
afterAll(() => t.close())

describe('placing many accounts at once', () => {
  it('gives the same keys whatever the page size, each run of newcomers between its neighbours', async () => {
    const keyring = await t.services.keyring
    const people = NEWCOMERS.map((sortText, i) => ({ id: `newcomer-${i}`, sortText }))
    const place = (page?: number) => t.services.db.transaction((tx) => placeAccounts(tx, keyring, people, page))
    const whole = await place()
    for (const page of [1, 2, 3, 5]) expect(await place(page), `page of ${page}`).toEqual(whole)

    const keyOf = new Map(
      (await t.services.db.query.users.findMany({ columns: { id: true, nameOrder: true } })).map((u) => [
        u.id,
        u.nameOrder,
      ]),
    )
    const everyone = [
      ...[...placed].map(([id, text]) => ({ key: keyOf.get(id)!, text })),
      ...people.map((p) => ({ key: whole.get(p.id)!, text: p.sortText })),
    ]
    expect(new Set(everyone.map((e) => e.key)).size).toBe(everyone.length)
    const byKey = [...everyone].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map((e) => e.text)
    expect(byKey).toEqual([...byKey].sort(compareSortTexts))
    expect(byKey).toHaveLength(PLACED.length + NEWCOMERS.length)
  })
})

describe('placing one account at a time', () => {
  it('keeps key order equal to name order past many windows, with names crowding one gap', async () => {
    // A seeded mix: distinct names, addresses without a name, and a crowd of near-namesakes that
    // all fall into one gap, so that bisection must narrow far below a window of 48 accounts.
    let seed = 17
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31)
    const letters = 'abcdefghijklmnopqrstuvwxyz'
    const word = () => Array.from({ length: 3 + (next() % 5) }, () => letters[next() % 26]).join('')
    const texts: string[] = []
    for (let i = 0; i < 260; i++) {
      const kind = next() % 4
      if (kind === 0) texts.push(`Ada Lovelace ${String(next() % 1000).padStart(3, '0')}`)
      else if (kind === 1) texts.push(`${word()}@${word()}.example`)
      else texts.push(`${word()[0]!.toUpperCase()}${word()} ${word()}`)
    }
    const now = t.services.clock.now()
    const mine = new Map<string, string>()
    for (const [i, text] of texts.entries()) {
      const name = text.includes('@') ? null : text
      const email = name ? `one${i}@order.example` : text
      const account = await insertAccount(t.services.db, t.services.config, now, { email, name })
      mine.set(account.id, name ?? text)
    }
    const rows = await t.services.db.query.users.findMany({ columns: { id: true, nameOrder: true } })
    const everyone = rows
      .filter((row) => mine.has(row.id) || placed.has(row.id))
      .map((row) => ({ key: row.nameOrder, text: mine.get(row.id) ?? placed.get(row.id)! }))
    expect(everyone).toHaveLength(texts.length + PLACED.length)
    expect(new Set(everyone.map((e) => e.key)).size).toBe(everyone.length)
    const byKey = [...everyone].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map((e) => e.text)
    expect(byKey).toEqual([...byKey].sort(compareSortTexts))
  })
})

describe('placing the accounts that wait for a place', () => {
  it('places every account created without one, past one batch, in name order among the others', async () => {
    // A Stripe webhook's account goes in unplaced (newAccount with placed: false); placeWaitingAccounts
    // places the waiting ones a hundred to a taking of the lock.
    const keyring = await t.services.keyring
    const { db, config } = t.services
    const now = t.services.clock.now()
    const waiting = new Map<string, string>()
    for (let i = 0; i < 130; i++) {
      const name = i % 3 === 0 ? null : `Waiting ${String((i * 37) % 130).padStart(3, '0')} Reader`
      const email = `waiting${i}@order.example`
      const account = await newAccount(db, keyring, config, now, { email, name }, { placed: false })
      expect(account.nameOrder).toBe('')
      await db.insert(users).values(account)
      waiting.set(account.id, name ?? email)
    }

    // The accounts already placed span several windows (one sample in 256); each batch reads a window once,
    // however many of its accounts fall in it.
    const before = await db.$count(users, sql`name_order <> ''`)
    const windows = Math.ceil(before / 256) + 1
    const reads = { windows: 0 }
    expect(await placeWaitingAccounts(countingWindowReads(db, reads), keyring)).toBe(130)
    expect(await placeWaitingAccounts(db, keyring)).toBe(0)
    expect(before).toBeGreaterThan(256)
    expect(reads.windows).toBeGreaterThan(0)
    expect(reads.windows).toBeLessThanOrEqual(2 * windows) // two batches (100 and 30), not one read per account

    const rows = await db.query.users.findMany({ columns: { id: true, nameOrder: true } })
    expect(rows.filter((row) => row.nameOrder === '')).toEqual([])
    const texts = new Map([...placed, ...waiting])
    const mine = rows.filter((row) => texts.has(row.id))
    expect(mine).toHaveLength(placed.size + waiting.size)
    expect(new Set(mine.map((row) => row.nameOrder)).size).toBe(mine.length)
    const byKey = [...mine]
      .sort((a, b) => (a.nameOrder < b.nameOrder ? -1 : a.nameOrder > b.nameOrder ? 1 : 0))
      .map((row) => texts.get(row.id)!)
    expect(byKey).toEqual([...byKey].sort(compareSortTexts))
  })
})

/** The database handle, counting the reads of a window of the order (the placed accounts between two keys). */
function countingWindowReads<T extends object>(handle: T, reads: { windows: number }): T {
  const dialect = new PgDialect()
  return new Proxy(handle, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target)
      if (typeof value !== 'function') return value
      if (property === 'execute')
        return (query: SQL) => {
          if (dialect.sqlToQuery(query).sql.includes('name_order collate "C" <')) reads.windows++
          return value.call(target, query)
        }
      if (property === 'transaction')
        return (run: (tx: Database) => Promise<unknown>) =>
          value.call(target, (tx: Database) => run(countingWindowReads(tx, reads)))
      return value.bind(target)
    },
  })
}
