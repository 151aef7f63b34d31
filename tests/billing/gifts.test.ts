import { eq, sql } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import { findUserByEmail } from '../../src/accounts/users'
import { addMonths } from '../../src/util/dates'
import { gifts, grants, jobs, payments, subscriptions, tiers } from '../../src/db/schema'
import { loadEntitlements } from '../../src/entitlements/entitlements'
import { runDueJobs } from '../helpers/app'
import { nextClientIp, sessionCookie, signIn } from '../helpers/auth'
import { sessionIdOf, useBillingWorld } from '../helpers/billing'

const w = useBillingWorld({ live: true, env: { ADMIN_EMAILS: 'admin@gifts.example', SIGN_IN_LIMIT: '50' } })

const GIVER = 'giver@gifts.example'
const FRIEND = 'friend@gifts.example'
const MEMBER = 'member@gifts.example'

interface Mail {
  to: string
  subject: string
  text: string
}

async function mailsTo(email: string): Promise<Mail[]> {
  const res = await w.t.app.request(`/dev/mailbox.json?to=${encodeURIComponent(email)}`)
  return ((await res.json()) as { messages: Mail[] }).messages.filter((m) => m.to === email)
}

const tokenIn = (mail: Mail | undefined) => mail?.text.match(/\/gift\/redeem\?token=([\w-]+)/)?.[1]

/** A signed-out (or, with a cookie, signed-in) gift bought through the app, as JSON. */
function buyGift(body: Record<string, unknown>, cookie?: string) {
  return w.t.app.request('/billing/gift', {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'CF-Connecting-IP': nextClientIp(),
      ...(cookie ? { Cookie: cookie } : {}),
    },
    body: JSON.stringify(body),
  })
}

const giftCount = async () => (await w.t.services.db.select({ id: gifts.id }).from(gifts)).length
const giftOf = async (id: string) => (await w.t.services.db.select().from(gifts).where(eq(gifts.id, id)))[0]!

function redeem(token: string) {
  return w.t.app.request('/gift/redeem', {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }),
  })
}

describe('a gift from purchase to redemption', () => {
  let giftId = ''
  let token = ''

  it('stores the gift unpaid, its addresses and message sealed, and opens Checkout in payment mode', async () => {
    const res = await buyGift({
      tier: 'reader',
      months: 6,
      recipient_email: FRIEND,
      deliver_on: '2026-12-24',
      message: 'Happy holidays! Read the long ones.',
      from_name: 'Aunt Ada',
      email: GIVER,
    })
    expect(res.status).toBe(200)
    const body = (await res.json()) as { url: string; kind: string; giftId: string }
    expect(body.kind).toBe('checkout')
    giftId = body.giftId
    const gift = await giftOf(giftId)
    expect(gift).toMatchObject({ months: 6, amount: 3000, currency: 'usd', paidAt: null, tierId: 'reader' })
    expect(gift.deliverAt.toISOString()).toBe('2026-12-24T00:00:00.000Z')
    const stored = JSON.stringify(gift)
    for (const secret of [FRIEND, GIVER, 'Happy holidays', 'Aunt Ada']) expect(stored).not.toContain(secret)
    expect(gift.recipientEmail).toMatch(/^v1\./)
    expect(gift.message).toMatch(/^v1\./)
    const session = await w.stripe.checkout.sessions.retrieve(sessionIdOf(body.url))
    expect(session).toMatchObject({ mode: 'payment', amount_total: 3000, currency: 'usd' })
    expect(session.metadata).toMatchObject({ kind: 'gift', gift_id: giftId })

    await w.standIn.completeCheckout(session.id)
    const paid = await giftOf(giftId)
    expect(paid.paidAt).not.toBeNull()
    const ledger = await w.t.services.db.select().from(payments).where(eq(payments.kind, 'gift'))
    expect(ledger).toHaveLength(1)
    expect(ledger[0]).toMatchObject({ amount: 3000, currency: 'usd', paymentIntentId: paid.paymentIntentId })
    // Not a donation: the join page's checkout handler never saw it.
    expect(await w.t.services.db.select().from(payments).where(eq(payments.kind, 'donation'))).toHaveLength(0)
    const [job] = await w.t.services.db.select().from(jobs).where(eq(jobs.key, giftId))
    expect(job).toMatchObject({ kind: 'gift_delivery', state: 'queued' })
    expect(job!.runAt.toISOString()).toBe('2026-12-24T00:00:00.000Z')
    const receipts = await mailsTo(GIVER)
    expect(receipts).toHaveLength(1)
    expect(receipts[0]!.text).toContain('$30.00')
    expect(receipts[0]!.text).toContain('2026-12-24')
  })

  it('a second delivery of the same event changes nothing and sends no second receipt', async () => {
    const event = w.standIn
      .events()
      .find(
        (e) =>
          e.type === 'checkout.session.completed' &&
          (e.data.object as { metadata?: { gift_id?: string } }).metadata?.gift_id === giftId,
      )!
    const before = await w.snapshot()
    const res = await w.deliver(event)
    expect(res.status).toBe(200)
    expect(await w.snapshot()).toEqual(before)
    expect(await mailsTo(GIVER)).toHaveLength(1)
  })

  it('is e-mailed on its day, once, however often the jobs run', async () => {
    await runDueJobs(w.t)
    expect(await mailsTo(FRIEND)).toHaveLength(0) // not yet: 25 November
    w.clock.set('2026-12-24T00:00:05Z')
    await runDueJobs(w.t)
    await runDueJobs(w.t)
    // Even a step taken again (its job queued anew, as after a lost lease) sends nothing more.
    await w.t.services.db
      .update(jobs)
      .set({ state: 'queued', runAt: w.clock.now(), finishedAt: null })
      .where(eq(jobs.key, giftId))
    await runDueJobs(w.t)
    const mails = await mailsTo(FRIEND)
    expect(mails).toHaveLength(1)
    expect(mails[0]!.subject).toContain('Aunt Ada gave you a membership')
    expect(mails[0]!.text).toContain('Happy holidays! Read the long ones.')
    token = tokenIn(mails[0])!
    expect(token).toBeTruthy()
    const gift = await giftOf(giftId)
    expect(gift.deliveredAt).not.toBeNull()
    expect(gift.message).toBeNull() // delivered: the message is not kept
    expect(gift.tokenHash).toMatch(/^[0-9a-f]{64}$/)
    expect(gift.tokenHash).not.toContain(token)
  })

  it('the link shows a button; pressing it creates the account, signs in and starts the grant', async () => {
    expect(await findUserByEmail(w.t.services.db, await w.t.services.keyring, FRIEND)).toBeUndefined()
    const shown = await w.t.app.request(`/gift/redeem?token=${token}`)
    expect(shown.status).toBe(200)
    expect(await shown.text()).toContain('Start my gift')
    expect((await giftOf(giftId)).redeemedAt).toBeNull() // opening the link used nothing up

    const res = await redeem(token)
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe('/account?notice=gift-started')
    const cookie = sessionCookie(res)!
    expect(cookie).toBeTruthy()
    const user = (await findUserByEmail(w.t.services.db, await w.t.services.keyring, FRIEND))!
    expect(user).toBeDefined()
    const [grant] = await w.t.services.db.select().from(grants).where(eq(grants.userId, user.id))
    expect(grant).toMatchObject({ source: 'gift', tierId: 'reader', revokedAt: null })
    expect(grant!.startsAt.toISOString()).toBe('2026-12-24T00:00:05.000Z')
    expect(grant!.endsAt!.toISOString()).toBe('2027-06-24T00:00:05.000Z')
    const gift = await giftOf(giftId)
    expect(gift).toMatchObject({ recipientEmail: null, giverEmail: null, message: null, recipientUserId: user.id })

    const account = await w.t.app.request('/account', { headers: { Cookie: cookie } })
    const html = await account.text()
    expect(html).toContain('Gift memberships')
    expect(html).toContain('Reader, a gift: from 2026-12-24 until 2027-06-24')
    // The same for API clients.
    const me = (await (await w.t.app.request('/api/account', { headers: { Cookie: cookie } })).json()) as {
      gifts: { tierName: string; startsAt: string; endsAt: string }[]
    }
    expect(me.gifts).toEqual([
      { tierName: 'Reader', startsAt: '2026-12-24T00:00:05.000Z', endsAt: '2027-06-24T00:00:05.000Z' },
    ])
    const entitlements = (await (
      await w.t.app.request('/api/entitlements', { headers: { Cookie: cookie } })
    ).json()) as { benefits: string[]; membership: { source: string; entitled: boolean } }
    expect(entitlements.membership).toMatchObject({ source: 'gift', entitled: true })
    // As a comp of that tier would: the tier's benefits.
    const [reader] = await w.t.services.db.select().from(tiers).where(eq(tiers.id, 'reader'))
    expect(entitlements.benefits).toEqual(reader!.benefits)
    expect(entitlements.benefits.length).toBeGreaterThan(0)

    const again = await redeem(token)
    expect(again.status).toBe(400)
    expect(await again.text()).toContain('already been started')
    expect(await w.t.services.db.select().from(grants).where(eq(grants.userId, user.id))).toHaveLength(1)
  })

  it('shows in the supporters list (source=gift) and in the supporter timeline', async () => {
    const admin = await signIn(w.t.app, 'admin@gifts.example')
    const list = (await (
      await w.t.app.request('/api/admin/supporters?source=gift', { headers: { Cookie: admin } })
    ).json()) as { supporters: { email: string; source: string }[] }
    expect(list.supporters.map((s) => [s.email, s.source])).toEqual([[FRIEND, 'gift']])
    const user = (await findUserByEmail(w.t.services.db, await w.t.services.keyring, FRIEND))!
    const detail = (await (
      await w.t.app.request(`/api/admin/supporters/${user.id}`, { headers: { Cookie: admin } })
    ).json()) as { timeline: { kind: string }[] }
    expect(detail.timeline.map((e) => e.kind)).toContain('gift.granted')
    const page = await (await w.t.app.request(`/admin/supporters/${user.id}`, { headers: { Cookie: admin } })).text()
    expect(page).toContain('Gift membership started (redeemed)')
  })

  it('ends by itself and never renews', async () => {
    const user = (await findUserByEmail(w.t.services.db, await w.t.services.keyring, FRIEND))!
    w.clock.set('2027-06-24T00:00:06Z')
    const cookie = await signIn(w.t.app, FRIEND)
    const after = (await (await w.t.app.request('/api/entitlements', { headers: { Cookie: cookie } })).json()) as {
      benefits: string[]
      membership: { entitled: boolean }
    }
    expect(after.membership.entitled).toBe(false)
    expect(after.benefits).toEqual([])
    // Nothing was left to renew it: no subscription, no open job for it.
    expect(await w.t.services.db.select().from(subscriptions)).toHaveLength(0)
    const open = await w.t.services.db
      .select()
      .from(jobs)
      .where(sql`${jobs.key} = ${giftId} and ${jobs.state} in ('queued', 'running')`)
    expect(open).toHaveLength(0)
    expect((await w.t.services.db.select().from(grants).where(eq(grants.userId, user.id))).length).toBe(1)
  })
})

describe('a gift to someone who already pays', () => {
  it('starts when their paid period ends, follows a renewal, and the giver is told when', async () => {
    w.clock.set('2027-07-01T12:00:00Z')
    await signIn(w.t.app, MEMBER)
    // Their membership, bought as the join page's checkout buys one (that route is not what this tests).
    const memberUser = (await findUserByEmail(w.t.services.db, await w.t.services.keyring, MEMBER))!
    const [reader] = await w.t.services.db.select().from(tiers).where(eq(tiers.id, 'reader'))
    const customer = await w.stripe.customers.create({ email: MEMBER, metadata: { masthead: '1' } })
    const checkout = await w.stripe.checkout.sessions.create({
      mode: 'subscription',
      customer: customer.id,
      client_reference_id: memberUser.id,
      line_items: [{ price: reader!.stripeMonthlyPriceId!, quantity: 1 }],
      metadata: { masthead: '1', kind: 'tier', tier_id: 'reader' },
      subscription_data: { metadata: { masthead: '1', tier_id: 'reader', user_id: memberUser.id } },
      success_url: 'http://localhost:8787/billing/thanks',
      cancel_url: 'http://localhost:8787/join',
    })
    await w.standIn.completeCheckout(checkout.id)
    const [sub] = await w.t.services.db.select().from(subscriptions)
    const periodEnd = sub!.currentPeriodEnd!
    expect(periodEnd.toISOString()).toBe('2027-08-01T12:00:00.000Z')

    const giver = await signIn(w.t.app, 'signed-in-giver@gifts.example')
    const res = await buyGift({ tier: 'patron', months: 3, recipient_email: MEMBER, deliver_on: '2027-07-01' }, giver)
    expect(res.status).toBe(200)
    const { url, giftId } = (await res.json()) as { url: string; giftId: string }
    await w.standIn.completeCheckout(sessionIdOf(url))
    expect((await giftOf(giftId)).giverUserId).not.toBeNull()
    await runDueJobs(w.t)
    const redeemed = await redeem(tokenIn((await mailsTo(MEMBER)).find((m) => m.subject.includes('gave you')))!)
    expect(redeemed.headers.get('location')).toBe('/account?notice=gift-waits')
    const grantOf = async () =>
      (
        await w.t.services.db
          .select()
          .from(grants)
          .where(eq(grants.id, (await giftOf(giftId)).grantId!))
      )[0]!
    expect((await grantOf()).startsAt.toISOString()).toBe('2027-08-01T12:00:00.000Z')
    expect((await grantOf()).endsAt!.toISOString()).toBe('2027-11-01T12:00:00.000Z')
    const told = (await mailsTo('signed-in-giver@gifts.example')).find((m) => m.subject.includes('will start'))
    expect(told?.subject).toContain('2027-08-01')

    // At the period's end Stripe renews: the gift waits for the new end.
    w.clock.set('2027-08-01T12:00:00Z')
    await runDueJobs(w.t) // the renewal not heard of yet: it waits an hour
    expect((await grantOf()).startsAt.toISOString()).toBe('2027-08-01T12:00:00.000Z')
    await w.standIn.renew(sub!.id)
    w.clock.set('2027-08-01T13:00:00Z')
    await runDueJobs(w.t)
    expect((await grantOf()).startsAt.toISOString()).toBe('2027-09-01T12:00:00.000Z')
    expect((await grantOf()).endsAt!.toISOString()).toBe(addMonths(new Date('2027-09-01T12:00:00Z'), 3).toISOString())

    // They cancel: at the end of what they paid for, the gift takes over.
    await w.standIn.setCancelAtPeriodEnd(sub!.id, true)
    w.clock.set('2027-09-01T12:00:01Z')
    await w.standIn.endSubscription(sub!.id)
    await runDueJobs(w.t)
    expect((await grantOf()).startsAt.toISOString()).toBe('2027-09-01T12:00:00.000Z')
    const user = (await findUserByEmail(w.t.services.db, await w.t.services.keyring, MEMBER))!
    const now = await loadEntitlements(w.t.services.db, user.id, w.clock.now(), w.t.services.config)
    expect(now.membership).toMatchObject({ source: 'gift', entitled: true, tierId: 'patron' })
    const open = await w.t.services.db
      .select()
      .from(jobs)
      .where(sql`${jobs.key} = ${giftId} and ${jobs.state} in ('queued', 'running')`)
    expect(open).toHaveLength(0)
  })
})

describe('bad input', () => {
  const good = {
    tier: 'reader',
    months: 3,
    recipient_email: 'someone@gifts.example',
    deliver_on: '2027-12-24',
    email: 'payer@gifts.example',
  }
  const cases: [string, Record<string, unknown>, string][] = [
    ['a day in the past', { deliver_on: '2020-01-01' }, 'The delivery date is in the past'],
    ['a day that does not exist', { deliver_on: '2027-02-30' }, 'Choose the day the gift is e-mailed'],
    ['an unknown tier', { tier: 'platinum' }, 'There is no tier called "platinum"'],
    ['a bad address', { recipient_email: 'not-an-address' }, 'Enter a valid e-mail address'],
    ['no address', { recipient_email: '' }, "Enter the recipient's e-mail address"],
    ['a message too long', { message: 'x'.repeat(501) }, 'The message is at most 500 characters'],
    ['5 months', { months: 5 }, 'Choose 3, 6 or 12 months'],
    ['months as words', { months: 'twelve' }, 'Choose 3, 6 or 12 months'],
    ['signed out without a receipt address', { email: undefined }, 'Enter your e-mail address for the receipt'],
  ]
  beforeAll(() => w.clock.set('2027-10-01T12:00:00Z'))

  for (const [name, change, message] of cases) {
    it(`${name}: a clear 422, and nothing stored or opened in Stripe`, async () => {
      const before = { gifts: await giftCount(), stripeCalls: w.standIn.apiRequests() }
      const res = await buyGift({ ...good, ...change })
      expect(res.status).toBe(422)
      const body = (await res.json()) as { error: { code: string; message: string } }
      expect(body.error.code).toBe('validation_failed')
      expect(body.error.message).toContain(message)
      expect(await giftCount()).toBe(before.gifts)
      expect(w.standIn.apiRequests()).toBe(before.stripeCalls)
    })
  }

  it('from the form: the page again, the message beside its field, 422, nothing stored', async () => {
    const before = await giftCount()
    const res = await w.t.app.request('/billing/gift', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'CF-Connecting-IP': nextClientIp() },
      body: new URLSearchParams({ ...good, months: '3', deliver_on: '2027-09-30' }),
    })
    expect(res.status).toBe(422)
    const html = await res.text()
    expect(html).toContain('The delivery date is in the past: choose 2027-10-01 or a later day.')
    expect(html).toContain('value="someone@gifts.example"')
    expect(await giftCount()).toBe(before)
  })

  it('a checkout left to expire takes its unpaid gift with it', async () => {
    const res = await buyGift(good)
    const { url, giftId } = (await res.json()) as { url: string; giftId: string }
    expect(await giftOf(giftId)).toBeDefined()
    await w.standIn.cancelCheckout(sessionIdOf(url))
    expect(await w.t.services.db.select().from(gifts).where(eq(gifts.id, giftId))).toHaveLength(0)
  })

  it('a link that is not a gift is refused in words', async () => {
    const res = await redeem('not-a-real-token-at-all')
    expect(res.status).toBe(400)
    expect(await res.text()).toContain('This gift link is not valid.')
  })
})
