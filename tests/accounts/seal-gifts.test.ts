import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { asc, eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sealExisting, valuesByKey } from '../../src/accounts/seal-existing'
import { GIFT_CONTEXT, giftInput, newGift, openMessage } from '../../src/billing/gifts/gifts'
import type { Database } from '../../src/db/client'
import { gifts } from '../../src/db/schema'
import { seedDemoTiers } from '../../src/dev/demo-tiers'
import { addressIndex, addressIndexes } from '../../src/privacy/blind-index'
import { decrypt, DecryptionError, encrypt, keyIdOf } from '../../src/privacy/cipher'
import { createKeyring, generateDataKey, type Keyring } from '../../src/privacy/keys'
import { createTestDatabase, type TestDatabase } from '../helpers/db'
import { dumpDatabase } from '../helpers/dump'

/**
 * Key rotation (`npm run keys:rotate`, src/accounts/seal-existing.ts in 'rotate' mode) covers the
 * gifts table's sealed columns: the recipient's address (and its address index, recomputed), the
 * giver's address and the message, resumably, a batch at a time, as it does every other column.
 */
const K1 = generateDataKey('k1')
const K2 = generateDataKey('k2')
const now = new Date('2026-11-25T12:00:00Z')
const GIFTS = [
  { id: 'g1', recipient: 'rhea.recipient@example.org', giver: 'gus.giver@example.net', message: 'For the long reads' },
  { id: 'g2', recipient: 'olaf.other@example.com', giver: 'gus.giver@example.net', message: undefined },
  { id: 'g3', recipient: 'pia.pending@example.org', giver: 'gina.giver@example.org', message: 'Happy birthday, Pia' },
]

let database: TestDatabase
let db: Database
let k1: Keyring
let k2: Keyring

const rows = () => db.select().from(gifts).orderBy(asc(gifts.id))

beforeAll(async () => {
  database = await createTestDatabase()
  db = database.db
  k1 = await createKeyring(K1)
  k2 = await createKeyring(K2, [K1])
  await seedDemoTiers(db, now)
  for (const g of GIFTS) {
    const input = giftInput('2026-11-25').parse({
      tier: 'reader',
      months: 3,
      recipient_email: g.recipient,
      deliver_on: '2026-12-24',
      message: g.message,
      from_name: g.message ? 'Gus' : undefined,
      email: g.giver,
    })
    const row = await newGift(k1, now, {
      id: g.id,
      tier: { id: 'reader', currency: 'usd' },
      input,
      amount: 1500,
      giverUserId: null,
      giverEmail: g.giver,
      checkoutSessionId: `cs_${g.id}`,
    })
    await db.insert(gifts).values({ ...row, paidAt: now })
  }
  // g2 was redeemed by a version that kept the address index: its addresses and message are gone.
  await db.update(gifts).set({ recipientEmail: null, giverEmail: null, message: null }).where(eq(gifts.id, 'g2'))
})
afterAll(() => database?.close())

describe('rotating the data key over gifts', () => {
  it('counts the gifts’ sealed values among those under k1', async () => {
    // g1: recipient, giver, message; g2: nothing left; g3: recipient, giver, message.
    expect(Object.fromEntries(await valuesByKey(db))).toEqual({ k1: 6 })
  })

  it('refuses to start without the key the gifts were sealed under, changing nothing', async () => {
    const before = await rows()
    const k3 = await createKeyring(generateDataKey('k3'))
    const failure = await sealExisting(db, k3, { mode: 'rotate' }).catch((error: unknown) => error)
    expect(failure).toBeInstanceOf(DecryptionError)
    expect((failure as Error).message).toMatch(/under k1/)
    expect(await rows()).toEqual(before)
  })

  it('stopped after a batch, has rotated that batch only', async () => {
    const partial = await sealExisting(db, k2, { mode: 'rotate', batchSize: 2, maxBatches: 1 })
    expect(partial).toMatchObject({ gifts: 2, finished: false })
    const [g1, g2, g3] = await rows()
    expect(keyIdOf(g1!.recipientEmail!)).toBe('k2')
    expect(g2!.recipientEmailIndex).toBeNull()
    expect(keyIdOf(g3!.recipientEmail!)).toBe('k1')
    expect(keyIdOf(g3!.giverEmail!)).toBe('k1')
    expect(Object.fromEntries(await valuesByKey(db))).toEqual({ k1: 3, k2: 3 })
  })

  it('resumed, leaves every gift under k2 alone, its address index recomputed', async () => {
    const counts = await sealExisting(db, k2, { mode: 'rotate', batchSize: 2 })
    expect(counts).toMatchObject({ gifts: 1, finished: true })
    expect(Object.fromEntries(await valuesByKey(db))).toEqual({ k2: 6 })
    const k2Only = await createKeyring(K2)
    for (const row of await rows()) {
      const g = GIFTS.find((x) => x.id === row.id)!
      if (row.id === 'g2') {
        expect(row).toMatchObject({ recipientEmail: null, recipientEmailIndex: null, giverEmail: null, message: null })
        continue
      }
      expect(await decrypt(k2Only, row.recipientEmail!, GIFT_CONTEXT.recipient)).toBe(g.recipient)
      expect(await decrypt(k2Only, row.giverEmail!, GIFT_CONTEXT.giver)).toBe(g.giver)
      expect(row.recipientEmailIndex).toBe(await addressIndex(k2Only, g.recipient))
      expect(row.recipientEmailIndex).not.toBe(await addressIndex(k1, g.recipient))
      expect(await openMessage(k2Only, row.message)).toEqual({ message: g.message, from: 'Gus' })
    }
    // Found by the address index under the current key, as deleting an account looks for them.
    const [index] = await addressIndexes(k2, 'pia.pending@example.org')
    expect((await db.select({ id: gifts.id }).from(gifts).where(eq(gifts.recipientEmailIndex, index!))).length).toBe(1)
  })

  it('run again, changes nothing', async () => {
    const before = await rows()
    expect(await sealExisting(db, k2, { mode: 'rotate' })).toMatchObject({ gifts: 0, finished: true })
    expect(await rows()).toEqual(before)
  })

  it('picks up a value an old key wrote after the run (a server not yet given the new key)', async () => {
    await db
      .update(gifts)
      .set({ message: await encrypt(k1, JSON.stringify(['Later', null]), GIFT_CONTEXT.message) })
      .where(eq(gifts.id, 'g1'))
    expect(await sealExisting(db, k2, { mode: 'rotate' })).toMatchObject({ gifts: 1, finished: true })
    const [g1] = await rows()
    expect(keyIdOf(g1!.message!)).toBe('k2')
  })
})

describe.runIf(process.env.TEST_DATABASE_URL)('npm run keys:rotate over gifts', () => {
  const root = join(import.meta.dirname, '../..')

  it('rotates the gifts to a third key and prints counts, never an address or a message', async () => {
    const run = await promisify(execFile)(join(root, 'node_modules/.bin/tsx'), ['src/cli/keys-rotate.ts'], {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? '',
        DATABASE_URL: database.url!,
        DATA_ENCRYPTION_KEY: generateDataKey('k3'),
        DATA_ENCRYPTION_KEYS_OLD: K2,
      },
    })
    const out = run.stdout + run.stderr
    expect(out).toMatch(/\(and 2 gifts\) written under key k3/)
    expect(out).toMatch(/Everything is under k3/)
    expect(Object.fromEntries(await valuesByKey(db))).toEqual({ k3: 6 })
    const dump = (await dumpDatabase(database)).text.toLowerCase()
    for (const text of [out.toLowerCase(), dump]) expect(text).not.toMatch(/@example|long reads|happy birthday/)
  })
})
