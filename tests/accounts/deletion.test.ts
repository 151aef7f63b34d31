import { stringify } from 'csv-stringify/sync'
import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hitRateLimit } from '../../src/accounts/rate-limit'
import { STILL_BILLED } from '../../src/accounts/account-data'
import { seedDemoTiers } from '../../src/dev/demo-tiers'
import { PATREON_HEADERS } from '../../src/dev/patreon-fixture'
import {
  auditLog,
  importBatches,
  payments,
  stripeCustomers,
  stripeEvents,
  subscriptions,
  users,
} from '../../src/db/schema'
import { sha256Hex } from '../../src/util/random'
import { createTestApp, type TestApp } from '../helpers/app'
import { signIn } from '../helpers/auth'
import { DUMP_METHOD, dumpDatabase, type Dump } from '../helpers/dump'

/**
 * "Deleting means deleted" (#15): two people with rows in every table that
 * can hold something about a person, made through the app's own routes where
 * it has them (sign-in, a Patreon import and a preview left pending, e-mail
 * change links, comps, staff searches and exports, the development mailbox)
 * and inserted where only Stripe makes them. Cleo deletes her account; an
 * admin erases Dov on request. Then the whole database is dumped and searched
 * for their addresses and names, in any case.
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

/** What must be gone: each person's addresses, their SHA-256 (the rate-limit keys' form), and their name. */
async function tracesOf(who: 'cleo' | 'dov') {
  const person = who === 'cleo' ? cleo : dov
  const addresses = who === 'cleo' ? [cleo.email, cleo.movingTo] : [dov.email]
  return [...addresses, ...(await Promise.all(addresses.map(sha256Hex))), person.name, person.name.split(' ')[1]!]
}

const holding = (dump: Dump, needle: string) =>
  [...dump.tables].filter(([, text]) => text.toLowerCase().includes(needle.toLowerCase())).map(([name]) => name)

beforeAll(async () => {
  t = await createTestApp({ env: { ADMIN_EMAILS: ADMIN, PUBLICATION_NAME: 'The Erasure Gazette' } })
  const db = t.database.db
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
  expect(imported.status).toBe(200)
  expect(
    (await json(cookies.admin, '/api/admin/imports/patreon-invitations', { method: 'POST', body: {} })).status,
  ).toBe(200)
  // A second upload left at its preview: the parsed rows wait in import_batches, with a line rejected
  // because Dov's name slipped into the status column (the reason quotes it).
  const slipped = { ...patron({ email: 'quentin@example.com', name: 'Quentin Slip' }, {}), 'Patron Status': dov.name }
  const preview = await upload('/admin/imports/patreon', patreonExport([...PATRONS, slipped]))
  expect(preview.status).toBe(200)
  expect(await db.select().from(importBatches)).toHaveLength(1)

  for (const who of ['cleo', 'dov', 'pat', 'admin'] as const) {
    const email = { cleo: cleo.email, dov: dov.email, pat: pat.email, admin: ADMIN }[who]
    const [user] = await db.select().from(users).where(eq(users.email, email))
    ids[who] = user!.id
  }
  expect((await db.select().from(users).where(eq(users.id, ids.dov)))[0]?.name).toBe(dov.name)
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
    await hitRateLimit(db, now, { scope: 'checkout:email', subject: email, limit: 10, windowMs: 600_000 })
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
  // The editors' summary rows.
  expect((await json(cookies.admin, '/api/admin/supporters')).status).toBe(200)
  before = await dumpDatabase(t.database)
})
afterAll(() => t.close())

describe(`deleting an account and erasing a supporter (${DUMP_METHOD})`, () => {
  it('starts from a database that holds both people in every table that can', async () => {
    for (const who of ['cleo', 'dov'] as const) {
      const { email, name } = who === 'cleo' ? cleo : dov
      for (const table of ['users', 'email_tokens', 'dev_mailbox', 'import_batches', 'supporters']) {
        expect(holding(before, email), `${who}'s address in ${table}`).toContain(table)
        if (table !== 'email_tokens' && table !== 'dev_mailbox') {
          expect(holding(before, name), `${who}'s name in ${table}`).toContain(table)
        }
      }
      expect(holding(before, await sha256Hex(email))).toEqual(['rate_limits'])
      for (const table of ['sessions', 'stripe_customers', 'patreon_members', 'audit_log']) {
        expect(holding(before, ids[who]), `${who}'s id in ${table}`).toContain(table)
      }
    }
    expect(holding(before, cleo.name)).toContain('grants')
    expect(holding(before, cleo.movingTo)).toEqual(expect.arrayContaining(['email_tokens', 'dev_mailbox']))
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
  })

  it.each(['cleo', 'dov'] as const)(
    'leaves no address, address hash or name of %s anywhere in the dump, in any case',
    async (who) => {
      expect(after.text.length).toBeGreaterThan(1000)
      for (const trace of await tracesOf(who)) {
        expect(
          after.text.toLowerCase(),
          `the dump holds "${trace}" (${holding(after, trace).join(', ')})`,
        ).not.toContain(trace.toLowerCase())
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

  it('keeps everyone else: the other patron, the admin, and the preview without their rows', async () => {
    for (const kept of [pat.email, pat.name, ADMIN]) expect(holding(after, kept)).toContain('users')
    const [batch] = await t.database.db.select().from(importBatches)
    const stored = batch!.rows as { rows: { email: string }[]; rejected: { line: number; reason: string }[] }
    expect(stored.rows.map((r) => r.email)).toEqual([pat.email])
    // Dov's name is gone from the reason; the line stays rejected, so the import still writes nothing.
    expect(stored.rejected).toEqual([{ line: 5, reason: expect.stringContaining('The Patron Status "…"') }])
    // The audit log keeps every entry, the searches as keyed hashes.
    expect(holding(after, 'hmac-sha256:')).toEqual(['audit_log'])
  })
})
