import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { STILL_BILLED } from '../../src/accounts/account-data'
import { seedDemoTiers } from '../../src/dev/demo-tiers'
import { auditLog, stripeCustomers, subscriptions, users } from '../../src/db/schema'
import { createTestApp, type TestApp } from '../helpers/app'
import { signIn } from '../helpers/auth'
import { accountByEmail } from '../helpers/sealed'

// Erasing a supporter on request (admins): the page's form and the API. What the erasure removes
// is tests/accounts/deletion.test.ts's subject; here, who may, how it is confirmed, refused and audited.
let t: TestApp
let admin: string
let editor: string

const form = (path: string, cookie: string, fields: Record<string, string>) =>
  t.app.request(path, {
    method: 'POST',
    headers: { Cookie: cookie, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields),
  })

async function supporter(email: string): Promise<string> {
  await signIn(t.app, email)
  return (await accountByEmail(t.database.db, t.services.config, email))!.id
}

/** A monthly membership Stripe bills, as the webhooks store it. */
async function paying(userId: string, customerId: string) {
  const now = t.services.clock.now()
  await t.database.db.insert(stripeCustomers).values({ customerId, userId, createdAt: now })
  await t.database.db.insert(subscriptions).values({
    id: `sub_${customerId}`,
    customerId,
    tierId: 'reader',
    priceId: 'price_reader_month',
    interval: 'month',
    amount: 500,
    currency: 'usd',
    status: 'past_due',
    cancelAtPeriodEnd: false,
    stripeCreatedAt: now,
    snapshotAt: now,
    updatedAt: now,
  })
}

const exists = async (id: string) => (await t.database.db.select().from(users).where(eq(users.id, id))).length === 1

beforeAll(async () => {
  t = await createTestApp({ env: { ADMIN_EMAILS: 'admin@erase.example' } })
  await seedDemoTiers(t.database.db, t.services.clock.now())
  admin = await signIn(t.app, 'admin@erase.example')
  editor = await signIn(t.app, 'editor@erase.example')
  const editorId = (await accountByEmail(t.database.db, t.services.config, 'editor@erase.example'))!.id
  await t.database.db.update(users).set({ role: 'editor' }).where(eq(users.id, editorId))
})
afterAll(() => t.close())

describe('erasing a supporter from their page', () => {
  it('is offered to admins only', async () => {
    const id = await supporter('offered@erase.example')
    const forAdmin = await (await t.app.request(`/admin/supporters/${id}`, { headers: { Cookie: admin } })).text()
    expect(forAdmin).toContain(`<form method="post" action="/admin/supporters/${id}/erase"`)
    expect(forAdmin).toContain('Type ERASE to confirm')
    const forEditor = await (await t.app.request(`/admin/supporters/${id}`, { headers: { Cookie: editor } })).text()
    expect(forEditor).not.toContain('/erase"')
    // An editor who posts the form anyway is sent to sign in as someone who may.
    const res = await form(`/admin/supporters/${id}/erase`, editor, { confirm: 'ERASE' })
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toContain('reason=role')
    expect(await exists(id)).toBe(true)
  })

  it('needs the word ERASE, and changes nothing without it', async () => {
    const id = await supporter('unsure@erase.example')
    const res = await form(`/admin/supporters/${id}/erase`, admin, { confirm: 'yes' })
    expect(res.status).toBe(422)
    expect(await res.text()).toContain('Type ERASE to confirm.')
    expect(await exists(id)).toBe(true)
  })

  it('is refused with a 409 while Stripe still bills a membership, as deleting one’s own account is', async () => {
    const id = await supporter('still-paying@erase.example')
    await paying(id, 'cus_still_paying')
    const res = await form(`/admin/supporters/${id}/erase`, admin, { confirm: 'ERASE' })
    expect(res.status).toBe(409)
    expect(await res.text()).toContain(STILL_BILLED.slice(0, 60))
    expect(await exists(id)).toBe(true)
  })

  it('erases them and records it by account id only', async () => {
    const id = await supporter('asked-to-go@erase.example')
    const res = await form(`/admin/supporters/${id}/erase`, admin, { confirm: 'erase' })
    expect(res.status).toBe(200)
    expect(await res.text()).toContain('Supporter erased')
    expect(await exists(id)).toBe(false)
    const entries = await t.database.db.select().from(auditLog).where(eq(auditLog.subjectUserId, id))
    const erased = entries.filter((e) => e.action === 'supporter.erased')
    expect(erased).toHaveLength(1)
    expect(erased[0]!.details).toEqual({})
    expect(JSON.stringify(entries)).not.toContain('asked-to-go')
    // The audit page names the erased account by id, with no link to a page that is gone.
    const audit = await (await t.app.request('/admin/audit', { headers: { Cookie: admin } })).text()
    expect(audit).toContain(`<td>supporter.erased</td><td>${id}</td>`)
    expect(audit).not.toContain('asked-to-go')
    // Their page is gone.
    expect((await t.app.request(`/admin/supporters/${id}`, { headers: { Cookie: admin } })).status).toBe(404)
  })
})

describe('DELETE /api/admin/supporters/:id', () => {
  const remove = (id: string, cookie = admin) =>
    t.app.request(`/api/admin/supporters/${id}`, {
      method: 'DELETE',
      headers: { Cookie: cookie, 'Content-Type': 'application/json' },
    })

  it('erases a supporter and answers their id', async () => {
    const id = await supporter('api-gone@erase.example')
    const res = await remove(id)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ ok: true, erased: id })
    expect(await exists(id)).toBe(false)
  })

  it('answers 404 for an account that does not exist, and writes no audit entry', async () => {
    const res = await remove('no-such-account')
    expect(res.status).toBe(404)
    expect((await res.json()).error.code).toBe('not_found')
    const entries = await t.database.db.select().from(auditLog).where(eq(auditLog.subjectUserId, 'no-such-account'))
    expect(entries).toEqual([])
  })

  it('answers 409 with the reason while Stripe still bills a membership, and 403 to an editor', async () => {
    const id = await supporter('api-paying@erase.example')
    await paying(id, 'cus_api_paying')
    const refused = await remove(id)
    expect(refused.status).toBe(409)
    expect((await refused.json()).error).toMatchObject({ code: 'conflict', message: STILL_BILLED })
    expect((await remove(id, editor)).status).toBe(403)
    expect(await exists(id)).toBe(true)
    const entries = await t.database.db.select().from(auditLog).where(eq(auditLog.subjectUserId, id))
    expect(entries.some((e) => e.action === 'supporter.erased')).toBe(false)
  })
})
