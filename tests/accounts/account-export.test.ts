import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hitRateLimit } from '../../src/accounts/rate-limit'
import { seedDemoTiers } from '../../src/dev/demo-tiers'
import {
  emailTokens,
  importBatches,
  importBatchParts,
  patreonMembers,
  payments,
  sessions,
  stripeCustomers,
  stripeEvents,
  subscriptions,
  users,
} from '../../src/db/schema'
import type { PatreonRow } from '../../src/imports/patreon-csv'
import { sealPreview } from '../../src/imports/previews'
import { createTestApp, type TestApp } from '../helpers/app'
import { signIn } from '../helpers/auth'
import { accountByEmail, renameAccount } from '../helpers/sealed'

/**
 * Two accounts with one of everything Masthead keeps, each staff and each a
 * supporter of the other's making, whose e-mail change requests cross: each
 * one's download holds all of theirs and nothing of the other's.
 */
let t: TestApp
const people = {
  ana: { email: 'ana.privacy@example.org', name: 'Ana Álvarez', note: 'Ana: contributor, thanks', patreon: 'pat-ana' },
  ben: { email: 'ben.privacy@example.org', name: 'Ben Bäcker', note: 'Ben: press pass 2026', patreon: 'pat-ben' },
}
type Who = keyof typeof people
const seeded = {} as Record<Who, { id: string; cookie: string; data: Record<string, unknown>; json: string }>

const api = (cookie: string, path: string, init: { method?: string; body?: unknown } = {}) =>
  t.app.request(path, {
    method: init.method ?? 'GET',
    headers: { Cookie: cookie, 'Content-Type': 'application/json' },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  })

const other = (who: Who): Who => (who === 'ana' ? 'ben' : 'ana')

beforeAll(async () => {
  t = await createTestApp()
  const db = t.database.db
  const { config } = t.services
  const keyring = await t.services.keyring
  const now = t.services.clock.now()
  await seedDemoTiers(db, now)
  for (const who of ['ana', 'ben'] as const) {
    const cookie = await signIn(t.app, people[who].email)
    const user = await accountByEmail(db, config, people[who].email)
    await renameAccount(db, config, user!.id, { email: people[who].email, name: people[who].name, role: 'editor' })
    seeded[who] = { id: user!.id, cookie, data: {}, json: '' }
  }
  for (const who of ['ana', 'ben'] as const) {
    const { cookie } = seeded[who]
    const them = seeded[other(who)].id
    // Each asks to move to the other's address: the link is the asker's, not the address holder's.
    expect(
      (await api(cookie, '/api/account/email', { method: 'POST', body: { email: people[other(who)].email } })).status,
    ).toBe(202)
    // As staff, each looks the other up, comps them with a note, and exports a search for their name.
    expect((await api(cookie, `/api/admin/supporters/${them}`)).status).toBe(200)
    const comp = await api(cookie, `/api/admin/supporters/${them}/comps`, {
      method: 'POST',
      body: { tier: 'reader', months: 3, note: people[other(who)].note },
    })
    expect(comp.status).toBe(201)
    const search = new URLSearchParams({ q: people[other(who)].name })
    const csv = await api(cookie, `/api/admin/supporters.csv?${search}`)
    expect(csv.status).toBe(200)
    await csv.text()

    // A checkout started signed out with this address counts against it, as src/billing/checkout-routes.tsx does.
    const limit = { limit: 10, windowMs: 600_000 }
    await hitRateLimit(db, keyring, now, { scope: 'checkout:email', subject: people[who].email, ...limit })

    const id = seeded[who].id
    await db.insert(stripeCustomers).values({ customerId: `cus_${who}`, userId: id, createdAt: now })
    await db.insert(subscriptions).values({
      id: `sub_${who}`,
      customerId: `cus_${who}`,
      tierId: 'patron',
      priceId: `price_${who}`,
      interval: 'month',
      amount: 900,
      currency: 'eur',
      status: 'canceled',
      cancelAtPeriodEnd: false,
      stripeCreatedAt: now,
      snapshotAt: now,
      updatedAt: now,
    })
    await db.insert(payments).values({
      id: `in_${who}`,
      kind: 'subscription',
      customerId: `cus_${who}`,
      subscriptionId: `sub_${who}`,
      amount: 900,
      currency: 'eur',
      occurredAt: now,
    })
    await db.insert(stripeEvents).values({
      id: `evt_${who}`,
      type: 'invoice.paid',
      customerId: `cus_${who}`,
      stripeCreatedAt: now,
      outcome: 'processed',
      receivedAt: now,
    })
    await db.insert(patreonMembers).values({
      userId: id,
      patreonUserId: people[who].patreon,
      status: 'former',
      patreonTier: `Tier of ${who}`,
      importedAt: now,
      updatedAt: now,
    })
  }
  // A Patreon import previewed by Ana and not yet confirmed holds a row for each of them.
  await db.insert(importBatches).values({ id: 'batch_1', createdBy: seeded.ana.id, createdAt: now, parts: 1 })
  await db.insert(importBatchParts).values({
    batchId: 'batch_1',
    part: 0,
    rows: await sealPreview(keyring, {
      // Only the fields the download is checked for; a real preview has every column of the file.
      rows: (['ana', 'ben'] as const).map((who, i) => ({
        line: i + 2,
        name: people[who].name,
        email: people[who].email,
        status: 'former',
        patreonUserId: people[who].patreon,
      })) as unknown as PatreonRow[],
      rejected: [],
    }),
  })
  // The supporter list refreshes the editors' summary rows.
  expect((await api(seeded.ana.cookie, '/api/admin/supporters')).status).toBe(200)
  for (const who of ['ana', 'ben'] as const) {
    const res = await t.app.request('/account/data', { headers: { Cookie: seeded[who].cookie } })
    expect(res.status).toBe(200)
    seeded[who].json = await res.text()
    seeded[who].data = JSON.parse(seeded[who].json)
  }
})
afterAll(() => t.close())

describe.each(['ana', 'ben'] as const)('the data download of %s', (who) => {
  const me = () => seeded[who]
  const mine = () => people[who]
  const theirs = () => people[other(who)]

  it('holds the account with its name, and sessions only as when they expire', () => {
    const { data } = me()
    expect(data.account).toMatchObject({ id: me().id, email: mine().email, name: mine().name, role: 'editor' })
    expect(data.sessions).toEqual([{ expiresAt: expect.any(String) }])
  })

  it('holds the links sent to this address and the change this account asked for, not the one asked for by the other', () => {
    const links = me().data.emailLinks as { purpose: string; email: string }[]
    expect(links).toEqual([
      expect.objectContaining({ purpose: 'sign_in', email: mine().email }),
      // The address this account asked to move to: what it typed, its own request.
      expect.objectContaining({ purpose: 'change_email', email: theirs().email }),
    ])
    expect(links.some((l) => l.purpose === 'change_email' && l.email === mine().email)).toBe(false)
  })

  it('holds the rate-limit counters and development mail of this address and account', () => {
    const { data } = me()
    expect(data.rateLimits).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ scope: 'sign-in:email', count: 1 }),
        expect.objectContaining({ scope: 'checkout:email', count: 1 }),
        expect.objectContaining({ scope: 'change-email:user', count: 1 }),
      ]),
    )
    // The sign-in link, and the confirmation the other account's request sent here: subjects only.
    expect(data.developmentMail).toEqual([
      { subject: 'Sign in to Masthead', sentAt: expect.any(String) },
      { subject: 'Confirm your new e-mail address for Masthead', sentAt: expect.any(String) },
    ])
  })

  it('holds the Stripe customer, subscription, payment and event', () => {
    const { data } = me()
    expect(data.stripeCustomers).toEqual([{ customerId: `cus_${who}`, linkedAt: expect.any(String) }])
    expect(data.subscriptions).toEqual([expect.objectContaining({ id: `sub_${who}`, amount: 900, status: 'canceled' })])
    expect(data.payments).toEqual([expect.objectContaining({ id: `in_${who}`, amount: 900, currency: 'eur' })])
    expect(data.stripeEvents).toEqual([expect.objectContaining({ id: `evt_${who}`, type: 'invoice.paid' })])
  })

  it('holds the comp with its note, the Patreon record, the pending import row and the summary', () => {
    const { data } = me()
    const comps = data.comps as Record<string, unknown>[]
    expect(comps).toEqual([expect.objectContaining({ source: 'comp', tierId: 'reader', note: mine().note })])
    expect(comps[0]).not.toHaveProperty('grantedBy')
    expect(data.patreon).toMatchObject({ userId: me().id, patreonUserId: mine().patreon, status: 'former' })
    expect(data.pendingPatreonImport).toEqual([
      { previewedAt: expect.any(String), row: expect.objectContaining({ email: mine().email, name: mine().name }) },
    ])
    expect(data.supporterSummary).toMatchObject({ userId: me().id, email: mine().email })
  })

  it('holds the audit entries about this account without the staff member, and its own staff actions without whom', () => {
    const { data } = me()
    expect(data.auditAboutYou).toEqual([
      { at: expect.any(String), action: 'supporter.viewed', details: {}, by: 'a member of staff' },
      {
        at: expect.any(String),
        action: 'comp.granted',
        details: expect.objectContaining({ tierId: 'reader', months: 3 }),
        by: 'a member of staff',
      },
    ])
    expect(data.yourStaffActions).toEqual([
      {
        at: expect.any(String),
        action: 'supporter.viewed',
        what: 'You looked at a supporter record.',
      },
      {
        at: expect.any(String),
        action: 'comp.granted',
        what: 'You granted a comp to a supporter.',
      },
      {
        at: expect.any(String),
        action: 'supporters.exported',
        what: 'You exported the supporter list.',
      },
    ])
  })

  it("holds nothing of the other account's but the address this one asked to move to", () => {
    const data = structuredClone(me().data)
    data.emailLinks = (data.emailLinks as { purpose: string }[]).filter((l) => l.purpose !== 'change_email')
    const text = JSON.stringify(data)
    const them = other(who)
    for (const value of [
      seeded[them].id,
      theirs().email,
      theirs().name,
      theirs().note,
      theirs().patreon,
      `cus_${them}`,
      `sub_${them}`,
      `in_${them}`,
      `evt_${them}`,
      `Tier of ${them}`,
    ]) {
      expect(text).not.toContain(value)
    }
  })

  it('holds everything decrypted: no stored ciphertext, index or search token', async () => {
    const db = t.database.db
    expect(me().json).not.toMatch(/v1\.k\d+\./)
    const summary = me().data.supporterSummary as Record<string, unknown>
    expect(summary).toMatchObject({ email: mine().email, name: mine().name })
    expect(summary).not.toHaveProperty('searchTokens')
    expect(summary).not.toHaveProperty('card')
    const [row] = await db.select({ emailIndex: users.emailIndex }).from(users).where(eq(users.id, me().id))
    expect(me().json).not.toContain(row!.emailIndex)
  })

  it('holds no secret: no token or session hash, no cookie', async () => {
    const secrets = [
      ...(await t.database.db.select({ v: emailTokens.tokenHash }).from(emailTokens)),
      ...(await t.database.db.select({ v: sessions.id }).from(sessions)),
    ].map((r) => r.v)
    expect(secrets.length).toBeGreaterThanOrEqual(4)
    for (const secret of [...secrets, me().cookie.split('=')[1]!]) expect(me().json).not.toContain(secret)
  })
})
