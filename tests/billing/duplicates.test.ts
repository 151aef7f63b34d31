import { and, eq, inArray } from 'drizzle-orm'
import type Stripe from 'stripe'
import { describe, expect, it } from 'vitest'
import { findUserByEmail } from '../../src/accounts/users'
import { auditLog, devMailbox, payments } from '../../src/db/schema'
import { addressIndexes } from '../../src/privacy/blind-index'
import { decrypt } from '../../src/privacy/cipher'
import { CONTEXT } from '../../src/privacy/people'
import { nextClientIp, signIn } from '../helpers/auth'
import { sessionIdOf, startTierCheckout, useBillingWorld } from '../helpers/billing'

// Events are only recorded by the stand-in; each test delivers them itself, in the order it wants.
const w = useBillingWorld()

const SUBJECT = 'Your Masthead membership continues: the second one was refunded'

async function deliverAll(events: Stripe.Event[], status = 200) {
  for (const event of events) expect((await w.deliver(event)).status, event.type).toBe(status)
}

/** Stripe's `created` counts seconds: each purchase a minute after the last, so which came first is never a tie. */
const later = () => w.clock.advance(60_000)

/** A reader who pays for a tier through the app. Its events are returned, delivered unless `deliver` is false. */
async function member(email: string, { deliver = true } = {}) {
  later()
  const cookie = await signIn(w.t.app, email)
  const start = w.standIn.events().length
  const sessionId = await startTierCheckout(w, cookie, 'reader', 'month')
  await w.standIn.completeCheckout(sessionId)
  const events = w.standIn.events().slice(start)
  if (deliver) await deliverAll(events)
  const subscriptionId = (await w.stripe.checkout.sessions.retrieve(sessionId)).subscription as string
  return { cookie, subscriptionId, events }
}

/** Someone signed out buys the Patron tier for `email` through the app and pays; nothing is delivered yet. */
async function signedOutPurchase(email: string) {
  later()
  const res = await w.t.app.request('/billing/checkout', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'CF-Connecting-IP': nextClientIp() },
    body: JSON.stringify({ tier: 'patron', interval: 'year', email }),
  })
  expect(res.status).toBe(200)
  const sessionId = sessionIdOf(((await res.json()) as { url: string }).url)
  const start = w.standIn.events().length
  await w.standIn.completeCheckout(sessionId)
  const subscriptionId = (await w.stripe.checkout.sessions.retrieve(sessionId)).subscription as string
  return { subscriptionId, events: w.standIn.events().slice(start) }
}

/** Every event Stripe sent since `start` (the app's own cancellations and refunds among them). */
const eventsSince = (start: number) => w.standIn.events().slice(start)

async function userIdOf(email: string) {
  const user = await findUserByEmail(w.t.services.db, await w.t.services.keyring, email)
  return user!.id
}

/** What the settlement left: in Stripe, the audit log, the mailbox and the account. */
async function outcome(email: string, duplicateId: string) {
  const { db } = w.t.services
  const keyring = await w.t.services.keyring
  const userId = await userIdOf(email)
  const audits = await db
    .select()
    .from(auditLog)
    .where(and(eq(auditLog.subjectUserId, userId), eq(auditLog.action, 'membership.duplicate_refunded')))
  const mails = await db
    .select()
    .from(devMailbox)
    .where(and(inArray(devMailbox.toIndex, await addressIndexes(keyring, email)), eq(devMailbox.subject, SUBJECT)))
  // The mail went to the member's address in clear (decrypted from the account), and is kept sealed.
  for (const mail of mails) expect(await decrypt(keyring, mail.to, CONTEXT.mailTo)).toBe(email)
  const [invoice] = (await w.stripe.invoices.list({ subscription: duplicateId })).data
  const [payment] = (await w.stripe.invoicePayments.list({ invoice: invoice!.id! })).data
  const paymentIntent = await w.stripe.paymentIntents.retrieve(payment!.payment.payment_intent as string)
  const charge = await w.stripe.charges.retrieve(paymentIntent.latest_charge as string)
  const refundEvents = w.standIn
    .events()
    .filter((e) => e.type === 'charge.refunded' && (e.data.object as Stripe.Charge).id === charge.id)
  const cancelEvents = w.standIn
    .events()
    .filter(
      (e) => e.type === 'customer.subscription.deleted' && (e.data.object as Stripe.Subscription).id === duplicateId,
    )
  return { audits, mails, charge, refundEvents, cancelEvents, paymentIntent: paymentIntent.id }
}

/** The member's own membership, as their account page shows it. */
async function membershipOf(cookie: string) {
  const me = (await (await w.t.app.request('/api/account', { headers: { Cookie: cookie } })).json()) as {
    membership: Record<string, unknown>
  }
  return me.membership
}

describe('a second membership bought for an address that already has one', () => {
  it('is cancelled and refunded, the member is told once, and their membership continues', async () => {
    const email = 'settled@example.org'
    const { cookie, subscriptionId: keptId } = await member(email)
    const before = await membershipOf(cookie)
    expect(before).toMatchObject({ status: 'active', tierId: 'reader', subscriptionId: keptId })

    const start = w.standIn.events().length
    const { subscriptionId: duplicateId, events } = await signedOutPurchase(email)
    await deliverAll(events)
    // The app's own calls to Stripe (the cancellation, the refund) come back as events too.
    const followUps = eventsSince(start).slice(events.length)
    expect(followUps.map((e) => e.type).sort()).toEqual(['charge.refunded', 'customer.subscription.deleted'])
    await deliverAll(followUps)

    expect(await w.stripe.subscriptions.retrieve(duplicateId)).toMatchObject({ status: 'canceled' })
    expect(await w.stripe.subscriptions.retrieve(keptId)).toMatchObject({ status: 'active' })
    const settled = await outcome(email, duplicateId)
    expect(settled.charge).toMatchObject({ amount_refunded: 15000, refunded: true })
    expect(settled.refundEvents).toHaveLength(1)
    expect(settled.cancelEvents).toHaveLength(1)
    expect(settled.audits).toHaveLength(1)
    const refundIds = (settled.audits[0]!.details as { refundIds: string[] }).refundIds
    // The record holds ids only: no address, no name, no amount.
    expect(settled.audits[0]).toMatchObject({ actorId: null })
    expect(settled.audits[0]!.details).toEqual({ subscriptionId: duplicateId, keptSubscriptionId: keptId, refundIds })
    expect(await w.stripe.refunds.retrieve(refundIds[0]!)).toMatchObject({
      amount: 15000,
      reason: 'duplicate',
      payment_intent: settled.paymentIntent,
      metadata: { masthead: '1', kind: 'duplicate', subscription_id: duplicateId },
    })
    expect(settled.mails).toHaveLength(1)
    expect(settled.mails[0]!.text).toContain('Your membership continues as it was.')
    expect(settled.mails[0]!.text).toContain('refunded its payment of $150.00 in full')
    expect(settled.mails[0]!.text).toContain('http://localhost:8787/account')

    expect(await membershipOf(cookie)).toEqual(before)
    const ledger = await w.t.services.db.select().from(payments).where(eq(payments.subscriptionId, duplicateId))
    expect(ledger).toEqual([expect.objectContaining({ kind: 'subscription', amount: 15000 })])
    const [refund] = await w.t.services.db
      .select()
      .from(payments)
      .where(eq(payments.id, `refund:${settled.charge.id}`))
    expect(refund).toMatchObject({ kind: 'refund', amount: -15000 })

    // Stripe delivers again, every event: nothing happens twice.
    const snapshot = await w.snapshot()
    const stripeEvents = w.standIn.events().length
    for (const event of eventsSince(start)) {
      expect(await (await w.deliver(event)).json()).toMatchObject({ outcome: 'duplicate' })
    }
    expect(w.standIn.events().length).toBe(stripeEvents)
    expect(await w.snapshot()).toEqual(snapshot)
    const again = await outcome(email, duplicateId)
    expect([again.audits.length, again.mails.length, again.refundEvents.length]).toEqual([1, 1, 1])
  })

  const orders: [string, string[]][] = [
    ['checkout first', ['checkout.session.completed', 'customer.subscription.created', 'invoice.paid']],
    ['subscription first', ['customer.subscription.created', 'invoice.paid', 'checkout.session.completed']],
    ['invoice first', ['invoice.paid', 'checkout.session.completed', 'customer.subscription.created']],
    ['checkout last, each twice', ['customer.subscription.created', 'invoice.paid', 'checkout.session.completed']],
  ]
  for (const [name, types] of orders) {
    it(`is settled once whatever the order of its events (${name})`, async () => {
      const email = `order-${name.replaceAll(/\W+/g, '-')}@example.org`
      const { cookie } = await member(email)
      const before = await membershipOf(cookie)
      const start = w.standIn.events().length
      const { subscriptionId: duplicateId, events } = await signedOutPurchase(email)
      const ordered = types.map((type) => events.find((e) => e.type === type)!)
      await deliverAll(name.includes('twice') ? ordered.flatMap((e) => [e, e]) : ordered)
      await deliverAll(eventsSince(start).slice(events.length))
      const settled = await outcome(email, duplicateId)
      expect([settled.audits.length, settled.mails.length, settled.refundEvents.length]).toEqual([1, 1, 1])
      expect(await w.stripe.subscriptions.retrieve(duplicateId)).toMatchObject({ status: 'canceled' })
      expect(await membershipOf(cookie)).toEqual(before)
    })
  }

  it('is settled when the existing membership’s own events arrive after the new one’s', async () => {
    const email = 'late-kept@example.org'
    const kept = await member(email, { deliver: false })
    const start = w.standIn.events().length
    const { subscriptionId: duplicateId, events } = await signedOutPurchase(email)
    await deliverAll(events)
    expect(eventsSince(start).length, 'nothing to settle yet').toBe(events.length)
    await deliverAll(kept.events)
    await deliverAll(eventsSince(start).slice(events.length))
    const settled = await outcome(email, duplicateId)
    expect([settled.audits.length, settled.mails.length, settled.refundEvents.length]).toEqual([1, 1, 1])
    expect(await w.stripe.subscriptions.retrieve(kept.subscriptionId)).toMatchObject({ status: 'active' })
    expect(await membershipOf(kept.cookie)).toMatchObject({ status: 'active', subscriptionId: kept.subscriptionId })
  })

  it('when Stripe fails part-way, answers 500, and the redelivery finishes it', async () => {
    const email = 'stripe-down@example.org'
    await member(email)
    const start = w.standIn.events().length
    const { subscriptionId: duplicateId, events } = await signedOutPurchase(email)
    const inOrder = ['checkout.session.completed', 'customer.subscription.created'].map((type) =>
      events.find((e) => e.type === type)!,
    )
    const refunds = w.t.services.stripe!.refunds
    const original = refunds.create
    refunds.create = () => Promise.reject(new Error('network down'))
    try {
      await deliverAll(inOrder.slice(0, 1))
      expect((await w.deliver(inOrder[1]!)).status).toBe(500)
    } finally {
      refunds.create = original
    }
    // The cancellation went through before the refund failed; nothing is recorded and no one is told yet.
    expect(await w.stripe.subscriptions.retrieve(duplicateId)).toMatchObject({ status: 'canceled' })
    expect((await outcome(email, duplicateId)).audits).toHaveLength(0)

    const retried = await w.deliver(inOrder[1]!)
    expect(retried.status).toBe(200)
    expect(await retried.json()).toMatchObject({ outcome: 'duplicate' })
    await deliverAll(events)
    await deliverAll(eventsSince(start).slice(events.length))
    const settled = await outcome(email, duplicateId)
    expect([settled.audits.length, settled.mails.length, settled.refundEvents.length]).toEqual([1, 1, 1])
    expect(settled.charge).toMatchObject({ amount_refunded: 15000 })
  })
})

/**
 * Counts the duplicate-membership lookups (duplicate-membership.ts, on services.lookupDb) made while `run` runs,
 * at the driver: a postgres.js client's `unsafe`, or PGlite's `query`.
 */
async function duplicateChecksDuring(run: () => Promise<void>): Promise<number> {
  const client = (w.t.services.lookupDb as unknown as { $client: Record<string, unknown> }).$client
  const method = typeof client.unsafe === 'function' ? 'unsafe' : 'query'
  const own = Object.prototype.hasOwnProperty.call(client, method)
  const original = client[method] as (...args: unknown[]) => unknown
  let checks = 0
  client[method] = function (this: unknown, text: unknown, ...rest: unknown[]) {
    if (String(text).includes('with held as')) checks++
    return original.call(this, text, ...rest)
  }
  try {
    await run()
  } finally {
    if (own) client[method] = original
    else delete client[method]
  }
  return checks
}

describe('the check for a duplicate after a subscription event', () => {
  it('is not made when nothing it depends on changed; a second paying membership makes every event check', async () => {
    const email = 'renews-alone@example.org'
    const { subscriptionId } = await member(email)
    // A renewal of the account's one membership: its status and cancel flag stay, no other membership.
    later()
    const renewing = w.standIn.events().length
    await w.standIn.renew(subscriptionId)
    const renewal = eventsSince(renewing)
    expect(renewal.map((e) => e.type)).toContain('customer.subscription.updated')
    expect(await duplicateChecksDuring(() => deliverAll(renewal))).toBe(0)
    // Its redelivery knows nothing of what changed, and checks.
    const update = renewal.find((e) => e.type === 'customer.subscription.updated')!
    expect(await duplicateChecksDuring(() => deliverAll([update]))).toBe(1)

    // A second membership whose settling failed (Stripe refused the cancellation) and whose failed event is
    // never delivered again: the next event about it, a renewal that changes nothing, still settles it.
    const { subscriptionId: duplicateId, events } = await signedOutPurchase(email)
    const subscriptions = w.t.services.stripe!.subscriptions
    const cancel = subscriptions.cancel
    subscriptions.cancel = () => Promise.reject(new Error('network down'))
    try {
      for (const event of events) await w.deliver(event)
    } finally {
      subscriptions.cancel = cancel
    }
    expect(await w.stripe.subscriptions.retrieve(duplicateId)).toMatchObject({ status: 'active' })
    expect((await outcome(email, duplicateId)).audits).toHaveLength(0)
    later()
    const again = w.standIn.events().length
    await w.standIn.renew(duplicateId)
    const checks = await duplicateChecksDuring(() => deliverAll(eventsSince(again)))
    expect(checks).toBeGreaterThan(0)
    expect(await w.stripe.subscriptions.retrieve(duplicateId)).toMatchObject({ status: 'canceled' })
    const settled = await outcome(email, duplicateId)
    expect([settled.audits.length, settled.mails.length, settled.refundEvents.length]).toEqual([1, 1, 1])
  })
})

describe('what is not a duplicate', () => {
  it('a membership bought for an account without one stays', async () => {
    const email = 'no-membership-yet@example.org'
    const cookie = await signIn(w.t.app, email)
    const start = w.standIn.events().length
    const { subscriptionId, events } = await signedOutPurchase(email)
    await deliverAll(events)
    expect(eventsSince(start)).toHaveLength(events.length)
    expect(await membershipOf(cookie)).toMatchObject({ status: 'active', tierId: 'patron', subscriptionId })
  })

  it('a membership bought while the existing one is set to end renews it, and both stay', async () => {
    const email = 'renewing@example.org'
    const { subscriptionId: endingId } = await member(email)
    const ending = w.standIn.events().length
    await w.standIn.setCancelAtPeriodEnd(endingId, true)
    await deliverAll(eventsSince(ending))
    const start = w.standIn.events().length
    const { subscriptionId, events } = await signedOutPurchase(email)
    await deliverAll(events)
    expect(eventsSince(start)).toHaveLength(events.length)
    expect(await w.stripe.subscriptions.retrieve(subscriptionId)).toMatchObject({ status: 'active' })
    const [settlement] = await w.t.services.db
      .select()
      .from(auditLog)
      .where(eq(auditLog.subjectUserId, await userIdOf(email)))
    expect(settlement).toBeUndefined()
  })
})
