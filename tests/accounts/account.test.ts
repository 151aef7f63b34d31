import { and, eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { STILL_BILLED } from '../../src/accounts/account-data'
import { devMailbox, emailTokens, sessions, stripeCustomers, subscriptions, users } from '../../src/db/schema'
import { createTestApp, type TestApp } from '../helpers/app'
import { confirmLink, lastMailTo, signIn } from '../helpers/auth'
import { accountByEmail, expectSealed, indexOf } from '../helpers/sealed'

let t: TestApp
beforeAll(async () => {
  t = await createTestApp({ env: { PUBLICATION_NAME: 'The Riverside Ledger' } })
})
afterAll(() => t.close())

const post = (path: string, cookie: string, fields: Record<string, string>) =>
  t.app.request(path, {
    method: 'POST',
    headers: { Cookie: cookie, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields),
  })

describe('the account page', () => {
  it('shows the e-mail, role and membership, with every action as a plain form', async () => {
    const cookie = await signIn(t.app, 'page@example.org')
    const res = await t.app.request('/account', { headers: { Cookie: cookie } })
    expect(res.status).toBe(200)
    const html = await res.text()
    expect(html).toContain('<dd>page@example.org</dd>')
    expect(html).toContain('<dd>reader</dd>')
    expect(html).toContain('You are not a paying supporter yet.')
    for (const action of ['/auth/sign-out', '/auth/sign-out-everywhere', '/account/email', '/account/delete']) {
      expect(html).toContain(`<form method="post" action="${action}"`)
    }
    expect(html).toContain('href="/account/data"')
    expect(html).not.toContain('<script')
  })
})

describe('changing e-mail address', () => {
  it('two links to the same new address confirmed at once: one account gets it, the other is told why', async () => {
    const tokens: string[] = []
    const cookies: string[] = []
    for (const who of ['first-claimant', 'second-claimant']) {
      const cookie = await signIn(t.app, `${who}@example.org`)
      cookies.push(cookie)
      expect((await post('/account/email', cookie, { email: 'contested@example.org' })).status).toBe(200)
      tokens.push((await lastMailTo(t.app, 'contested@example.org')).token!)
    }
    const answers = await Promise.all(
      tokens.map(async (token) => confirmLink(t.app, token, { Accept: 'application/json' })),
    )
    const statuses = answers.map((a) => a.status).sort()
    expect(statuses).toEqual([200, 409])
    const refused = answers.find((a) => a.status === 409)!
    expect((await refused.json()).error.message).toBe('That address already belongs to another account.')
    // Exactly one of the two now has it; the other keeps its own.
    const owner = await accountByEmail(t.database.db, t.services.config, 'contested@example.org')
    const kept = await Promise.all(
      ['first-claimant', 'second-claimant'].map((who) =>
        accountByEmail(t.database.db, t.services.config, `${who}@example.org`),
      ),
    )
    expect(kept.filter((k) => k === undefined)).toHaveLength(1)
    expect(kept.find((k) => k !== undefined)!.id).not.toBe(owner!.id)
  })

  it('is confirmed by a link to the new address, and the old address is told', async () => {
    const cookie = await signIn(t.app, 'old-address@example.org')
    const started = await post('/account/email', cookie, { email: 'New-Address@example.org' })
    expect(started.status).toBe(200)
    expect(await started.text()).toContain('Check your new inbox')
    // Nothing changes until the new address proves itself.
    expect((await (await t.app.request('/api/account', { headers: { Cookie: cookie } })).json()).user.email).toBe(
      'old-address@example.org',
    )

    const { message, token } = await lastMailTo(t.app, 'new-address@example.org')
    expect(message?.subject).toBe('Confirm your new e-mail address for The Riverside Ledger')
    const confirmed = await confirmLink(t.app, token!)
    expect(confirmed.status).toBe(303)
    expect(confirmed.headers.get('location')).toBe('/account?notice=email-changed')

    const me = await (await t.app.request('/api/account', { headers: { Cookie: cookie } })).json()
    expect(me.user.email).toBe('new-address@example.org')
    const notice = await lastMailTo(t.app, 'old-address@example.org')
    expect(notice.message?.subject).toBe('Your The Riverside Ledger account has a new e-mail address')
    // Stored encrypted, found by the new address's index and no longer by the old one's.
    const row = await accountByEmail(t.database.db, t.services.config, 'new-address@example.org')
    expect(row?.id).toBe(me.user.id)
    expect([row?.email, row?.name]).toEqual([null, null])
    expectSealed(row?.card, 'new-address')
    expect(await accountByEmail(t.database.db, t.services.config, 'old-address@example.org')).toBeUndefined()
    // Signing in with the new address reaches the same account.
    const again = await signIn(t.app, 'new-address@example.org')
    expect((await (await t.app.request('/api/account', { headers: { Cookie: again } })).json()).user.id).toBe(
      me.user.id,
    )
  })

  it('refuses an address that belongs to another account, and changes nothing', async () => {
    await signIn(t.app, 'taken@example.org')
    const cookie = await signIn(t.app, 'wants-taken@example.org')
    await post('/account/email', cookie, { email: 'taken@example.org' })
    const { token } = await lastMailTo(t.app, 'taken@example.org')
    const res = await t.app.request('/auth/verify', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token }),
    })
    expect(res.status).toBe(409)
    expect((await res.json()).error.message).toBe('That address already belongs to another account.')
    const [row] = await t.database.db
      .select()
      .from(emailTokens)
      .where(
        and(
          eq(emailTokens.emailIndex, await indexOf(t.services.config, 'taken@example.org')),
          eq(emailTokens.purpose, 'change_email'),
        ),
      )
    expect(row?.usedAt).toBeNull()
  })

  it('re-renders the form with the problem for a malformed or unchanged address', async () => {
    const cookie = await signIn(t.app, 'typo@example.org')
    const malformed = await post('/account/email', cookie, { email: 'typo@' })
    expect(malformed.status).toBe(422)
    const html = await malformed.text()
    expect(html).toContain('Enter a valid e-mail address')
    expect(html).toContain('value="typo@"')
    const same = await post('/account/email', cookie, { email: 'typo@example.org' })
    expect(same.status).toBe(422)
    expect(await same.text()).toContain('That is already your e-mail address.')
    const api = await t.app.request('/api/account/email', {
      method: 'POST',
      headers: { Cookie: cookie, 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: 'nope' }),
    })
    expect(api.status).toBe(422)
    expect((await api.json()).error.code).toBe('validation_failed')
  })
})

describe('download my data', () => {
  it('is a JSON file of everything held about the reader, without session secrets', async () => {
    const cookie = await signIn(t.app, 'curious@example.org')
    const res = await t.app.request('/account/data', { headers: { Cookie: cookie } })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="my-account-data.json"')
    expect(res.headers.get('cache-control')).toBe('no-store')
    const data = await res.json()
    expect(data.account).toMatchObject({ email: 'curious@example.org', role: 'reader' })
    expect(data.sessions).toHaveLength(1)
    expect(data.emailLinks).toEqual([expect.objectContaining({ purpose: 'sign_in', email: 'curious@example.org' })])
    expect(JSON.stringify(data)).not.toContain(cookie.split('=')[1])
  })
})

describe('deleting the account', () => {
  it('needs the word DELETE, and changes nothing without it', async () => {
    const cookie = await signIn(t.app, 'hesitant@example.org')
    const res = await post('/account/delete', cookie, { confirm: 'yes' })
    expect(res.status).toBe(422)
    expect(await res.text()).toContain('Type DELETE to confirm.')
    expect(await accountByEmail(t.database.db, t.services.config, 'hesitant@example.org')).toBeDefined()
  })

  it('removes the person: account, sessions, links and mail, and signs them out', async () => {
    const cookie = await signIn(t.app, 'leaver@example.org')
    const user = await accountByEmail(t.database.db, t.services.config, 'leaver@example.org')
    const index = await indexOf(t.services.config, 'leaver@example.org')
    // There is something to delete: the sign-in link and its mail, found by the address's index.
    expect(await t.database.db.select().from(emailTokens).where(eq(emailTokens.emailIndex, index))).toHaveLength(1)
    expect(await t.database.db.select().from(devMailbox).where(eq(devMailbox.toIndex, index))).toHaveLength(1)
    const res = await post('/account/delete', cookie, { confirm: 'delete' })
    expect(res.status).toBe(200)
    expect(await res.text()).toContain('Your account has been deleted')
    expect(res.headers.getSetCookie().some((c) => c.startsWith('masthead_session=;'))).toBe(true)

    const db = t.database.db
    expect(await db.select().from(users).where(eq(users.id, user!.id))).toEqual([])
    expect(await db.select().from(sessions).where(eq(sessions.userId, user!.id))).toEqual([])
    expect(await db.select().from(emailTokens).where(eq(emailTokens.emailIndex, index))).toEqual([])
    expect(await db.select().from(devMailbox).where(eq(devMailbox.toIndex, index))).toEqual([])
    expect((await t.app.request('/account', { headers: { Cookie: cookie } })).status).toBe(303)
  })

  it('is refused while Stripe still bills a membership, on the page and by API, and goes once it is set to end', async () => {
    const cookie = await signIn(t.app, 'member-leaving@example.org')
    const db = t.database.db
    const user = await accountByEmail(db, t.services.config, 'member-leaving@example.org')
    const now = t.services.clock.now()
    await db.insert(stripeCustomers).values({ customerId: 'cus_leaving', userId: user!.id, createdAt: now })
    await db.insert(subscriptions).values({
      id: 'sub_leaving',
      customerId: 'cus_leaving',
      priceId: 'price_pledge',
      interval: 'month',
      amount: 700,
      currency: 'usd',
      status: 'active',
      cancelAtPeriodEnd: false,
      stripeCreatedAt: now,
      snapshotAt: now,
      updatedAt: now,
    })
    const page = await post('/account/delete', cookie, { confirm: 'DELETE' })
    expect(page.status).toBe(409)
    expect(await page.text()).toContain('This account has a membership that Stripe still bills.')
    const api = await t.app.request('/api/account', { method: 'DELETE', headers: { Cookie: cookie } })
    expect(api.status).toBe(409)
    expect((await api.json()).error).toMatchObject({ code: 'conflict', message: STILL_BILLED })
    expect(await db.select().from(users).where(eq(users.id, user!.id))).toHaveLength(1)

    // Cancelled in the portal: it runs to the end of the period, and nothing more is charged.
    await db.update(subscriptions).set({ cancelAtPeriodEnd: true }).where(eq(subscriptions.id, 'sub_leaving'))
    expect((await post('/account/delete', cookie, { confirm: 'DELETE' })).status).toBe(200)
    expect(await db.select().from(users).where(eq(users.id, user!.id))).toEqual([])
  })

  it('works by API too', async () => {
    const cookie = await signIn(t.app, 'api-leaver@example.org')
    expect(await accountByEmail(t.database.db, t.services.config, 'api-leaver@example.org')).toBeDefined()
    const res = await t.app.request('/api/account', { method: 'DELETE', headers: { Cookie: cookie } })
    expect(res.status).toBe(200)
    expect(await accountByEmail(t.database.db, t.services.config, 'api-leaver@example.org')).toBeUndefined()
  })
})
