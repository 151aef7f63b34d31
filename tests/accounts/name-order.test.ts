import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { placeAccounts } from '../../src/accounts/name-order'
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
