import { eq } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { findUserByEmail } from '../../src/accounts/users'
import { payments, stripeCustomers, subscriptions } from '../../src/db/schema'
import { openCard } from '../../src/privacy/people'
import { confirmLink, lastMailTo, nextClientIp, signIn } from '../helpers/auth'
import { sessionIdOf, startTierCheckout, useBillingWorld } from '../helpers/billing'

const w = useBillingWorld({ live: true })

// A new client address for each request: signed-out starts are limited per client (tests/billing/signed-out.test.ts).
const json = (cookie?: string) => ({
  'Content-Type': 'application/json',
  Accept: 'application/json',
  'CF-Connecting-IP': nextClientIp(),
  ...(cookie ? { Cookie: cookie } : {}),
})
const form = (cookie?: string) => ({
  'Content-Type': 'application/x-www-form-urlencoded',
  'CF-Connecting-IP': nextClientIp(),
  ...(cookie ? { Cookie: cookie } : {}),
})

/** The account for an address, found as the app finds it: by its index, the address being stored sealed. */
const accountOf = async (email: string) => findUserByEmail(w.t.services.db, await w.t.services.keyring, email)

async function checkout(body: Record<string, unknown>, cookie?: string) {
  return w.t.app.request('/billing/checkout', { method: 'POST', headers: json(cookie), body: JSON.stringify(body) })
}

describe('becoming a supporter', () => {
  it('a signed-in reader goes to Stripe Checkout, pays, and is a member with the tier', async () => {
    const cookie = await signIn(w.t.app, 'member@example.org')
    const page = await w.t.app.request('/billing/checkout', {
      method: 'POST',
      headers: form(cookie),
      body: new URLSearchParams({ tier: 'reader', interval: 'month' }),
    })
    expect(page.status).toBe(303)
    const url = page.headers.get('location')!
    expect(url.startsWith(`${w.standIn.url}/checkout/cs_test_`)).toBe(true)

    const session = await w.stripe.checkout.sessions.retrieve(sessionIdOf(url))
    expect(session.mode).toBe('subscription')
    expect(session.metadata).toMatchObject({ masthead: '1', tier_id: 'reader' })
    const [link] = await w.t.services.db.select().from(stripeCustomers)
    expect(session.customer).toBe(link!.customerId)

    await w.standIn.completeCheckout(session.id)
    const me = await (await w.t.app.request('/api/account', { headers: { Cookie: cookie } })).json()
    expect(me.membership).toMatchObject({ status: 'active', entitled: true, tierId: 'reader', interval: 'month' })
    expect(me.membership.benefits).toEqual(['hideSupportPrompts', 'supportersOnlyContent'])
    const ledger = await w.t.services.db.select().from(payments).where(eq(payments.customerId, link!.customerId))
    expect(ledger).toEqual([expect.objectContaining({ kind: 'subscription', amount: 500, currency: 'usd' })])

    const account = await (await w.t.app.request('/account', { headers: { Cookie: cookie } })).text()
    expect(account).toContain('Reader, $5.00 a month. Thank you for your support.')
    expect(account).toContain('<form method="post" action="/billing/portal">')
  })

  it("lets the join page's forms redirect to the stand-in's hosted pages (STRIPE_API_URL)", async () => {
    const res = await w.t.app.request('/join')
    const formAction = res.headers.get('content-security-policy')?.match(/form-action ([^;]*)/)?.[1]
    expect(formAction?.split(' ')).toEqual([
      "'self'",
      'https://checkout.stripe.com',
      'https://billing.stripe.com',
      new URL(w.standIn.url).origin,
    ])
  })

  it('is not sold a second subscription: the member is sent to the portal instead', async () => {
    const cookie = await signIn(w.t.app, 'member@example.org')
    const res = await checkout({ tier: 'patron', interval: 'year' }, cookie)
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body.kind).toBe('portal')
    expect(body.url).toContain(`${w.standIn.url}/portal/`)
    const pledge = await w.t.app.request('/billing/donate', {
      method: 'POST',
      headers: json(cookie),
      body: JSON.stringify({ amount: 700, currency: 'usd', frequency: 'monthly' }),
    })
    expect((await pledge.json()).kind).toBe('portal')
  })

  it('opens the billing portal for a member, and refuses one without a billing account', async () => {
    const member = await signIn(w.t.app, 'member@example.org')
    const res = await w.t.app.request('/billing/portal', { method: 'POST', headers: { Cookie: member } })
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toContain(`${w.standIn.url}/portal/`)
    const stranger = await signIn(w.t.app, 'never-paid@example.org')
    const none = await w.t.app.request('/billing/portal', { method: 'POST', headers: json(stranger), body: '{}' })
    expect(none.status).toBe(404)
    expect((await none.json()).error.message).toBe('You have no billing account yet: become a supporter first.')
  })

  it('a signed-out reader checks out with just an e-mail; the account is created when it completes', async () => {
    const res = await checkout({ tier: 'patron', interval: 'year', email: 'Newcomer@Example.org' })
    const { url, kind } = await res.json()
    expect(kind).toBe('checkout')
    const session = await w.stripe.checkout.sessions.retrieve(sessionIdOf(url))
    expect(session.customer_email).toBe('newcomer@example.org')
    expect(await accountOf('newcomer@example.org')).toBeUndefined()

    await w.standIn.completeCheckout(session.id)
    const user = await accountOf('Newcomer@example.org')
    expect(user).toBeDefined()
    // Created from the webhook, the account is stored as every other: sealed, and placed in the name order.
    expect(user!.email).toBeNull()
    expect(user!.card!.startsWith('v1.')).toBe(true)
    expect(user!.card).not.toContain('newcomer')
    expect((await openCard(await w.t.services.keyring, user!.card!)).email).toBe('newcomer@example.org')
    expect(user!.nameOrder).not.toBe('')
    const [link] = await w.t.services.db.select().from(stripeCustomers).where(eq(stripeCustomers.userId, user!.id))
    expect(link?.customerId).toBe((await w.stripe.checkout.sessions.retrieve(session.id)).customer)
    const cookie = await signIn(w.t.app, 'newcomer@example.org')
    const me = await (await w.t.app.request('/api/account', { headers: { Cookie: cookie } })).json()
    expect(me.membership).toMatchObject({ status: 'active', tierId: 'patron', interval: 'year', amount: 15000 })
  })

  it('a signed-out checkout for an address that already has a membership goes to Stripe Checkout like any other', async () => {
    // Nothing up front tells a stranger who supports the publication: a second membership is settled once it is
    // paid (tests/billing/duplicates.test.ts), and the same answer for every address is tests/billing/signed-out.test.ts.
    const res = await checkout({ tier: 'reader', interval: 'month', email: 'member@example.org' })
    expect(res.status).toBe(200)
    const { url, kind } = await res.json()
    expect(kind).toBe('checkout')
    expect((await w.stripe.checkout.sessions.retrieve(sessionIdOf(url))).customer_email).toBe('member@example.org')
  })

  it('an incomplete subscription blocks a new checkout only until Stripe gives up on it (23 hours)', async () => {
    const cookie = await signIn(w.t.app, 'declined@example.org')
    const first = await (await checkout({ tier: 'reader', interval: 'month' }, cookie)).json()
    await w.standIn.completeCheckout(sessionIdOf(first.url), { declineCard: true })
    const [sub] = await w.stripe.subscriptions
      .list({
        customer: (await w.stripe.checkout.sessions.retrieve(sessionIdOf(first.url))).customer as string,
        status: 'all',
      })
      .then((l) => l.data)
    expect(sub?.status).toBe('incomplete')

    expect((await (await checkout({ tier: 'reader', interval: 'month' }, cookie)).json()).kind).toBe('portal')
    w.clock.advance(24 * 3600 * 1000)
    try {
      const fresh = await checkout({ tier: 'reader', interval: 'month' }, await signIn(w.t.app, 'declined@example.org'))
      expect((await fresh.json()).kind).toBe('checkout')
    } finally {
      w.clock.advance(-24 * 3600 * 1000)
    }
  })
})

describe('donations', () => {
  it('a signed-out reader gives once, typed in major units on the form; it is recorded once paid', async () => {
    const res = await w.t.app.request('/billing/donate', {
      method: 'POST',
      headers: form(),
      body: new URLSearchParams({ amount: '12.50', currency: 'eur', frequency: 'once' }),
    })
    expect(res.status).toBe(303)
    const session = await w.stripe.checkout.sessions.retrieve(sessionIdOf(res.headers.get('location')!))
    expect(session).toMatchObject({ mode: 'payment', amount_total: 1250, currency: 'eur' })
    await w.standIn.completeCheckout(session.id, { email: 'anon@example.org' })
    const paymentIntent = (await w.stripe.checkout.sessions.retrieve(session.id)).payment_intent as string
    const [row] = await w.t.services.db.select().from(payments).where(eq(payments.id, paymentIntent))
    expect(row).toMatchObject({ kind: 'donation', amount: 1250, currency: 'eur' })
    // A signed-out donor gets no account: only what accounting needs is kept.
    expect(await accountOf('anon@example.org')).toBeUndefined()
  })

  it('a bank transfer is recorded only when it settles, and never if it fails', async () => {
    const start = async () => {
      const res = await w.t.app.request('/billing/donate', {
        method: 'POST',
        headers: json(),
        body: JSON.stringify({ amount: 2000, currency: 'usd' }),
      })
      return sessionIdOf((await res.json()).url)
    }
    const ok = await start()
    await w.standIn.completeCheckout(ok, { asyncPayment: true, email: 'slow@example.org' })
    const pi = (await w.stripe.checkout.sessions.retrieve(ok)).payment_intent as string
    expect(await w.t.services.db.select().from(payments).where(eq(payments.id, pi))).toEqual([])
    await w.standIn.settleAsyncPayment(ok, true)
    expect(await w.t.services.db.select().from(payments).where(eq(payments.id, pi))).toHaveLength(1)

    const failed = await start()
    await w.standIn.completeCheckout(failed, { asyncPayment: true, email: 'slow@example.org' })
    await w.standIn.settleAsyncPayment(failed, false)
    const failedPi = (await w.stripe.checkout.sessions.retrieve(failed)).payment_intent as string
    expect(await w.t.services.db.select().from(payments).where(eq(payments.id, failedPi))).toEqual([])
  })

  it('a refund is a negative entry in the ledger, holding the amount refunded so far', async () => {
    const res = await w.t.app.request('/billing/donate', {
      method: 'POST',
      headers: json(),
      body: JSON.stringify({ amount: 5000, currency: 'usd' }),
    })
    const id = sessionIdOf((await res.json()).url)
    await w.standIn.completeCheckout(id, { email: 'regret@example.org' })
    const pi = (await w.stripe.checkout.sessions.retrieve(id)).payment_intent as string
    await w.standIn.refund(pi, 2000)
    await w.standIn.refund(pi, 1000)
    const rows = await w.t.services.db.select().from(payments).where(eq(payments.paymentIntentId, pi))
    expect(rows.map((r) => [r.kind, r.amount]).sort()).toEqual([
      ['donation', 5000],
      ['refund', -3000],
    ])
  })

  it('a custom monthly pledge is a subscription with no tier', async () => {
    const cookie = await signIn(w.t.app, 'pledger@example.org')
    const res = await w.t.app.request('/billing/donate', {
      method: 'POST',
      headers: json(cookie),
      body: JSON.stringify({ amount: 700, currency: 'usd', frequency: 'monthly' }),
    })
    const { url } = await res.json()
    await w.standIn.completeCheckout(sessionIdOf(url))
    const me = await (await w.t.app.request('/api/account', { headers: { Cookie: cookie } })).json()
    expect(me.membership).toMatchObject({ status: 'active', tierId: null, tierName: 'Monthly pledge', amount: 700 })
    expect(me.membership.benefits).toEqual(['hideSupportPrompts', 'supportersOnlyContent'])
  })
})

describe('bad input', () => {
  const cases: [string, string, Record<string, unknown>, number, string][] = [
    [
      'unknown tier',
      '/billing/checkout',
      { tier: 'platinum', interval: 'month', email: 'a@example.org' },
      422,
      'There is no tier called "platinum".',
    ],
    [
      'unknown interval',
      '/billing/checkout',
      { tier: 'reader', interval: 'week', email: 'a@example.org' },
      422,
      'The interval must be month or year.',
    ],
    [
      'no e-mail when signed out',
      '/billing/checkout',
      { tier: 'reader', interval: 'month' },
      422,
      'Enter your e-mail address, or sign in first.',
    ],
    [
      'amount below the minimum',
      '/billing/donate',
      { amount: 99, currency: 'usd' },
      422,
      'The amount must be between 1 and 10000 USD.',
    ],
    [
      'amount above the maximum',
      '/billing/donate',
      { amount: 1_000_001, currency: 'usd' },
      422,
      'The amount must be between 1 and 10000 USD.',
    ],
    [
      'not whole minor units',
      '/billing/donate',
      { amount: 12.5, currency: 'usd' },
      422,
      'The amount must be a whole number of minor units (cents), such as 1250 for 12.50.',
    ],
    ['unsupported currency', '/billing/donate', { amount: 500, currency: 'jpy' }, 422, 'We accept USD, EUR, GBP.'],
  ]
  for (const [name, path, body, status, message] of cases) {
    it(`${name}: ${status} "${message}", and nothing is created in Stripe`, async () => {
      const before = (await w.stripe.checkout.sessions.list({ limit: 100 })).data.length
      const res = await w.t.app.request(path, { method: 'POST', headers: json(), body: JSON.stringify(body) })
      expect(res.status).toBe(status)
      expect((await res.json()).error.message).toBe(message)
      expect((await w.stripe.checkout.sessions.list({ limit: 100 })).data.length).toBe(before)
    })
  }

  it('a form with a bad amount shows the support page again with the problem', async () => {
    const res = await w.t.app.request('/billing/donate', {
      method: 'POST',
      headers: form(),
      body: new URLSearchParams({ amount: '12.505', currency: 'usd' }),
    })
    expect(res.status).toBe(422)
    const html = await res.text()
    expect(html).toContain('Support our journalism')
    expect(html).toContain('Use at most two decimal places, like 5.55.')
  })

  it('the support page lists the tiers and says TEST MODE', async () => {
    const html = await (await w.t.app.request('/join')).text()
    expect(html).toContain('TEST MODE')
    expect(html).toContain('$5.00 a month')
    expect(html).toContain('$150.00 a year')
  })
})

describe('the subscriptions table', () => {
  it('holds only Masthead subscriptions', async () => {
    const rows = await w.t.services.db.select().from(subscriptions)
    expect(rows.length).toBeGreaterThan(0)
    for (const row of rows) expect(['reader', 'patron', null]).toContain(row.tierId)
  })
})

describe('a member’s new e-mail address', () => {
  async function changeAddress(cookie: string, to: string) {
    const started = await w.t.app.request('/api/account/email', {
      method: 'POST',
      headers: json(cookie),
      body: JSON.stringify({ email: to }),
    })
    expect(started.status).toBe(202) // accepted: the new address must confirm it
    return confirmLink(w.t.app, (await lastMailTo(w.t.app, to)).token!)
  }

  it('reaches their Stripe customer once confirmed, so receipts follow the account', async () => {
    const cookie = await signIn(w.t.app, 'moving@example.org')
    await w.standIn.completeCheckout(await startTierCheckout(w, cookie, 'reader', 'month'))
    const [link] = await w.t.services.db
      .select()
      .from(stripeCustomers)
      .where(eq(stripeCustomers.userId, (await accountOf('moving@example.org'))!.id))
    const customerId = link!.customerId
    expect((await w.stripe.customers.retrieve(customerId)) as { email: string }).toMatchObject({
      email: 'moving@example.org',
    })
    expect((await changeAddress(cookie, 'moved@example.org')).status).toBe(303)
    expect((await w.stripe.customers.retrieve(customerId)) as { email: string }).toMatchObject({
      email: 'moved@example.org',
    })
  })

  it('still changes the account when Stripe cannot be reached, and the next change tries again', async () => {
    const cookie = await signIn(w.t.app, 'offline@example.org')
    await w.standIn.completeCheckout(await startTierCheckout(w, cookie, 'reader', 'month'))
    const stripe = w.t.services.stripe!
    const original = stripe.customers.update
    stripe.customers.update = () => Promise.reject(new Error('network down'))
    try {
      expect((await changeAddress(cookie, 'offline2@example.org')).status).toBe(303)
    } finally {
      stripe.customers.update = original
    }
    const me = await (await w.t.app.request('/api/account', { headers: { Cookie: cookie } })).json()
    expect(me.user.email).toBe('offline2@example.org')
    const [link] = await w.t.services.db.select().from(stripeCustomers).where(eq(stripeCustomers.userId, me.user.id))
    expect((await w.stripe.customers.retrieve(link!.customerId)) as { email: string }).toMatchObject({
      email: 'offline@example.org',
    })
    expect((await changeAddress(cookie, 'offline3@example.org')).status).toBe(303)
    expect((await w.stripe.customers.retrieve(link!.customerId)) as { email: string }).toMatchObject({
      email: 'offline3@example.org',
    })
  })
})
