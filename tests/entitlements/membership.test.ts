import { describe, expect, it } from 'vitest'
import { bestPaidMembership, membershipStatus } from '../../src/entitlements/membership'
import { lastMailTo, signIn } from '../helpers/auth'
import { startTierCheckout, useBillingWorld } from '../helpers/billing'

// Events reach the app as they happen, as they would from Stripe.
const w = useBillingWorld({ live: true, env: { PAST_DUE_GRACE_DAYS: '7' } })

async function membership(cookie: string) {
  return (await (await w.t.app.request('/api/account', { headers: { Cookie: cookie } })).json()).membership
}

describe('membership follows the subscription', () => {
  it('active → past due (benefits kept, member told once) → recovered → canceled at period end → ended', async () => {
    const cookie = await signIn(w.t.app, 'journey@example.org')
    const sessionId = await startTierCheckout(w, cookie, 'reader', 'month')
    await w.standIn.completeCheckout(sessionId)
    const subscriptionId = (await w.stripe.checkout.sessions.retrieve(sessionId)).subscription as string
    expect(await membership(cookie)).toMatchObject({ status: 'active', entitled: true })

    await w.standIn.failPayment(subscriptionId)
    expect(await membership(cookie)).toMatchObject({ status: 'past_due', entitled: true })
    const told = await lastMailTo(w.t.app, 'journey@example.org')
    expect(told.message?.subject).toBe('Your Masthead membership payment did not go through')
    const mails = told.count
    // Stripe retries deliveries: the same failure again tells no one twice.
    const failure = w.standIn
      .events()
      .filter((e) => e.type === 'invoice.payment_failed')
      .at(-1)!
    const again = await w.t.app.request('/webhooks/stripe', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Stripe-Signature': w.standIn.sign(JSON.stringify(failure)) },
      body: JSON.stringify(failure),
    })
    expect(again.status).toBe(200)
    expect((await lastMailTo(w.t.app, 'journey@example.org')).count).toBe(mails)

    // Past the grace period the benefits stop, though Stripe still says past_due.
    w.clock.advance(8 * 86_400_000)
    expect(await membership(cookie)).toMatchObject({ status: 'past_due', entitled: false })
    w.clock.advance(-8 * 86_400_000)

    await w.standIn.recoverPayment(subscriptionId)
    expect(await membership(cookie)).toMatchObject({ status: 'active', entitled: true })

    await w.standIn.setCancelAtPeriodEnd(subscriptionId, true)
    const canceling = await membership(cookie)
    expect(canceling).toMatchObject({ status: 'canceled_at_period_end', entitled: true })
    w.clock.set(new Date(new Date(canceling.until).getTime() + 1000).toISOString())
    expect(await membership(cookie)).toMatchObject({ status: 'canceled_at_period_end', entitled: false })

    await w.standIn.endSubscription(subscriptionId)
    expect(await membership(cookie)).toMatchObject({ status: 'ended', entitled: false, benefits: [] })
    expect(w.standIn.deliveries().every((d) => d.status === 200)).toBe(true)
  })
})

describe('membershipStatus', () => {
  const now = new Date('2026-11-25T12:00:00Z')
  const later = new Date('2026-12-25T12:00:00Z')
  const base = { cancelAtPeriodEnd: false, currentPeriodEnd: later, pastDueSince: null }
  it.each([
    [{ ...base, status: 'active' }, 'active', true],
    [{ ...base, status: 'trialing' }, 'trialing', true],
    [{ ...base, status: 'active', cancelAtPeriodEnd: true }, 'canceled_at_period_end', true],
    [{ ...base, status: 'active', cancelAtPeriodEnd: true, currentPeriodEnd: now }, 'canceled_at_period_end', false],
    [{ ...base, status: 'past_due', pastDueSince: new Date('2026-11-20T12:00:00Z') }, 'past_due', true],
    [{ ...base, status: 'past_due', pastDueSince: new Date('2026-11-01T12:00:00Z') }, 'past_due', false],
    [{ ...base, status: 'incomplete' }, 'incomplete', false],
    [{ ...base, status: 'incomplete_expired' }, 'ended', false],
    [{ ...base, status: 'unpaid' }, 'ended', false],
    [{ ...base, status: 'canceled' }, 'ended', false],
  ])('%o is %s (entitled: %s)', (sub, status, entitled) => {
    expect(membershipStatus(sub, now, 7)).toMatchObject({ status, entitled })
  })
})

describe('a custom pledge', () => {
  const now = new Date('2026-11-25T12:00:00Z')
  const pledge = (interval: string) => ({
    id: `sub_${interval}`,
    status: 'active',
    cancelAtPeriodEnd: false,
    currentPeriodEnd: new Date('2027-01-25T12:00:00Z'),
    pastDueSince: null,
    tierId: null,
    tierName: null,
    tierBenefits: null,
    interval,
    amount: 6000,
    currency: 'usd',
    createdAt: now,
  })
  it('is named by how often it is paid', () => {
    expect(bestPaidMembership([pledge('month')], now, 7).tierName).toBe('Monthly pledge')
    expect(bestPaidMembership([pledge('year')], now, 7).tierName).toBe('Yearly pledge')
  })
})
