import { beforeAll, describe, expect, it } from 'vitest'
import { findUserByEmail } from '../../src/accounts/users'
import { nextClientIp, signIn } from '../helpers/auth'
import { startTierCheckout, useBillingWorld } from '../helpers/billing'

// Nothing a signed-out person is told may depend on whether an address has an account or a membership.
const w = useBillingWorld({ live: true, env: { SIGN_IN_LIMIT: '10', SIGN_IN_WINDOW_MINUTES: '15' } })

const STRANGER = 'stranger@example.org'
const READER = 'reader-only@example.org'
const MEMBER = 'current-member@example.org'

beforeAll(async () => {
  await signIn(w.t.app, READER)
  const member = await signIn(w.t.app, MEMBER)
  await w.standIn.completeCheckout(await startTierCheckout(w, member, 'reader', 'month'))
  const me = await (await w.t.app.request('/api/account', { headers: { Cookie: member } })).json()
  expect(me.membership).toMatchObject({ status: 'active', entitled: true })
  const reader = await signIn(w.t.app, READER)
  expect(
    (await (await w.t.app.request('/api/account', { headers: { Cookie: reader } })).json()).membership,
  ).toMatchObject({ status: 'none' })
})

type Body = Record<string, string | number>

/** A signed-out request from a client of its own, as JSON or as a form. */
function post(path: string, body: Body, as: 'json' | 'form', ip = nextClientIp()) {
  return w.t.app.request(path, {
    method: 'POST',
    headers:
      as === 'json'
        ? { 'Content-Type': 'application/json', 'CF-Connecting-IP': ip }
        : { 'Content-Type': 'application/x-www-form-urlencoded', 'CF-Connecting-IP': ip },
    body: as === 'json' ? JSON.stringify(body) : new URLSearchParams(body as Record<string, string>),
  })
}

// Random anyway, and so telling nothing: Stripe's session ids (in URLs) and request ids (in error pages).
const SESSION_ID = /cs_test_[A-Za-z0-9]+/g
const REQUEST_ID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g
const blank = (text: string) => text.replaceAll(SESSION_ID, 'cs_test_…').replaceAll(REQUEST_ID, '…')

/** Status, every header and the body, less what is random. */
async function answerOf(res: Response) {
  const headers = [...res.headers]
    .filter(([name]) => name !== 'x-request-id')
    .map(([name, value]) => `${name}: ${blank(value)}`)
    .sort()
  return { status: res.status, headers, body: blank(await res.text()) }
}

/** The answers to the same request for each address, which must be the same. */
async function answersFor(send: (email: string) => Response | Promise<Response>) {
  const [stranger, reader, member] = [await send(STRANGER), await send(READER), await send(MEMBER)]
  return { stranger: await answerOf(stranger), reader: await answerOf(reader), member: await answerOf(member) }
}

const entryPoints: [string, string, Body, number][] = [
  ['a tier, as JSON', '/billing/checkout', { tier: 'patron', interval: 'year' }, 200],
  ['a tier, from the form', '/billing/checkout', { tier: 'patron', interval: 'year' }, 303],
  ['a monthly pledge, as JSON', '/billing/donate', { amount: 700, currency: 'usd', frequency: 'monthly' }, 200],
  [
    'a monthly pledge, from the form',
    '/billing/donate',
    { amount: '7.00', currency: 'usd', frequency: 'monthly' },
    303,
  ],
  ['a one-time gift, as JSON', '/billing/donate', { amount: 2500, currency: 'eur', frequency: 'once' }, 200],
  ['a one-time gift, from the form', '/billing/donate', { amount: '25.00', currency: 'eur', frequency: 'once' }, 303],
  ['a tier that does not exist', '/billing/checkout', { tier: 'platinum', interval: 'year' }, 422],
  ['a sign-in link, as JSON', '/auth/sign-in', {}, 202],
  ['a sign-in link, from the form', '/auth/sign-in', {}, 200],
]

describe('signed out, every address gets the same answer', () => {
  for (const [name, path, body, status] of entryPoints) {
    it(`${name}: ${status} for a stranger, a reader without a membership, and a current member`, async () => {
      const as = name.includes('JSON') ? 'json' : 'form'
      const { stranger, reader, member } = await answersFor((email) => post(path, { ...body, email }, as))
      expect(stranger.status).toBe(status)
      expect(reader).toEqual(stranger)
      expect(member).toEqual(stranger)
    })
  }

  it('no account is made or looked at for the address before anything is paid', async () => {
    expect(await findUserByEmail(w.t.services.db, await w.t.services.keyring, STRANGER)).toBeUndefined()
  })
})

describe('signed-out checkout starts are limited like sign-in links', () => {
  const start = (email: string | undefined, ip: string, what: 'tier' | 'gift' = 'tier') =>
    what === 'tier'
      ? post('/billing/checkout', { tier: 'reader', interval: 'month', ...(email ? { email } : {}) }, 'json', ip)
      : post('/billing/donate', { amount: 500, currency: 'usd', ...(email ? { email } : {}) }, 'json', ip)

  it('per address: the 11th start in the window is 429, the same for a member’s address as for a stranger’s', async () => {
    const limited: Awaited<ReturnType<typeof answerOf>>[] = []
    for (const email of ['limited-member@example.org', 'limited-stranger@example.org']) {
      if (email.includes('member')) {
        const cookie = await signIn(w.t.app, email)
        await w.standIn.completeCheckout(await startTierCheckout(w, cookie, 'reader', 'month'))
      }
      // Tiers and gifts count together.
      for (let i = 0; i < 10; i++) {
        expect((await start(email, nextClientIp(), i % 2 ? 'gift' : 'tier')).status, `start ${i + 1}`).toBe(200)
      }
      limited.push(await answerOf(await start(email, nextClientIp())))
    }
    const [member, stranger] = limited
    expect(stranger!.status).toBe(429)
    // The clock stands at 12:00 and the window is 15 minutes.
    expect(stranger!.headers).toContain('retry-after: 900')
    expect(JSON.parse(stranger!.body).error).toMatchObject({
      code: 'rate_limited',
      message: 'Too many attempts. Please wait 15 minutes and try again.',
    })
    expect(member).toEqual(stranger)
  })

  it('per client: the 11th start from one address is 429 whatever the e-mail, and other clients go on', async () => {
    const ip = '192.0.2.10'
    for (let i = 0; i < 10; i++) expect((await start(`spray-${i}@example.org`, ip)).status).toBe(200)
    expect((await start('spray-last@example.org', ip)).status).toBe(429)
    expect((await start(undefined, ip, 'gift')).status, 'a gift without an address counts by client').toBe(429)
    expect((await start('spray-last@example.org', nextClientIp())).status).toBe(200)
  })

  it('shows people a page, not JSON, when the form is limited', async () => {
    const ip = '192.0.2.11'
    const form = () =>
      post('/billing/checkout', { tier: 'reader', interval: 'month', email: 'formy@example.org' }, 'form', ip)
    for (let i = 0; i < 10; i++) expect((await form()).status).toBe(303)
    const limited = await form()
    expect(limited.status).toBe(429)
    expect(limited.headers.get('content-type')).toContain('text/html')
    expect(limited.headers.get('retry-after')).toBe('900')
    expect(await limited.text()).toContain('Too many attempts')
  })

  it('opens again when the window has passed', async () => {
    const ip = '192.0.2.12'
    for (let i = 0; i < 11; i++) await start('patient-buyer@example.org', ip)
    expect((await start('patient-buyer@example.org', ip)).status).toBe(429)
    w.clock.advance(15 * 60 * 1000)
    try {
      expect((await start('patient-buyer@example.org', ip)).status).toBe(200)
    } finally {
      w.clock.advance(-15 * 60 * 1000)
    }
  })

  it('does not limit a signed-in reader, who is told about their own membership only', async () => {
    const cookie = await signIn(w.t.app, 'signed-in-buyer@example.org')
    const ip = '192.0.2.13'
    for (let i = 0; i < 12; i++) {
      const res = await w.t.app.request('/billing/donate', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'CF-Connecting-IP': ip, Cookie: cookie },
        body: JSON.stringify({ amount: 500, currency: 'usd' }),
      })
      expect(res.status).toBe(200)
    }
  })
})
