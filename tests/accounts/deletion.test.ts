import { stringify } from 'csv-stringify/sync'
import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hitRateLimit } from '../../src/accounts/rate-limit'
import { STILL_BILLED } from '../../src/accounts/account-data'
import { seedDemoTiers } from '../../src/dev/demo-tiers'
import { PATREON_HEADERS } from '../../src/dev/patreon-fixture'
import { giftInput, GIFT_CONTEXT, newGift, openMessage } from '../../src/billing/gifts/gifts'
import {
  auditLog,
  gifts,
  importBatches,
  importBatchParts,
  payments,
  stripeCustomers,
  stripeEvents,
  subscriptions,
  users,
} from '../../src/db/schema'
import { openPreview } from '../../src/imports/previews'
import { addressIndexes, searchTokens } from '../../src/privacy/blind-index'
import { decrypt } from '../../src/privacy/cipher'
import { openAccount } from '../../src/privacy/people'
import { sha256Hex } from '../../src/util/random'
import { createTestApp, runDueJobs, type TestApp } from '../helpers/app'
import { signIn } from '../helpers/auth'
import { DUMP_METHOD, dumpDatabase, openDump, type Dump } from '../helpers/dump'
import { accountByEmail } from '../helpers/sealed'

/**
 * "Deleting means deleted" (#15): two people with rows in every table that
 * can hold something about a person, made through the app's own routes where
 * it has them (sign-in, a Patreon import and a preview left pending, e-mail
 * change links, comps, staff searches and exports, the development mailbox)
 * and inserted where only Stripe makes them. Cleo deletes her account; an
 * admin erases Dov on request. Then the whole database is dumped and searched
 * for their addresses and names, in any case: in the dump as it is, where
 * everything about a person is encrypted or a keyed hash, and in the dump with
 * every encrypted value decrypted (what a thief holding the keys would read),
 * and for the keyed hashes themselves (address indexes, search tokens).
 */
let t: TestApp
const ADMIN = 'admin@erasure.example'
const cleo = {
  email: 'cleo.quill@example.org',
  typed: 'Cleo.Quill@Example.ORG',
  name: 'Cleo Quillfeather',
  movingTo: 'cleo.new@elsewhere.example',
}
const dov = { email: 'dov.marsh@example.net', name: 'Dov Marshwood' }
/** Stays: a patron in the same import, and the account that asked to move to Dov's address. */
const pat = { email: 'pat.other@example.com', name: 'Pat Otherly' }
const ids = { cleo: '', dov: '', pat: '', admin: '' }
const cookies = { cleo: '', dov: '', pat: '', admin: '' }
let before: Dump
let after: Dump
/** The dumps with every encrypted value decrypted. */
let beforeOpened: Awaited<ReturnType<typeof openDump>>
let afterOpened: Awaited<ReturnType<typeof openDump>>

const json = (cookie: string, path: string, init: { method?: string; body?: unknown } = {}) =>
  t.app.request(path, {
    method: init.method ?? 'GET',
    headers: { Cookie: cookie, 'Content-Type': 'application/json' },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  })

/** A Patreon members export (current header) with the given cells; the columns never kept are filled too. */
function patreonExport(rows: Record<string, string>[]): string {
  const header = PATREON_HEADERS.current
  return stringify([header, ...rows.map((r) => header.map((column) => r[column] ?? ''))])
}

const patron = (who: { email: string; name: string }, cells: Record<string, string>) => ({
  Name: who.name,
  Email: who.email,
  Addressee: who.name,
  Street: '1 Private Lane',
  Phone: '+44 20 7946 0000',
  'Free Member': 'No',
  'Patronage Since Date': '2025-06-01 10:00:00',
  Currency: 'EUR',
  ...cells,
})

const PATRONS = [
  patron(cleo, { 'Patron Status': 'Former patron', 'Lifetime Amount': '24.00', 'User ID': '90000001' }),
  patron(dov, {
    'Patron Status': 'Active patron',
    'Pledge Amount': '5.00',
    'Lifetime Amount': '60.00',
    'Charge Frequency': 'monthly',
    Tier: 'Reader',
    'Last Charge Date': '2026-11-01 10:00:00',
    'Last Charge Status': 'Paid',
    'Next Charge Date': '2026-12-01 00:00:00',
    'User ID': '90000002',
  }),
  patron(pat, {
    'Patron Status': 'Active patron',
    'Pledge Amount': '3.00',
    'Lifetime Amount': '9.00',
    'Charge Frequency': 'monthly',
    Tier: 'Reader',
    'Next Charge Date': '2026-12-01 00:00:00',
    'User ID': '90000003',
  }),
]

const addressesOf = (who: 'cleo' | 'dov') => (who === 'cleo' ? [cleo.email, cleo.movingTo] : [dov.email])

/** What must be gone from the dump, decrypted or not: each person's addresses, their name and surname. */
function tracesOf(who: 'cleo' | 'dov') {
  const person = who === 'cleo' ? cleo : dov
  return [...addressesOf(who), person.name, person.name.split(' ')[1]!]
}

/**
 * The keyed hashes that stand for a person: their addresses' indexes (under every key: the
 * accounts, links, mail and rate-limit counters), the old unkeyed SHA-256 of the addresses,
 * which nothing should hold any longer, and the search tokens of their name and address that
 * no one who stays shares (a domain's or a common prefix's token names no one).
 */
async function keyedTracesOf(who: 'cleo' | 'dov') {
  const keyring = await t.services.keyring
  const person = who === 'cleo' ? cleo : dov
  const shared = new Set(
    (await Promise.all([pat, { email: ADMIN, name: null }].map((p) => searchTokens(keyring, p)))).flat(),
  )
  const own = await searchTokens(keyring, { email: person.email, name: person.name })
  return [
    ...(await Promise.all(addressesOf(who).map((a) => addressIndexes(keyring, a)))).flat(),
    ...addressesOf(who).map((a) => sha256Hex(a)),
    ...own.filter((token) => !shared.has(token)),
  ]
}

const holding = (dump: Dump, needle: string) =>
  [...dump.tables].filter(([, text]) => text.toLowerCase().includes(needle.toLowerCase())).map(([name]) => name)

beforeAll(async () => {
  t = await createTestApp({ env: { ADMIN_EMAILS: ADMIN, PUBLICATION_NAME: 'The Erasure Gazette' } })
  const db = t.database.db
  const keyring = await t.services.keyring
  const now = t.services.clock.now()
  await seedDemoTiers(db, now)
  cookies.admin = await signIn(t.app, ADMIN)
  // Sign-in: the account, a session, the used link, the per-address counter and the mail.
  cookies.cleo = await signIn(t.app, cleo.typed)
  cookies.dov = await signIn(t.app, dov.email)

  // A Patreon import gives both their names and Patreon records; the invitation goes to the active patron.
  const upload = (path: string, csv: string, fields: Record<string, string> = {}) => {
    const form = new FormData()
    form.set('file', new File([csv], 'members.csv', { type: 'text/csv' }))
    for (const [k, v] of Object.entries(fields)) form.set(k, v)
    return t.app.request(path, { method: 'POST', headers: { Cookie: cookies.admin }, body: form })
  }
  const imported = await upload('/api/admin/imports/patreon', patreonExport(PATRONS), {
    mapping: '{"Reader":"reader"}',
  })
  expect(imported.status).toBe(202)
  await runDueJobs(t)
  expect(
    (await json(cookies.admin, '/api/admin/imports/patreon-invitations', { method: 'POST', body: {} })).status,
  ).toBe(202)
  expect((await runDueJobs(t)).steps).toBe(1) // invited; the job then waits for the reminders
  // A second upload left at its preview: the parsed rows wait in import_batch_parts, with a line rejected
  // because Dov's name slipped into the status column (the reason quotes it).
  const slipped = { ...patron({ email: 'quentin@example.com', name: 'Quentin Slip' }, {}), 'Patron Status': dov.name }
  const preview = await upload('/admin/imports/patreon', patreonExport([...PATRONS, slipped]))
  expect(preview.status).toBe(200)
  expect(await db.select().from(importBatches)).toHaveLength(1)

  for (const who of ['cleo', 'dov', 'pat', 'admin'] as const) {
    const email = { cleo: cleo.email, dov: dov.email, pat: pat.email, admin: ADMIN }[who]
    const user = await accountByEmail(db, t.services.config, email)
    ids[who] = user!.id
  }
  const [dovRow] = await db.select().from(users).where(eq(users.id, ids.dov))
  expect((await openAccount(keyring, dovRow!)).name).toBe(dov.name)
  cookies.pat = await signIn(t.app, pat.email)

  // Changes of address: Cleo asks to move (a link to the new address); Pat asks to move to Dov's address.
  expect(
    (await json(cookies.cleo, '/api/account/email', { method: 'POST', body: { email: cleo.movingTo } })).status,
  ).toBe(202)
  expect((await json(cookies.pat, '/api/account/email', { method: 'POST', body: { email: dov.email } })).status).toBe(
    202,
  )
  // Signed-out checkouts count per address (src/billing/checkout-routes.tsx).
  for (const email of [cleo.email, dov.email]) {
    await hitRateLimit(db, keyring, now, { scope: 'checkout:email', subject: email, limit: 10, windowMs: 600_000 })
  }

  // Staff work: Cleo becomes an editor and looks Dov up; the admin comps Cleo with a note naming her, and both
  // export searches for the other's name or address (and a tier typed as a name).
  expect(
    (await json(cookies.admin, '/api/admin/staff', { method: 'POST', body: { email: cleo.email, role: 'editor' } }))
      .status,
  ).toBe(200)
  expect((await json(cookies.cleo, `/api/admin/supporters/${ids.dov}`)).status).toBe(200)
  const grant = await json(cookies.admin, `/api/admin/supporters/${ids.cleo}/comps`, {
    method: 'POST',
    body: { tier: 'reader', months: 3, note: `${cleo.name}: contributor` },
  })
  expect(grant.status).toBe(201)
  expect((await json(cookies.admin, `/api/admin/supporters/${ids.cleo}`)).status).toBe(200)
  for (const [cookie, filter] of [
    [cookies.cleo, { q: dov.name }],
    [cookies.admin, { q: cleo.typed }],
    [cookies.admin, { q: 'marshwood', tier: dov.name }],
  ] as const) {
    const csv = await json(cookie, `/api/admin/supporters.csv?${new URLSearchParams(filter)}`)
    expect(csv.status).toBe(200)
    await csv.text()
  }

  // Stripe: Cleo gave once; Dov pays monthly. Only Stripe's webhooks write these, so they are inserted.
  await db.insert(stripeCustomers).values([
    { customerId: 'cus_cleo', userId: ids.cleo, createdAt: now },
    { customerId: 'cus_dov', userId: ids.dov, createdAt: now },
  ])
  await db.insert(subscriptions).values({
    id: 'sub_dov',
    customerId: 'cus_dov',
    tierId: 'reader',
    priceId: 'price_reader_month',
    interval: 'month',
    amount: 500,
    currency: 'eur',
    status: 'active',
    cancelAtPeriodEnd: false,
    currentPeriodEnd: new Date(now.getTime() + 20 * 86_400_000),
    stripeCreatedAt: now,
    snapshotAt: now,
    updatedAt: now,
  })
  await db.insert(payments).values([
    { id: 'pi_cleo', kind: 'donation', customerId: 'cus_cleo', amount: 2500, currency: 'usd', occurredAt: now },
    {
      id: 'in_dov',
      kind: 'subscription',
      customerId: 'cus_dov',
      subscriptionId: 'sub_dov',
      amount: 500,
      currency: 'eur',
      occurredAt: now,
    },
  ])
  await db.insert(stripeEvents).values([
    {
      id: 'evt_cleo',
      type: 'checkout.session.completed',
      customerId: 'cus_cleo',
      stripeCreatedAt: now,
      outcome: 'processed',
      receivedAt: now,
    },
    {
      id: 'evt_dov',
      type: 'invoice.paid',
      customerId: 'cus_dov',
      stripeCreatedAt: now,
      outcome: 'processed',
      receivedAt: now,
    },
  ])
  // Gifts (src/billing/gifts), paid; only Stripe's webhook marks them paid, so they are inserted as the form makes
  // them. To Cleo, from Pat, not yet delivered; to Dov, delivered (its link out) but not redeemed; from Dov, bought
  // signed out, to Pat, signed with his name; from Cleo's account to someone who stays.
  const gift = async (
    id: string,
    fields: { to: string; from: string; by?: string; message?: string; by_name?: string },
  ) => {
    const input = giftInput('2026-11-25').parse({
      tier: 'reader',
      months: 3,
      recipient_email: fields.to,
      deliver_on: '2026-12-24',
      message: fields.message,
      from_name: fields.by_name,
      email: fields.from,
    })
    const row = await newGift(keyring, now, {
      id,
      tier: { id: 'reader', currency: 'usd' },
      input,
      amount: 1500,
      giverUserId: fields.by ?? null,
      giverEmail: fields.from,
      checkoutSessionId: `cs_${id}`,
    })
    await db.insert(gifts).values({ ...row, paidAt: now, paymentIntentId: `pi_${id}` })
  }
  await gift('gift_to_cleo', { to: cleo.typed, from: pat.email, by: ids.pat, message: 'For you, Cleo', by_name: 'Pat' })
  await gift('gift_to_dov', { to: dov.email, from: pat.email, by: ids.pat, message: 'Read on, Dov' })
  await db
    .update(gifts)
    .set({ deliveredAt: now, message: null, tokenHash: 'f'.repeat(64) })
    .where(eq(gifts.id, 'gift_to_dov'))
  await gift('gift_from_dov', { to: pat.email, from: dov.email, message: `Cheers, ${dov.name}`, by_name: dov.name })
  await gift('gift_from_cleo', { to: 'stays@example.com', from: cleo.email, by: ids.cleo, by_name: cleo.name })

  // The editors' summary rows.
  expect((await json(cookies.admin, '/api/admin/supporters')).status).toBe(200)
  before = await dumpDatabase(t.database)
  beforeOpened = await openDump(before, keyring)
})
afterAll(() => t.close())

describe(`deleting an account and erasing a supporter (${DUMP_METHOD})`, () => {
  it('starts from a database that holds both people in every table that can, encrypted', async () => {
    const keyring = await t.services.keyring
    expect(beforeOpened.unreadable).toBe(0)
    for (const who of ['cleo', 'dov'] as const) {
      const { email, name } = who === 'cleo' ? cleo : dov
      for (const table of ['users', 'email_tokens', 'dev_mailbox', 'import_batch_parts', 'supporters', 'gifts']) {
        expect(holding(beforeOpened, email), `${who}'s address in ${table}`).toContain(table)
        if (table !== 'email_tokens' && table !== 'dev_mailbox') {
          expect(holding(beforeOpened, name), `${who}'s name in ${table}`).toContain(table)
        }
      }
      // In the dump itself: no address in any table, and no name but in a comp's note (an editor's free text,
      // which PGlite's reading also finds through the all_grants view).
      expect(holding(before, email)).toEqual([])
      for (const table of holding(before, name)) expect(['grants', 'all_grants']).toContain(table)
      if (who === 'cleo') expect(holding(before, name)).toContain('grants')
      const [index] = await addressIndexes(keyring, email)
      for (const table of ['users', 'email_tokens', 'dev_mailbox', 'rate_limits', 'gifts']) {
        expect(holding(before, index!), `${who}'s address index in ${table}`).toContain(table)
      }
      expect(holding(before, sha256Hex(email))).toEqual([])
      for (const table of ['sessions', 'stripe_customers', 'patreon_members', 'entitlement_facts', 'audit_log']) {
        expect(holding(before, ids[who]), `${who}'s id in ${table}`).toContain(table)
      }
    }
    expect(holding(beforeOpened, cleo.movingTo)).toEqual(expect.arrayContaining(['email_tokens', 'dev_mailbox']))
  })

  it('the reader deletes her own account', async () => {
    const res = await t.app.request('/account/delete', {
      method: 'POST',
      headers: { Cookie: cookies.cleo, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ confirm: 'DELETE' }),
    })
    expect(res.status).toBe(200)
    expect(await res.text()).toContain('Your account has been deleted')
  })

  it('an admin cannot erase a supporter whom Stripe still bills, and nothing changes', async () => {
    const res = await json(cookies.admin, `/api/admin/supporters/${ids.dov}`, { method: 'DELETE' })
    expect(res.status).toBe(409)
    expect((await res.json()).error).toMatchObject({ code: 'conflict', message: STILL_BILLED })
    expect(await t.database.db.select().from(users).where(eq(users.id, ids.dov))).toHaveLength(1)
  })

  it('once the membership is set to end, the admin erases him, audited by account id only', async () => {
    // What the customer.subscription.updated webhook writes when he cancels in the portal.
    await t.database.db.update(subscriptions).set({ cancelAtPeriodEnd: true }).where(eq(subscriptions.id, 'sub_dov'))
    const res = await json(cookies.admin, `/api/admin/supporters/${ids.dov}`, { method: 'DELETE' })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ ok: true, erased: ids.dov })
    const [entry] = await t.database.db.select().from(auditLog).where(eq(auditLog.action, 'supporter.erased'))
    expect(entry).toMatchObject({ actorId: ids.admin, subjectUserId: ids.dov, details: {} })
    after = await dumpDatabase(t.database)
    afterOpened = await openDump(after, await t.services.keyring)
  })

  it.each(['cleo', 'dov'] as const)(
    'leaves no address or name of %s anywhere in the dump, in any case, even with every value decrypted',
    async (who) => {
      expect(after.text.length).toBeGreaterThan(1000)
      expect(afterOpened.unreadable).toBe(0)
      for (const dump of [after, afterOpened]) {
        for (const trace of tracesOf(who)) {
          expect(
            dump.text.toLowerCase(),
            `the dump holds "${trace}" (${holding(dump, trace).join(', ')})`,
          ).not.toContain(trace.toLowerCase())
        }
      }
    },
  )

  it.each(['cleo', 'dov'] as const)(
    'leaves no address index, address hash or search token of %s anywhere in the dump',
    async (who) => {
      const traces = await keyedTracesOf(who)
      expect(traces.length).toBeGreaterThan(5)
      for (const trace of traces) {
        expect(after.text, `the dump holds a keyed hash of theirs (${holding(after, trace).join(', ')})`).not.toContain(
          trace,
        )
      }
    },
  )

  it('leaves their account ids only where they name no one: the audit log and the refresh queue', () => {
    for (const who of ['cleo', 'dov'] as const) {
      for (const table of holding(after, ids[who])) expect(['audit_log', 'supporters_dirty']).toContain(table)
    }
  })

  it('keeps the payments ledger, subscriptions and events for accounting, linked to no one', async () => {
    const db = t.database.db
    const ledger = await db.select().from(payments).orderBy(payments.id)
    expect(
      ledger.map(({ id, kind, customerId, amount, currency }) => ({ id, kind, customerId, amount, currency })),
    ).toEqual([
      { id: 'in_dov', kind: 'subscription', customerId: 'cus_dov', amount: 500, currency: 'eur' },
      { id: 'pi_cleo', kind: 'donation', customerId: 'cus_cleo', amount: 2500, currency: 'usd' },
    ])
    expect(await db.select({ id: subscriptions.id, amount: subscriptions.amount }).from(subscriptions)).toEqual([
      { id: 'sub_dov', amount: 500 },
    ])
    expect((await db.select({ id: stripeEvents.id }).from(stripeEvents)).map((e) => e.id).sort()).toEqual([
      'evt_cleo',
      'evt_dov',
    ])
    expect(await db.select().from(stripeCustomers)).toEqual([])
  })

  it('cancels the gifts to them and drops their address and message from the gifts they gave', async () => {
    const db = t.database.db
    const keyring = await t.services.keyring
    const byId = new Map((await db.select().from(gifts)).map((g) => [g.id, g]))
    expect([...byId.keys()].sort()).toEqual(['gift_from_cleo', 'gift_from_dov', 'gift_to_cleo', 'gift_to_dov'])
    // To them: nothing left to deliver or redeem, and nothing of anyone in it; the paid row stays.
    for (const id of ['gift_to_cleo', 'gift_to_dov']) {
      expect(byId.get(id), id).toMatchObject({
        recipientEmail: null,
        recipientEmailIndex: null,
        giverEmail: null,
        message: null,
        tokenHash: null,
        redeemedAt: null,
        amount: 1500,
      })
      expect(byId.get(id)!.paidAt).not.toBeNull()
    }
    // From them: still on its way to its recipient, without the giver's address or message.
    const fromDov = byId.get('gift_from_dov')!
    expect(fromDov).toMatchObject({ giverEmail: null, message: null, giverUserId: null })
    expect(await decrypt(keyring, fromDov.recipientEmail!, GIFT_CONTEXT.recipient)).toBe(pat.email)
    const fromCleo = byId.get('gift_from_cleo')!
    expect(fromCleo).toMatchObject({ giverEmail: null, message: null, giverUserId: null })
    expect(await decrypt(keyring, fromCleo.recipientEmail!, GIFT_CONTEXT.recipient)).toBe('stays@example.com')
    expect(await openMessage(keyring, fromCleo.message)).toEqual({ message: null, from: null })
  })

  it('keeps everyone else: the other patron, the admin, and the preview without their rows', async () => {
    for (const kept of [pat.email, pat.name, ADMIN]) expect(holding(afterOpened, kept)).toContain('users')
    const [batch] = await t.database.db.select().from(importBatchParts)
    const stored = await openPreview(await t.services.keyring, batch!.rows)
    expect(stored.rows.map((r) => r.email)).toEqual([pat.email])
    // Dov's name is gone from the reason; the line stays rejected, so the import still writes nothing.
    // Its cells, kept for the download of rejected rows, lose Dov's name the same way.
    expect(stored.rejected).toEqual([
      { line: 5, reason: expect.stringContaining('The Patron Status "…"'), cells: expect.arrayContaining(['…']) },
    ])
    expect(JSON.stringify(stored.rejected)).not.toContain(dov.name)
    // The audit log keeps every entry, the searches as keyed hashes.
    expect(holding(after, 'hmac-sha256:')).toEqual(['audit_log'])
  })
})
