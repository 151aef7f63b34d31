import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { emailTokens, rateLimits, stripeCustomers, subscriptions, users } from '../../src/db/schema'
import { sha256Hex } from '../../src/util/random'
import { createTestApp, fixedClock, type TestApp } from '../helpers/app'
import { lastMailTo, nextClientIp, requestLink, signIn } from '../helpers/auth'
import { accountByEmail, indexOf } from '../helpers/sealed'

const clock = fixedClock('2026-11-25T12:01:00Z')
let t: TestApp
beforeAll(async () => {
  t = await createTestApp({ clock, env: { SIGN_IN_LIMIT: '5', SIGN_IN_WINDOW_MINUTES: '15' } })
})
afterAll(() => t.close())

describe('sign-in rate limits', () => {
  it('allow 5 links per address in 15 minutes, then answer 429 with Retry-After', async () => {
    for (let i = 0; i < 5; i++) expect((await requestLink(t.app, 'eager@example.org')).status).toBe(202)
    const limited = await requestLink(t.app, 'eager@example.org')
    expect(limited.status).toBe(429)
    // The window began at 12:00; it is 12:01, so 14 minutes remain.
    expect(limited.headers.get('retry-after')).toBe(String(14 * 60))
    expect((await limited.json()).error).toMatchObject({
      code: 'rate_limited',
      message: 'Too many attempts. Please wait 14 minutes and try again.',
    })
    expect((await lastMailTo(t.app, 'eager@example.org')).count).toBe(5)
  })

  it('count an address however it is written', async () => {
    for (let i = 0; i < 5; i++) await requestLink(t.app, 'Shouty@Example.org')
    expect((await requestLink(t.app, 'shouty@example.org ')).status).toBe(429)
  })

  it('key an address’s counter by its keyed index, never by a hash anyone can compute from a guess', async () => {
    await requestLink(t.app, 'counted@example.org')
    const keys = (await t.database.db.select({ key: rateLimits.key }).from(rateLimits)).map((r) => r.key)
    expect(keys).toContain(`sign-in:email:${await indexOf(t.services.config, 'counted@example.org')}`)
    const unkeyed = sha256Hex('counted@example.org')
    expect(keys.filter((key) => key.includes(unkeyed) || key.includes('counted'))).toEqual([])
  })

  it('allow 5 links per client address, whatever the e-mail', async () => {
    const ip = { 'CF-Connecting-IP': '192.0.2.44' }
    for (let i = 0; i < 5; i++)
      expect((await requestLink(t.app, `spray${i}@example.org`, { headers: ip })).status).toBe(202)
    const limited = await requestLink(t.app, 'spray-last@example.org', { headers: ip })
    expect(limited.status).toBe(429)
    expect((await lastMailTo(t.app, 'spray-last@example.org')).count).toBe(0)
    // Another client is not affected.
    expect((await requestLink(t.app, 'spray-last@example.org')).status).toBe(202)
  })

  it('open again when the window has passed', async () => {
    for (let i = 0; i < 6; i++) await requestLink(t.app, 'patient@example.org')
    expect((await requestLink(t.app, 'patient@example.org')).status).toBe(429)
    clock.advance(15 * 60 * 1000)
    try {
      expect((await requestLink(t.app, 'patient@example.org')).status).toBe(202)
    } finally {
      clock.advance(-15 * 60 * 1000)
    }
  })

  it('show people a page, not JSON, when a form is limited', async () => {
    const form = () =>
      t.app.request('/auth/sign-in', {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'CF-Connecting-IP': '192.0.2.77' },
        body: new URLSearchParams({ email: 'formy@example.org' }),
      })
    for (let i = 0; i < 5; i++) await form()
    const limited = await form()
    expect(limited.status).toBe(429)
    expect(limited.headers.get('content-type')).toContain('text/html')
    expect(await limited.text()).toContain('Too many attempts')
  })
})

describe('CSRF', () => {
  const foreignOrigins: Record<string, string>[] = [
    { Origin: 'https://evil.example' },
    { Origin: 'null' },
    { Origin: 'http://localhost:8787.evil.example' },
    { 'Sec-Fetch-Site': 'cross-site' },
    { 'Sec-Fetch-Site': 'same-site' },
  ]
  for (const headers of foreignOrigins) {
    it(`refuses a state change sent with ${JSON.stringify(headers)} and changes nothing`, async () => {
      const cookie = await signIn(t.app, 'victim@example.org')
      const tokensBefore = (await t.database.db.select().from(emailTokens)).length
      const attempts = [
        t.app.request('/auth/sign-out-everywhere', { method: 'POST', headers: { Cookie: cookie, ...headers } }),
        t.app.request('/account/delete', {
          method: 'POST',
          headers: { Cookie: cookie, 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
          body: 'confirm=DELETE',
        }),
        t.app.request('/auth/sign-in', {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
          body: 'email=victim%40example.org',
        }),
      ]
      for (const res of await Promise.all(attempts.map((attempt) => Promise.resolve(attempt)))) {
        expect(res.status).toBe(403)
        expect(await res.text()).toContain('This request came from another site')
      }
      expect((await t.app.request('/api/account', { headers: { Cookie: cookie } })).status).toBe(200)
      expect(await t.database.db.select().from(emailTokens)).toHaveLength(tokensBefore)
    })
  }

  it('lets the same site through, by Origin or by Sec-Fetch-Site', async () => {
    const cookie = await signIn(t.app, 'regular-user@example.org')
    const viaOrigin = await t.app.request('/auth/sign-out', {
      method: 'POST',
      headers: { Cookie: cookie, Origin: 'http://localhost:8787' },
    })
    expect(viaOrigin.status).toBe(303)
    const viaFetchSite = await t.app.request('/auth/sign-out', {
      method: 'POST',
      headers: { 'Sec-Fetch-Site': 'same-origin' },
    })
    expect(viaFetchSite.status).toBe(303)
    expect((await t.database.db.select().from(users)).length).toBeGreaterThan(0)
  })
})

describe('answers that could tell who reads or gives', () => {
  const STRANGER = 'nobody-here@example.org'
  const READER = 'reads-for-free@example.org'
  const MEMBER = 'pays-monthly@example.org'

  /** Status, every header and the body, less the request id (random, and so telling nothing). */
  async function answerOf(res: Response) {
    const headers = [...res.headers].filter(([name]) => name !== 'x-request-id').sort()
    return { status: res.status, headers, body: await res.text() }
  }

  async function sameForEveryone(send: (email: string) => Response | Promise<Response>, status: number) {
    const stranger = await answerOf(await send(STRANGER))
    expect(stranger.status).toBe(status)
    expect(await answerOf(await send(READER))).toEqual(stranger)
    expect(await answerOf(await send(MEMBER))).toEqual(stranger)
  }

  beforeAll(async () => {
    await signIn(t.app, READER)
    const member = await signIn(t.app, MEMBER)
    // A current paid membership, as the webhooks store it.
    const { db } = t.database
    const user = await accountByEmail(db, t.services.config, MEMBER)
    const now = clock.now()
    await db.insert(stripeCustomers).values({ customerId: 'cus_abuse_member', userId: user!.id, createdAt: now })
    await db.insert(subscriptions).values({
      id: 'sub_abuse_member',
      customerId: 'cus_abuse_member',
      priceId: 'price_abuse',
      interval: 'month',
      amount: 500,
      currency: 'usd',
      status: 'active',
      cancelAtPeriodEnd: false,
      currentPeriodEnd: new Date(now.getTime() + 30 * 86_400_000),
      stripeCreatedAt: now,
      snapshotAt: now,
      updatedAt: now,
    })
    const me = await (await t.app.request('/api/account', { headers: { Cookie: member } })).json()
    expect(me.membership).toMatchObject({ status: 'active', entitled: true })
  })

  it('a sign-in link, as JSON: 202 and the same answer for a stranger, a reader and a member', async () => {
    await sameForEveryone((email) => requestLink(t.app, email), 202)
  })

  it('a sign-in link, from the form: the same page for all three', async () => {
    await sameForEveryone(
      (email) =>
        t.app.request('/auth/sign-in', {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'CF-Connecting-IP': nextClientIp() },
          body: new URLSearchParams({ email }),
        }),
      200,
    )
  })

  it('a change of address to someone else’s: the same answer as to a free one (only the new address is told)', async () => {
    const asJson = await signIn(t.app, 'moving-json@example.org')
    await sameForEveryone(
      (email) =>
        t.app.request('/api/account/email', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Cookie: asJson },
          body: JSON.stringify({ email }),
        }),
      202,
    )
    const asForm = await signIn(t.app, 'moving-form@example.org')
    await sameForEveryone(
      (email) =>
        t.app.request('/account/email', {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: asForm },
          body: new URLSearchParams({ email }),
        }),
      200,
    )
  })
})
