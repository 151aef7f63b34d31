import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { findUserByEmail } from '../../src/accounts/users'
import { rowsOf, type Database } from '../../src/db/client'
import { users } from '../../src/db/schema'
import { addressIndex, searchTokens } from '../../src/privacy/blind-index'
import { decrypt, encrypt, isEncrypted, keyIdOf } from '../../src/privacy/cipher'
import { createKeyring, generateDataKey, type Keyring } from '../../src/privacy/keys'
import { compareSortTexts, ORDER_KEY, sortTextOf } from '../../src/privacy/name-order'
import { CONTEXT, openCard, openPeople } from '../../src/privacy/people'
import { sealExisting, valuesByKey } from '../../src/accounts/seal-existing'
import { databaseBefore, personalDataRows } from '../helpers/db'
import { dumpDatabase } from '../helpers/dump'

/**
 * drizzle/0014 and the pass after it (src/accounts/seal-existing.ts) on a database from before
 * encryption: rows written the old way, in clear, with the supporters summary refreshed from them;
 * then the migration, one batch of the pass (a crash), the rest, and a run that finds nothing to do.
 */
const root = join(import.meta.dirname, '../..')
const scratch = join(root, 'node_modules/.cache/masthead-seal', String(process.pid))

const t = '2026-06-01T00:00:00Z'
/** As the old code stored them: addresses lower-case, names as given. */
const PEOPLE = [
  { id: 'u1', email: 'zoe.quist@example.org', name: 'Zoë Quist' },
  { id: 'u2', email: 'ana.alvarez@example.net', name: 'Ana Álvarez' },
  { id: 'u3', email: 'bjorn@bücher.example', name: null },
  { id: 'u4', email: 'mary-kate.obrien@example.com', name: "Mary-Kate O'Brien" },
  { id: 'u5', email: 'avila@example.org', name: 'avila' },
  { id: 'u6', email: 'emile@example.fr', name: '  Émile Zola ' },
  { id: 'u7', email: 'charlie@example.org', name: null },
]
const TOKENS = [
  { hash: 'h1', email: 'ana.alvarez@example.net' },
  { hash: 'h2', email: 'newcomer@example.com' },
  { hash: 'h3', email: 'zoe.quist@example.org' },
]
const MAIL = ['ana.alvarez@example.net', 'newcomer@example.com', 'charlie@example.org']
const PREVIEW = {
  rows: [
    { line: 2, email: 'patron.one@example.com', name: 'Petra Patronova', status: 'active_patron' },
    { line: 3, email: 'ana.alvarez@example.net', name: 'Ana Álvarez', status: 'former_patron' },
  ],
  problems: [{ line: 4, reason: 'Quentin Slip is not a status' }],
}
/** Everything written in clear above: none of it may be left in the database. */
const SECRETS = [
  ...PEOPLE.flatMap((p) => [p.email, ...(p.name ? [p.name.trim()] : [])]),
  ...TOKENS.map((x) => x.email),
  ...MAIL,
  'patron.one@example.com',
  'Petra Patronova',
  'Quentin Slip',
  'Quist',
  'Álvarez',
  'bücher',
  'example.org',
]

let world: Awaited<ReturnType<typeof databaseBefore>>
let db: Database
let keyring: Keyring
let partial: Awaited<ReturnType<typeof sealExisting>>
let partialUsers: { id: string; email: string | null; card: string | null; email_index: string }[]
let first: Awaited<ReturnType<typeof sealExisting>>

beforeAll(async () => {
  keyring = await createKeyring(generateDataKey('k1'))
  world = await databaseBefore(14, scratch)
  db = world.db
  for (const p of PEOPLE) {
    await db.execute(sql`insert into users (id, email, name, role, created_at, updated_at)
      values (${p.id}, ${p.email}, ${p.name}, 'reader', ${t}, ${t})`)
  }
  await db.execute(sql`insert into tiers (id, name, currency, monthly_amount, yearly_amount, created_at, updated_at)
    values ('reader', 'Reader', 'usd', 500, 5000, ${t}, ${t})`)
  await db.execute(sql`insert into grants (id, user_id, source, tier_id, starts_at, note, created_at, updated_at)
    values ('g1', 'u2', 'comp', 'reader', ${t}, 'Press', ${t}, ${t})`)
  for (const x of TOKENS) {
    await db.execute(sql`insert into email_tokens (token_hash, purpose, email, created_at, expires_at)
      values (${x.hash}, 'sign_in', ${x.email}, ${t}, ${t})`)
  }
  for (const to of MAIL) {
    await db.execute(sql`insert into dev_mailbox ("to", subject, text, html, created_at)
      values (${to}, 'Sign in', 'A link', '<p>A link</p>', ${t})`)
  }
  await db.execute(sql`insert into import_batches (id, created_by, rows, created_at)
    values ('b1', 'u2', ${JSON.stringify(PREVIEW)}::jsonb, ${t})`)
  await db.execute(sql`select masthead_refresh_dirty_supporters()`)
  expect((await dumpDatabase(world.database)).text, 'the old way: in clear').toContain('ana.alvarez@example.net')

  await world.migrateRest()
  // One batch of two accounts, then a stop, as a crash between batches would leave it.
  partial = await sealExisting(db, keyring, { batchSize: 2, maxBatches: 1 })
  partialUsers = await rowsOf(db, sql`select id, email, card, email_index from users order by id`)
  first = await sealExisting(db, keyring, { batchSize: 2 })
})

afterAll(async () => {
  await world?.close()
  rmSync(scratch, { recursive: true, force: true })
})

describe('encrypting an existing database in place (drizzle/0014 and src/accounts/seal-existing.ts)', () => {
  it('stopped after one batch, leaves every row either done or untouched', async () => {
    expect(partial).toMatchObject({ users: 2, finished: false, ordered: 0 })
    const [done, left] = [partialUsers.slice(0, 2), partialUsers.slice(2)]
    for (const row of done) {
      expect(keyIdOf(row.card!)).toBe('k1')
      expect(row.email, 'the card replaces the address').toBeNull()
      expect(row.email_index).not.toMatch(/^pending:/)
    }
    for (const row of left) {
      expect(isEncrypted(row.email!)).toBe(false)
      expect(row.card).toBeNull()
      expect(row.email_index).toBe(`pending:${row.id}`)
    }
  })

  it('resumed, encrypts what was left and places every account', () => {
    expect(first).toEqual({
      users: PEOPLE.length - 2,
      emailTokens: TOKENS.length,
      mail: MAIL.length,
      imports: 1,
      gifts: 0,
      ordered: PEOPLE.length,
      refreshed: PEOPLE.length,
      finished: true,
    })
  })

  it('leaves no address or name in clear anywhere in the database', async () => {
    const dump = await dumpDatabase(world.database)
    const text = dump.text.toLowerCase()
    for (const secret of SECRETS) expect(text, 'a value in clear').not.toContain(secret.toLowerCase())
    // Each account: one value, its card (address and name together).
    const accounts = PEOPLE.length
    expect(await valuesByKey(db)).toEqual(new Map([['k1', accounts + TOKENS.length + MAIL.length + 1]]))
  })

  it('keeps every value: each decrypts to what was stored', async () => {
    const users = await rowsOf<{ id: string; email: string | null; name: string | null; card: string }>(
      db,
      sql`select id, email, name, card from users order by id`,
    )
    const expected = PEOPLE.map((p) => ({ id: p.id, email: p.email, name: p.name?.trim() ?? null }))
    const opened = await openPeople(keyring, users)
    expect(opened.map(({ id, email, name }) => ({ id, email, name }))).toEqual(expected)
    // The card holds both again, and is what the supporters list and its export decrypt.
    const cards = await Promise.all(users.map(async (u) => ({ id: u.id, ...(await openCard(keyring, u.card)) })))
    expect(cards).toEqual(expected)
    const tokens = await rowsOf<{ token_hash: string; email: string }>(
      db,
      sql`select token_hash, email from email_tokens order by token_hash`,
    )
    expect(await Promise.all(tokens.map((x) => decrypt(keyring, x.email, CONTEXT.tokenEmail)))).toEqual(
      TOKENS.map((x) => x.email),
    )
    const mail = await rowsOf<{ to: string }>(db, sql`select "to" from dev_mailbox order by id`)
    expect(await Promise.all(mail.map((m) => decrypt(keyring, m.to, CONTEXT.mailTo)))).toEqual(MAIL)
    const [batch] = await rowsOf<{ rows: string }>(db, sql`select "rows" from import_batch_parts`)
    expect(JSON.parse(await decrypt(keyring, batch!.rows, CONTEXT.importRows))).toEqual(PREVIEW)
  })

  it('finds accounts, links and mail by address through the indexes', async () => {
    for (const p of PEOPLE) {
      expect((await findUserByEmail(db, keyring, p.email.toUpperCase()))?.id).toBe(p.id)
    }
    const byIndex = await rowsOf<{ token_hash: string }>(
      db,
      sql`select e.token_hash from email_tokens e join users u on u.email_index = e.email_index order by 1`,
    )
    expect(byIndex.map((r) => r.token_hash)).toEqual(['h1', 'h3'])
    const [mail] = await rowsOf<{ n: number | string }>(
      db,
      sql`select count(*) as n from dev_mailbox m join users u on u.email_index = m.to_index`,
    )
    expect(Number(mail!.n)).toBe(2)
  })

  it('gives each account its search tokens and its place in the name order', async () => {
    const rows = await db
      .select({ id: users.id, searchTokens: users.searchTokens, nameOrder: users.nameOrder })
      .from(users)
      .orderBy(sql`${users.nameOrder} collate "C"`, users.id)
    for (const row of rows) {
      const person = PEOPLE.find((p) => p.id === row.id)!
      expect(row.searchTokens).toEqual(await searchTokens(keyring, person))
      expect(row.nameOrder).toMatch(ORDER_KEY)
    }
    const expected = [...PEOPLE].sort((a, b) => compareSortTexts(sortTextOf(a), sortTextOf(b))).map((p) => p.id)
    expect(rows.map((u) => u.id)).toEqual(expected)
    expect(new Set(rows.map((u) => u.nameOrder)).size).toBe(PEOPLE.length)
  })

  it('refreshes the supporters summary: ciphertext, tokens and order copied from the accounts', async () => {
    const rows = await rowsOf<Record<string, unknown>>(
      db,
      sql`select s.user_id, s.card = u.card as card, s.email is null and u.email is null as email,
            s.name is null and u.name is null as name,
            s.search_tokens = u.search_tokens as tokens, s.name_order = u.name_order as order, s.source
          from supporters s join users u on u.id = s.user_id order by s.user_id`,
    )
    expect(rows).toHaveLength(PEOPLE.length)
    for (const row of rows)
      expect(row).toMatchObject({ card: true, email: true, name: true, tokens: true, order: true })
    expect(rows.find((r) => r.user_id === 'u2')?.source).toBe('comp')
    const [dirty] = await rowsOf<{ n: number | string }>(db, sql`select count(*) as n from supporters_dirty`)
    expect(Number(dirty!.n)).toBe(0)
  })

  it('run again, changes nothing', async () => {
    const before = await personalDataRows(db)
    const again = await sealExisting(db, keyring)
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

  it('refuses to start without the key the values were written under, and names it', async () => {
    const stranger = await createKeyring(generateDataKey('k2'))
    const before = await personalDataRows(db)
    await expect(sealExisting(db, stranger)).rejects.toThrow(/under k1, which neither DATA_ENCRYPTION_KEY/)
    expect(await personalDataRows(db)).toEqual(before)
  })
})

/**
 * drizzle/0015 and the same pass on a database written before it, when every account kept its
 * address and its name encrypted each beside the card: afterwards only the card is left, the
 * card itself untouched (nothing is encrypted again), and `named` says who has a name.
 */
describe('moving to the card alone (drizzle/0015)', () => {
  const before15 = join(root, 'node_modules/.cache/masthead-seal-15', String(process.pid))
  let old: Awaited<ReturnType<typeof databaseBefore>>
  let ring: Keyring
  const people = PEOPLE.slice(0, 4).map((p) => ({ ...p, name: p.name?.trim() ?? null }))
  let cards: Map<string, string>

  beforeAll(async () => {
    ring = await createKeyring(generateDataKey('k1'))
    old = await databaseBefore(15, before15)
    cards = new Map()
    // As the code before 0015 wrote accounts: address, name and card, each encrypted, and the indexes.
    for (const [n, p] of people.entries()) {
      const [email, name, card, index, tokens] = await Promise.all([
        encrypt(ring, p.email, CONTEXT.userEmail),
        p.name === null ? null : encrypt(ring, p.name, CONTEXT.userName),
        encrypt(ring, JSON.stringify([p.email, p.name]), CONTEXT.userCard),
        addressIndex(ring, p.email),
        searchTokens(ring, p),
      ])
      cards.set(p.id, card)
      await old.db.execute(sql`insert into users (id, email, email_index, name, search_tokens, name_order, card, role,
          created_at, updated_at)
        values (${p.id}, ${email}, ${index}, ${name}, ${`{${tokens.join(',')}}`}::text[], ${`m${n}`}, ${card},
          'reader', ${t}, ${t})`)
    }
    await old.db.execute(sql`select masthead_refresh_dirty_supporters()`)
    await old.migrateRest()
  })

  afterAll(async () => {
    await old?.close()
    rmSync(before15, { recursive: true, force: true })
  })

  it('keeps only the card, as it was, and knows who has a name', async () => {
    const counts = await sealExisting(old.db, ring)
    expect(counts).toMatchObject({ users: people.length, finished: true })
    const rows = await rowsOf<{ id: string; email: string | null; name: string | null; card: string; named: boolean }>(
      old.db,
      sql`select id, email, name, card, named from users order by id`,
    )
    expect(rows).toEqual(
      people.map((p) => ({ id: p.id, email: null, name: null, card: cards.get(p.id)!, named: p.name !== null })),
    )
    const copies = await rowsOf<{ email: string | null; name: string | null; card: string }>(
      old.db,
      sql`select email, name, card from supporters order by user_id`,
    )
    expect(copies).toEqual(people.map((p) => ({ email: null, name: null, card: cards.get(p.id)! })))
    expect(await valuesByKey(old.db)).toEqual(new Map([['k1', people.length]]))
    for (const p of people) expect((await findUserByEmail(old.db, ring, p.email))?.id).toBe(p.id)
    expect(await sealExisting(old.db, ring)).toMatchObject({ users: 0, refreshed: 0 })
  })
})
