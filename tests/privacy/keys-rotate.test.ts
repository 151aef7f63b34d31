import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { issueEmailToken } from '../../src/accounts/email-tokens'
import { findUserByEmail, newAccount } from '../../src/accounts/users'
import { rowsOf, type Database } from '../../src/db/client'
import { devMailbox, importBatches, importBatchParts, users } from '../../src/db/schema'
import { addressIndex, queryTokens, searchTokens } from '../../src/privacy/blind-index'
import { decrypt, DecryptionError, encrypt, keyIdOf } from '../../src/privacy/cipher'
import { createKeyring, generateDataKey, type Keyring } from '../../src/privacy/keys'
import { compareSortTexts, orderKeysBetween, sortTextOf } from '../../src/privacy/name-order'
import { CONTEXT, openPeople } from '../../src/privacy/people'
import { sealExisting, valuesByKey } from '../../src/accounts/seal-existing'
import { createTestDatabase, personalDataRows, type TestDatabase } from '../helpers/db'
import { dumpDatabase } from '../helpers/dump'

/**
 * `npm run keys:rotate` (src/accounts/seal-existing.ts in 'rotate' mode): values written under k1,
 * rotated to k2 with k1 among the old keys, one batch first (a crash), then the rest.
 */
const K1 = generateDataKey('k1')
const K2 = generateDataKey('k2')
const now = new Date('2026-11-25T12:00:00Z')
const PEOPLE = [
  { email: 'zoe.quist@example.org', name: 'Zoë Quist' },
  { email: 'ana.alvarez@example.net', name: 'Ana Álvarez' },
  { email: 'bjorn@bücher.example', name: null },
  { email: 'mary.obrien@example.com', name: "Mary O'Brien" },
  { email: 'charlie@example.org', name: null },
]
const PREVIEW = { rows: [{ line: 2, email: 'patron.one@example.com', name: 'Petra Patronova' }] }

let database: TestDatabase
let db: Database
let k1: Keyring
let k2: Keyring
const ids = new Map<string, string>()

const userRows = () =>
  db
    .select({
      id: users.id,
      card: users.card,
      email: users.email,
      emailIndex: users.emailIndex,
      name: users.name,
      searchTokens: users.searchTokens,
      nameOrder: users.nameOrder,
    })
    .from(users)
    .orderBy(users.id)

beforeAll(async () => {
  database = await createTestDatabase()
  db = database.db
  k1 = await createKeyring(K1)
  k2 = await createKeyring(K2, [K1])
  // Placed one by one, as the app places them: uneven keys a renumbering evens out.
  for (const person of PEOPLE) {
    await db.transaction(async (tx) => {
      const account = await newAccount(tx, k1, { ADMIN_EMAILS: [] }, now, person)
      await tx.insert(users).values(account)
      ids.set(person.email, account.id)
    })
  }
  for (const email of ['ana.alvarez@example.net', 'newcomer@example.com']) {
    await issueEmailToken(db, k1, now, { purpose: 'sign_in', email })
  }
  for (const to of ['ana.alvarez@example.net', 'charlie@example.org', 'newcomer@example.com']) {
    await db.insert(devMailbox).values({
      to: await encrypt(k1, to, CONTEXT.mailTo),
      toIndex: await addressIndex(k1, to),
      subject: 'Sign in',
      text: 'A link',
      html: '<p>A link</p>',
      createdAt: now,
    })
  }
  await db.insert(importBatches).values({ id: 'b1', createdAt: now, parts: 1 })
  await db.insert(importBatchParts).values({
    batchId: 'b1',
    part: 0,
    rows: await encrypt(k1, JSON.stringify(PREVIEW), CONTEXT.importRows),
  })
  await db.execute(sql`select masthead_refresh_dirty_supporters()`)
})
afterAll(() => database?.close())

describe('rotating the data key (keys:rotate)', () => {
  it('starts with everything under k1', async () => {
    expect([...(await valuesByKey(db)).keys()]).toEqual(['k1'])
  })

  it('stopped after a batch, still finds every account, whichever key it is under', async () => {
    const partial = await sealExisting(db, k2, { mode: 'rotate', batchSize: 2, maxBatches: 1 })
    expect(partial).toMatchObject({ users: 2, finished: false })
    const keys = (await userRows()).map((u) => keyIdOf(u.card!))
    expect(keys.filter((k) => k === 'k2')).toHaveLength(2)
    expect(keys.filter((k) => k === 'k1')).toHaveLength(PEOPLE.length - 2)
    for (const person of PEOPLE) expect((await findUserByEmail(db, k2, person.email))?.id).toBe(ids.get(person.email))
  })

  it('resumed, re-encrypts everything under k2 and recomputes indexes and tokens', async () => {
    const counts = await sealExisting(db, k2, { mode: 'rotate', batchSize: 2 })
    expect(counts).toMatchObject({ users: PEOPLE.length - 2, emailTokens: 2, mail: 3, imports: 1, finished: true })
    expect([...(await valuesByKey(db)).keys()]).toEqual(['k2'])

    const rows = await userRows()
    const opened = await openPeople(k2, rows)
    for (const row of opened) {
      const person = PEOPLE.find((p) => p.email === row.email)!
      expect(row.name).toBe(person.name)
      expect(row.emailIndex).toBe(await addressIndex(k2, person.email))
      expect(row.searchTokens).toEqual(await searchTokens(k2, person))
      expect(row.searchTokens, 'no token left from k1').not.toEqual(await searchTokens(k1, person))
    }
    // Links and mail are still found by the account's (new) index.
    const linked = await rowsOf<{ n: number | string }>(
      db,
      sql`select count(*) as n from email_tokens e join users u on u.email_index = e.email_index`,
    )
    expect(Number(linked[0]!.n)).toBe(1)
    const mailed = await rowsOf<{ to: string; to_index: string }>(db, sql`select "to", to_index from dev_mailbox`)
    for (const m of mailed) {
      expect(m.to_index).toBe(await addressIndex(k2, await decrypt(k2, m.to, CONTEXT.mailTo)))
    }
    const [batch] = await db.select().from(importBatchParts)
    expect(JSON.parse(await decrypt(k2, batch!.rows, CONTEXT.importRows))).toEqual(PREVIEW)
    // Without k1 at all, everything still reads.
    const k2Only = await createKeyring(K2)
    for (const person of PEOPLE)
      expect((await findUserByEmail(db, k2Only, person.email))?.id).toBe(ids.get(person.email))
  })

  it('renumbers the name order evenly, in the same order', async () => {
    const rows = await openPeople(k2, await userRows())
    const sorted = [...rows].sort((a, b) => compareSortTexts(sortTextOf(a), sortTextOf(b)))
    const keys = orderKeysBetween(null, null, rows.length)
    expect(sorted.map((r) => r.nameOrder)).toEqual(keys)
  })

  it('keeps the supporters summary in step: ciphertext, tokens and order', async () => {
    const mismatched = await rowsOf(
      db,
      sql`select s.user_id from supporters s join users u on u.id = s.user_id
          where s.card is distinct from u.card or s.search_tokens <> u.search_tokens
            or s.name_order <> u.name_order`,
    )
    expect(mismatched).toEqual([])
    const [q] = await queryTokens(k2, 'zoe quist')
    const found = await rowsOf<{ user_id: string }>(
      db,
      sql`select user_id from supporters where search_tokens @> ${`{${q!.join(',')}}`}::text[]`,
    )
    expect(found.map((r) => r.user_id)).toEqual([ids.get('zoe.quist@example.org')])
  })

  it('run again, changes nothing', async () => {
    const before = await personalDataRows(db)
    const again = await sealExisting(db, k2, { mode: 'rotate' })
    expect(again).toEqual({
      users: 0,
      emailTokens: 0,
      mail: 0,
      imports: 0,
      gifts: 0,
      ordered: 0,
      refreshed: 0,
      finished: true,
    })
    expect(await personalDataRows(db)).toEqual(before)
  })

  it('without the old key, stops before writing anything and names the key to add', async () => {
    await db
      .update(users)
      .set({ name: await encrypt(k1, 'Zoë Quist', CONTEXT.userName) })
      .where(sql`true`)
    const before = await personalDataRows(db)
    const k3 = await createKeyring(generateDataKey('k3'), [K2])
    const failure = await sealExisting(db, k3, { mode: 'rotate' }).catch((error: unknown) => error)
    expect(failure).toBeInstanceOf(DecryptionError)
    expect((failure as DecryptionError).reason).toBe('unknown_key')
    expect((failure as Error).message).toMatch(
      /under k1, which neither DATA_ENCRYPTION_KEY nor DATA_ENCRYPTION_KEYS_OLD/,
    )
    expect((failure as Error).message).not.toMatch(/@|Quist/)
    expect(await personalDataRows(db)).toEqual(before)
  })
})

describe.runIf(process.env.TEST_DATABASE_URL)('npm run keys:rotate', () => {
  const root = join(import.meta.dirname, '../..')
  const rotate = (env: Record<string, string>) =>
    promisify(execFile)(join(root, 'node_modules/.bin/tsx'), ['src/cli/keys-rotate.ts'], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: database.url!, ...env },
    }).then(
      ({ stdout, stderr }) => ({ code: 0, out: stdout + stderr }),
      (error: { code: number; stdout: string; stderr: string }) => ({
        code: error.code,
        out: error.stdout + error.stderr,
      }),
    )

  it('names a missing key and prints counts, never an address or a name', async () => {
    const missing = await rotate({ DATA_ENCRYPTION_KEY: generateDataKey('k3') })
    expect(missing.code).toBe(1)
    expect(missing.out).toMatch(/under k1, k2, which neither/)

    const done = await rotate({ DATA_ENCRYPTION_KEY: generateDataKey('k3'), DATA_ENCRYPTION_KEYS_OLD: `${K2},${K1}` })
    expect(done.code, done.out).toBe(0)
    expect(done.out).toMatch(/5 accounts, 2 e-mailed links, 3 development messages and 1 import previews/)
    expect(done.out).toMatch(/Everything is under k3/)
    const dump = (await dumpDatabase(database)).text.toLowerCase()
    for (const text of [done.out, dump]) {
      expect(text).not.toMatch(/@example|quist|álvarez|patronova/i)
    }
  })
})
