import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import Stripe from 'stripe'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startStripeStandIn, type StripeStandIn } from '../../src/dev/stripe-stand-in'
import { parseForm } from '../../src/dev/stripe-stand-in/form'

// The stand-in is driven only through the real SDK (and its hosted pages through plain HTTP forms),
// so these tests also prove the SDK accepts its wire format and object shapes.

const crypto = Stripe.createSubtleCryptoProvider()

interface Received {
  payload: string
  header: string
}

let standIn: StripeStandIn
let stripe: Stripe
let received: Received[] = []
let deliverStatus = 200

beforeAll(async () => {
  standIn = await startStripeStandIn({
    deliver: async (payload, header) => {
      received.push({ payload, header })
      return { status: deliverStatus }
    },
  })
  stripe = new Stripe(standIn.secretKey, standIn.sdkOptions)
})

afterAll(async () => {
  await standIn.close()
})

beforeEach(async () => {
  deliverStatus = 200
  await reset()
})

/** Forgets what was delivered so far, after letting in-flight deliveries land. */
async function reset() {
  await allDelivered()
  received = []
}

/** API-triggered events are delivered asynchronously (as with Stripe); wait until every one has been. */
async function allDelivered() {
  await standIn.idle()
  expect(standIn.deliveries()).toHaveLength(standIn.events().length)
}

/** Verifies each delivered payload with the SDK, exactly as the app's webhook endpoint does. */
async function verified(): Promise<Stripe.Event[]> {
  return Promise.all(
    received.map((r) =>
      stripe.webhooks.constructEventAsync(r.payload, r.header, standIn.webhookSecret, undefined, crypto),
    ),
  )
}

function ofType<T extends Stripe.Event.Type>(events: Stripe.Event[], type: T) {
  const found = events.find((e) => e.type === type)
  if (!found) throw new Error(`no ${type} event among ${events.map((e) => e.type).join(', ')}`)
  return found as Extract<Stripe.Event, { type: T }>
}

async function monthlyPrice(amount = 500, lookupKey?: string) {
  const product = await stripe.products.create({ name: 'Supporter', metadata: { tier: 'supporter' } })
  return stripe.prices.create({
    product: product.id,
    currency: 'eur',
    unit_amount: amount,
    recurring: { interval: 'month' },
    ...(lookupKey ? { lookup_key: lookupKey, transfer_lookup_key: true } : {}),
  })
}

async function subscribe(email = 'reader@example.org') {
  const price = await monthlyPrice(700)
  const session = await stripe.checkout.sessions.create({
    mode: 'subscription',
    customer_email: email,
    line_items: [{ price: price.id, quantity: 1 }],
    success_url: 'https://masthead.test/welcome?session={CHECKOUT_SESSION_ID}',
    cancel_url: 'https://masthead.test/join',
    subscription_data: { metadata: { member_id: 'm_1' } },
  })
  await standIn.completeCheckout(session.id)
  const done = await stripe.checkout.sessions.retrieve(session.id)
  const sub = await stripe.subscriptions.retrieve(done.subscription as string)
  await reset()
  return { price, session: done, sub }
}

describe('catalog', () => {
  it('creates products and prices and moves lookup keys with transfer_lookup_key', async () => {
    const first = await monthlyPrice(500, 'supporter_monthly')
    expect(first).toMatchObject({ object: 'price', currency: 'eur', unit_amount: 500, lookup_key: 'supporter_monthly' })
    expect(first.recurring).toMatchObject({ interval: 'month', interval_count: 1 })
    expect(first.id).toMatch(/^price_[0-9A-Za-z]+$/)

    await expect(
      stripe.prices.create({
        product: first.product as string,
        currency: 'eur',
        unit_amount: 600,
        lookup_key: 'supporter_monthly',
      }),
    ).rejects.toMatchObject({ type: 'StripeInvalidRequestError', statusCode: 400, param: 'lookup_key' })

    const second = await monthlyPrice(600, 'supporter_monthly')
    const listed = await stripe.prices.list({
      lookup_keys: ['supporter_monthly', 'unknown_key'],
      expand: ['data.product'],
    })
    expect(listed.data.map((p) => p.id)).toEqual([second.id])
    expect((listed.data[0]!.product as Stripe.Product).name).toBe('Supporter')
    expect((await stripe.prices.retrieve(first.id)).lookup_key).toBeNull()

    const archived = await stripe.prices.update(first.id, { active: false, metadata: { note: 'old' } })
    expect(archived).toMatchObject({ active: false, metadata: { note: 'old' } })
    const active = await stripe.prices.list({ product: first.product as string, active: true })
    expect(active.data).toEqual([])
  })

  it('lists products newest first with auto-pagination', async () => {
    const made: string[] = []
    for (const name of ['A', 'B', 'C'])
      made.push((await stripe.products.create({ name, metadata: { batch: 'pg' } })).id)
    const all = await stripe.products.list({ limit: 2 }).autoPagingToArray({ limit: 1000 })
    const ours = all.filter((p) => made.includes(p.id)).map((p) => p.id)
    expect(ours).toEqual([...made].reverse())
    const updated = await stripe.products.update(made[0]!, { name: 'A2', active: false })
    expect(updated).toMatchObject({ name: 'A2', active: false })
    expect((await stripe.products.list({ active: false, limit: 100 })).data.map((p) => p.id)).toContain(made[0])
  })
})

describe('customers', () => {
  it('creates, retrieves, updates, lists and deletes, emitting customer events', async () => {
    const customer = await stripe.customers.create({
      email: 'ada@example.org',
      name: 'Ada',
      metadata: { user_id: 'u1' },
    })
    expect(customer).toMatchObject({
      object: 'customer',
      email: 'ada@example.org',
      name: 'Ada',
      metadata: { user_id: 'u1' },
    })
    expect(customer.id).toMatch(/^cus_/)
    expect(await stripe.customers.retrieve(customer.id)).toMatchObject({ id: customer.id, email: 'ada@example.org' })

    const updated = await stripe.customers.update(customer.id, { email: 'ada@new.example', metadata: { user_id: '' } })
    expect(updated).toMatchObject({ email: 'ada@new.example', metadata: {} })
    const byEmail = await stripe.customers.list({ email: 'ada@new.example' })
    expect(byEmail.data.map((c) => c.id)).toEqual([customer.id])

    const deleted = await stripe.customers.del(customer.id)
    expect(deleted).toEqual({ id: customer.id, object: 'customer', deleted: true })
    expect(await stripe.customers.retrieve(customer.id)).toMatchObject({ id: customer.id, deleted: true })
    expect((await stripe.customers.list({ email: 'ada@new.example' })).data).toEqual([])

    await allDelivered()
    const events = await verified()
    expect(events.map((e) => e.type)).toEqual(['customer.created', 'customer.updated', 'customer.deleted'])
    const update = ofType(events, 'customer.updated')
    expect(update.data.previous_attributes).toEqual({ email: 'ada@example.org', metadata: { user_id: 'u1' } })
    expect(update.data.object.email).toBe('ada@new.example')
  })

  it('updateCustomer and deleteCustomer lifecycle controls emit events', async () => {
    const customer = await stripe.customers.create({ email: 'bo@example.org' })
    await standIn.updateCustomer(customer.id, { name: 'Bo' })
    await standIn.deleteCustomer(customer.id)
    const types = (await verified()).map((e) => e.type)
    expect(types).toEqual(['customer.created', 'customer.updated', 'customer.deleted'])
  })
})

describe('subscription checkout', () => {
  it('completes, delivering signed events in Stripe order with this API version’s shapes', async () => {
    const price = await monthlyPrice(900)
    const session = await stripe.checkout.sessions.create({
      mode: 'subscription',
      customer_email: 'new.member@example.org',
      client_reference_id: 'user_42',
      line_items: [{ price: price.id, quantity: 2 }],
      success_url: 'https://masthead.test/welcome?session={CHECKOUT_SESSION_ID}',
      cancel_url: 'https://masthead.test/join',
      metadata: { flow: 'join' },
      subscription_data: { metadata: { member_id: 'm_42' } },
    })
    expect(session.id).toMatch(/^cs_test_/)
    expect(session.url).toBe(`${standIn.url}/checkout/${session.id}`)
    expect(session).toMatchObject({ status: 'open', payment_status: 'unpaid', amount_total: 1800, currency: 'eur' })
    await reset()

    await standIn.completeCheckout(session.id)
    const events = await verified()
    expect(events.map((e) => e.type)).toEqual([
      'customer.created',
      'checkout.session.completed',
      'customer.subscription.created',
      'invoice.paid',
    ])
    for (const e of events) {
      expect(e).toMatchObject({
        object: 'event',
        api_version: '2026-10-28.endive',
        livemode: false,
        pending_webhooks: 1,
      })
      expect(e.request).toEqual({ id: null, idempotency_key: null })
      expect(e.id).toMatch(/^evt_/)
    }
    const customer = ofType(events, 'customer.created').data.object
    expect(customer.email).toBe('new.member@example.org')

    const completed = ofType(events, 'checkout.session.completed').data.object
    expect(completed).toMatchObject({
      id: session.id,
      status: 'complete',
      payment_status: 'paid',
      customer: customer.id,
      client_reference_id: 'user_42',
      amount_total: 1800,
      currency: 'eur',
      metadata: { flow: 'join' },
    })
    expect(completed.customer_details?.email).toBe('new.member@example.org')

    const sub = ofType(events, 'customer.subscription.created').data.object
    expect(completed.subscription).toBe(sub.id)
    expect(sub).toMatchObject({
      status: 'active',
      customer: customer.id,
      metadata: { member_id: 'm_42' },
      cancel_at_period_end: false,
    })
    const item = sub.items.data[0]!
    expect(item.price.id).toBe(price.id)
    expect(item.quantity).toBe(2)
    expect(item.current_period_end).toBeGreaterThan(item.current_period_start)
    expect(item.current_period_end - item.current_period_start).toBeGreaterThanOrEqual(28 * 86400)

    const invoice = ofType(events, 'invoice.paid').data.object
    expect(invoice).toMatchObject({
      status: 'paid',
      amount_paid: 1800,
      amount_due: 1800,
      billing_reason: 'subscription_create',
    })
    expect(invoice.parent?.subscription_details?.subscription).toBe(sub.id)
    expect(invoice.customer).toBe(customer.id)
    expect(invoice.customer_email).toBe('new.member@example.org')
    expect(invoice.status_transitions.paid_at).toEqual(expect.any(Number))
    expect(invoice.lines.data[0]).toMatchObject({ amount: 1800, quantity: 2 })
    expect(invoice.lines.data[0]!.pricing?.price_details?.price).toBe(price.id)
    expect(sub.latest_invoice).toBe(invoice.id)

    // The same objects are readable through the API, with expansion.
    const fetched = await stripe.subscriptions.retrieve(sub.id, { expand: ['latest_invoice', 'customer'] })
    expect((fetched.latest_invoice as Stripe.Invoice).amount_paid).toBe(1800)
    expect((fetched.customer as Stripe.Customer).email).toBe('new.member@example.org')
    const byCustomer = await stripe.subscriptions.list({ customer: customer.id, status: 'all' })
    expect(byCustomer.data.map((s) => s.id)).toEqual([sub.id])
    expect(await stripe.invoices.retrieve(invoice.id)).toMatchObject({ id: invoice.id, status: 'paid' })

    const delivered = standIn.deliveries().filter((d) => events.some((e) => e.id === d.eventId))
    expect(delivered.map((d) => d.status)).toEqual([200, 200, 200, 200])
    expect(standIn.events().map((e) => e.id)).toEqual(expect.arrayContaining(events.map((e) => e.id)))
  })

  it('declined card leaves the subscription incomplete; paying again activates it', async () => {
    const customer = await stripe.customers.create({ email: 'declined@example.org' })
    const product = await stripe.products.create({ name: 'Patron' })
    const session = await stripe.checkout.sessions.create({
      mode: 'subscription',
      customer: customer.id,
      line_items: [
        {
          price_data: { currency: 'eur', unit_amount: 1200, product: product.id, recurring: { interval: 'year' } },
          quantity: 1,
        },
      ],
      success_url: 'https://masthead.test/ok',
    })
    await reset()
    await standIn.completeCheckout(session.id, { declineCard: true })
    let events = await verified()
    expect(events.map((e) => e.type)).toEqual(['customer.subscription.created', 'invoice.payment_failed'])
    const sub = ofType(events, 'customer.subscription.created').data.object
    expect(sub.status).toBe('incomplete')
    expect(sub.items.data[0]!.price).toMatchObject({ unit_amount: 1200, recurring: { interval: 'year' } })
    expect(ofType(events, 'invoice.payment_failed').data.object.status).toBe('open')
    expect((await stripe.checkout.sessions.retrieve(session.id)).status).toBe('open')

    await reset()
    await standIn.completeCheckout(session.id)
    events = await verified()
    expect(events.map((e) => e.type)).toEqual([
      'checkout.session.completed',
      'customer.subscription.updated',
      'invoice.paid',
    ])
    const updated = ofType(events, 'customer.subscription.updated')
    expect(updated.data.object.status).toBe('active')
    expect(updated.data.previous_attributes).toEqual({ status: 'incomplete' })
  })

  it('records a failed delivery without retrying and keeps delivering later events', async () => {
    const customer = await stripe.customers.create({ email: 'x@example.org' })
    await allDelivered()
    deliverStatus = 500
    await standIn.updateCustomer(customer.id, { name: 'X' })
    deliverStatus = 200
    await standIn.updateCustomer(customer.id, { name: 'Y' })
    const tail = standIn.deliveries().slice(-2)
    expect(tail.map((d) => d.status)).toEqual([500, 200])
    const ids = standIn
      .events()
      .slice(-2)
      .map((e) => e.id)
    expect(tail.map((d) => d.eventId)).toEqual(ids)
    expect(received.filter((r) => r.payload.includes(ids[0]!))).toHaveLength(1)
  })
})

describe('donations (payment mode)', () => {
  async function donation(amount: number) {
    return stripe.checkout.sessions.create({
      mode: 'payment',
      submit_type: 'donate',
      line_items: [
        { price_data: { currency: 'usd', unit_amount: amount, product_data: { name: 'Donation' } }, quantity: 1 },
      ],
      payment_intent_data: { metadata: { kind: 'donation' } },
      metadata: { kind: 'donation' },
      success_url: 'https://masthead.test/thanks',
      cancel_url: 'https://masthead.test/donate',
    })
  }

  it('completes with a succeeded payment intent and charge', async () => {
    const session = await donation(2500)
    await standIn.completeCheckout(session.id, { email: 'giver@example.org' })
    const events = await verified()
    expect(events.map((e) => e.type)).toEqual(['checkout.session.completed'])
    const done = ofType(events, 'checkout.session.completed').data.object
    expect(done).toMatchObject({
      mode: 'payment',
      payment_status: 'paid',
      amount_total: 2500,
      currency: 'usd',
      customer: null,
    })
    expect(done.metadata).toEqual({ kind: 'donation' })
    expect(done.customer_details?.email).toBe('giver@example.org')
    const pi = await stripe.paymentIntents.retrieve(done.payment_intent as string)
    expect(pi).toMatchObject({
      status: 'succeeded',
      amount: 2500,
      amount_received: 2500,
      metadata: { kind: 'donation' },
    })
    const charge = await stripe.charges.retrieve(pi.latest_charge as string)
    expect(charge).toMatchObject({ status: 'succeeded', paid: true, amount: 2500, refunded: false })
  })

  it('async payment settles as succeeded or failed', async () => {
    const ok = await donation(1000)
    await standIn.completeCheckout(ok.id, { email: 'bank@example.org', asyncPayment: true })
    expect((await stripe.checkout.sessions.retrieve(ok.id)).payment_status).toBe('unpaid')
    await standIn.settleAsyncPayment(ok.id, true)

    const bad = await donation(1100)
    await standIn.completeCheckout(bad.id, { email: 'bank@example.org', asyncPayment: true })
    await standIn.settleAsyncPayment(bad.id, false)

    const events = await verified()
    expect(events.map((e) => e.type)).toEqual([
      'checkout.session.completed',
      'checkout.session.async_payment_succeeded',
      'checkout.session.completed',
      'checkout.session.async_payment_failed',
    ])
    expect(events[0]!.data.object).toMatchObject({ id: ok.id, payment_status: 'unpaid' })
    expect(events[1]!.data.object).toMatchObject({ id: ok.id, payment_status: 'paid' })
    expect(events[3]!.data.object).toMatchObject({ id: bad.id, payment_status: 'unpaid' })
    const failedPi = await stripe.paymentIntents.retrieve(
      (events[3]!.data.object as Stripe.Checkout.Session).payment_intent as string,
    )
    expect(failedPi.status).toBe('requires_payment_method')
    await expect(standIn.settleAsyncPayment(ok.id, true)).rejects.toThrow(/no payment waiting/)
  })

  it('refunds partially then fully, with cumulative amount_refunded', async () => {
    const session = await donation(3000)
    await standIn.completeCheckout(session.id, { email: 'r@example.org' })
    const { payment_intent } = await stripe.checkout.sessions.retrieve(session.id)
    await reset()
    await standIn.refund(payment_intent as string, 1000)
    const refund = await stripe.refunds.create({ payment_intent: payment_intent as string })
    expect(refund).toMatchObject({ object: 'refund', amount: 2000, status: 'succeeded' })
    await allDelivered()
    const events = await verified()
    expect(events.map((e) => e.type)).toEqual(['charge.refunded', 'charge.refunded'])
    expect(events[0]!.data.object).toMatchObject({ amount_refunded: 1000, refunded: false })
    expect(events[0]!.data.previous_attributes).toEqual({ amount_refunded: 0, refunded: false })
    expect(events[1]!.data.object).toMatchObject({ amount_refunded: 3000, refunded: true })
    await expect(standIn.refund(payment_intent as string)).rejects.toThrow(/already been refunded/)
  })
})

describe('subscription lifecycle', () => {
  it('failPayment then recoverPayment', async () => {
    const { sub } = await subscribe()
    const periodEnd = sub.items.data[0]!.current_period_end
    await standIn.failPayment(sub.id)
    let events = await verified()
    expect(events.map((e) => e.type)).toEqual(['invoice.payment_failed', 'customer.subscription.updated'])
    const failed = ofType(events, 'invoice.payment_failed').data.object
    expect(failed).toMatchObject({
      billing_reason: 'subscription_cycle',
      status: 'open',
      amount_paid: 0,
      amount_due: 700,
    })
    expect(failed.parent?.subscription_details?.subscription).toBe(sub.id)
    const pastDue = ofType(events, 'customer.subscription.updated')
    expect(pastDue.data.object.status).toBe('past_due')
    expect(pastDue.data.previous_attributes).toEqual({ status: 'active' })
    expect(pastDue.data.object.items.data[0]!.current_period_start).toBe(periodEnd)

    await reset()
    await standIn.recoverPayment(sub.id)
    events = await verified()
    expect(events.map((e) => e.type)).toEqual(['invoice.paid', 'customer.subscription.updated'])
    expect(ofType(events, 'invoice.paid').data.object).toMatchObject({
      id: failed.id,
      status: 'paid',
      amount_paid: 700,
    })
    expect(ofType(events, 'customer.subscription.updated').data.object.status).toBe('active')
    await expect(standIn.recoverPayment(sub.id)).rejects.toThrow(/no open invoice/)
  })

  it('renew moves the period on; cancel at period end, resume, end', async () => {
    const { sub } = await subscribe()
    const first = sub.items.data[0]!
    await standIn.renew(sub.id)
    let events = await verified()
    expect(events.map((e) => e.type)).toEqual(['invoice.paid', 'customer.subscription.updated'])
    const renewed = ofType(events, 'customer.subscription.updated').data.object.items.data[0]!
    expect(renewed.current_period_start).toBe(first.current_period_end)
    expect(renewed.current_period_end).toBeGreaterThan(first.current_period_end)
    const paid = ofType(events, 'invoice.paid').data.object
    expect(paid.billing_reason).toBe('subscription_cycle')
    expect(paid.lines.data[0]!.period).toEqual({ start: renewed.current_period_start, end: renewed.current_period_end })

    await reset()
    await standIn.setCancelAtPeriodEnd(sub.id, true)
    const updated = await stripe.subscriptions.update(sub.id, { cancel_at_period_end: false })
    expect(updated).toMatchObject({ cancel_at_period_end: false, cancel_at: null })
    events = await verified()
    expect(events.map((e) => e.type)).toEqual(['customer.subscription.updated', 'customer.subscription.updated'])
    const cancelling = events[0] as Stripe.CustomerSubscriptionUpdatedEvent
    expect(cancelling.data.object).toMatchObject({ cancel_at_period_end: true, cancel_at: renewed.current_period_end })
    expect(cancelling.data.previous_attributes).toMatchObject({ cancel_at_period_end: false, cancel_at: null })

    await reset()
    await standIn.endSubscription(sub.id)
    events = await verified()
    expect(events.map((e) => e.type)).toEqual(['customer.subscription.deleted'])
    const ended = ofType(events, 'customer.subscription.deleted').data.object
    expect(ended.status).toBe('canceled')
    expect(ended.ended_at).toEqual(expect.any(Number))
    expect(ended.canceled_at).toEqual(expect.any(Number))
    expect((await stripe.subscriptions.list({ customer: sub.customer as string })).data).toEqual([])
    expect((await stripe.subscriptions.list({ customer: sub.customer as string, status: 'all' })).data).toHaveLength(1)
    // Earlier events are snapshots: ending the subscription did not change them.
    expect(cancelling.data.object.status).toBe('active')
    expect(JSON.parse(received[0]!.payload).data.object.status).toBe('canceled')
  })

  it("lists an invoice's payments, and refunds one as a duplicate, with metadata, once per idempotency key", async () => {
    const { sub } = await subscribe('twice@example.org')
    const [invoice] = (await stripe.invoices.list({ subscription: sub.id, status: 'paid' })).data
    const payments = await stripe.invoicePayments.list({ invoice: invoice!.id!, status: 'paid' })
    expect(payments.data).toEqual([
      expect.objectContaining({
        object: 'invoice_payment',
        invoice: invoice!.id,
        amount_paid: 700,
        currency: 'eur',
        status: 'paid',
        is_default: true,
      }),
    ])
    const paymentIntent = payments.data[0]!.payment.payment_intent as string
    expect((await stripe.paymentIntents.retrieve(paymentIntent)).amount_received).toBe(700)
    expect((await stripe.invoicePayments.list({ invoice: invoice!.id!, status: 'open' })).data).toEqual([])

    const refund = () =>
      stripe.refunds.create(
        { payment_intent: paymentIntent, reason: 'duplicate', metadata: { why: 'second membership' } },
        { idempotencyKey: `refund-${paymentIntent}` },
      )
    const first = await refund()
    expect(await refund()).toEqual(first)
    expect(await stripe.refunds.retrieve(first.id)).toMatchObject({
      amount: 700,
      reason: 'duplicate',
      metadata: { why: 'second membership' },
      payment_intent: paymentIntent,
    })
    await allDelivered()
    expect((await verified()).map((e) => e.type)).toEqual(['charge.refunded'])
    await expect(stripe.refunds.create({ payment_intent: paymentIntent, reason: 'because' })).rejects.toThrow(
      /Invalid reason/,
    )
  })

  it('subscriptions.cancel through the API emits customer.subscription.deleted', async () => {
    const { sub } = await subscribe()
    const canceled = await stripe.subscriptions.cancel(sub.id)
    expect(canceled.status).toBe('canceled')
    await allDelivered()
    expect((await verified()).map((e) => e.type)).toEqual(['customer.subscription.deleted'])
  })
})

describe('events API', () => {
  it('filters by created and type, newest first, with auto-pagination', async () => {
    let clock = new Date('2026-01-31T10:00:00Z')
    const timed = await startStripeStandIn({ now: () => clock, deliver: null })
    try {
      const client = new Stripe(timed.secretKey, timed.sdkOptions)
      const t0 = Math.floor(clock.getTime() / 1000)
      const a = await client.customers.create({ name: 'a' })
      clock = new Date(clock.getTime() + 100_000)
      const b = await client.customers.create({ name: 'b' })
      clock = new Date(clock.getTime() + 100_000)
      await client.customers.update(b.id, { name: 'b2' })
      const c = await client.customers.create({ name: 'c' })

      const recent = await client.events.list({ created: { gte: t0 + 100 } })
      expect(recent.data.map((e) => e.type)).toEqual(['customer.created', 'customer.updated', 'customer.created'])
      expect(recent.data.map((e) => (e.data.object as Stripe.Customer).id)).toEqual([c.id, b.id, b.id])

      const all = await client.events.list({ limit: 1 }).autoPagingToArray({ limit: 100 })
      expect(all.map((e) => e.created)).toEqual([t0 + 200, t0 + 200, t0 + 100, t0])
      expect((all[3]!.data.object as Stripe.Customer).id).toBe(a.id)

      const created = await client.events.list({ type: 'customer.created', created: { gt: t0 } })
      expect(created.data).toHaveLength(2)
      const one = await client.events.retrieve(all[0]!.id)
      expect(one.id).toBe(all[0]!.id)
      expect(timed.events().map((e) => e.id)).toEqual([...all].reverse().map((e) => e.id))
      expect(timed.deliveries()).toEqual([])

      // Periods follow calendar months from the anchor day, clamped: Jan 31 -> Feb 28.
      const price = await client.prices.create({
        currency: 'eur',
        unit_amount: 100,
        recurring: { interval: 'month' },
        product_data: { name: 'p' },
      })
      const session = await client.checkout.sessions.create({
        mode: 'subscription',
        customer: a.id,
        line_items: [{ price: price.id, quantity: 1 }],
        success_url: 'https://x.test/ok',
      })
      clock = new Date('2026-01-31T10:00:00Z')
      await timed.completeCheckout(session.id)
      const subId = (await client.checkout.sessions.retrieve(session.id)).subscription as string
      const item = (await client.subscriptions.retrieve(subId)).items.data[0]!
      expect(new Date(item.current_period_end * 1000).toISOString()).toBe('2026-02-28T10:00:00.000Z')
      await timed.renew(subId)
      const next = (await client.subscriptions.retrieve(subId)).items.data[0]!
      expect(new Date(next.current_period_end * 1000).toISOString()).toBe('2026-03-31T10:00:00.000Z')
    } finally {
      await timed.close()
    }
  })
})

describe('errors', () => {
  it('rejects a wrong API key with 401 without echoing it', async () => {
    const wrong = new Stripe('sk_test_wrong_key_1234567890', standIn.sdkOptions)
    const err = await wrong.customers.list().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(Stripe.errors.StripeAuthenticationError)
    expect((err as Stripe.errors.StripeError).statusCode).toBe(401)
    expect((err as Stripe.errors.StripeError).message).toMatch(/^Invalid API Key provided: /)
    expect((err as Stripe.errors.StripeError).message).not.toContain('sk_test_wrong_key_1234567890')
  })

  it('answers unknown ids with resource_missing 404', async () => {
    const err = await stripe.customers.retrieve('cus_missing').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError)
    expect(err).toMatchObject({
      statusCode: 404,
      code: 'resource_missing',
      param: 'id',
      message: "No such customer: 'cus_missing'",
      raw: { type: 'invalid_request_error' },
    })
    await expect(stripe.subscriptions.retrieve('sub_nope')).rejects.toMatchObject({
      statusCode: 404,
      code: 'resource_missing',
    })
  })

  it('answers bad params with 400', async () => {
    await expect(
      stripe.checkout.sessions.create({ mode: 'subscription', line_items: [], success_url: 'https://x.test' }),
    ).rejects.toMatchObject({ statusCode: 400, type: 'StripeInvalidRequestError' })
    await expect(stripe.prices.create({ currency: 'eur', unit_amount: 5 })).rejects.toMatchObject({
      statusCode: 400,
      code: 'parameter_missing',
    })
  })
})

describe('hosted pages', () => {
  it('checkout page shows the purchase and Pay completes it, redirecting to success_url', async () => {
    const price = await monthlyPrice(450)
    const session = await stripe.checkout.sessions.create({
      mode: 'subscription',
      line_items: [{ price: price.id, quantity: 1 }],
      success_url: 'https://masthead.test/welcome?session={CHECKOUT_SESSION_ID}',
      cancel_url: 'https://masthead.test/join',
    })
    const page = await fetch(session.url!)
    expect(page.status).toBe(200)
    const html = await page.text()
    expect(html).toContain('TEST MODE — local Stripe stand-in, no real money moves')
    expect(html).toContain('Supporter')
    expect(html).toContain('€4.50 / month')
    expect(html).toContain('name="email"')
    expect(html).not.toContain('<script')

    const pay = await fetch(`${standIn.url}/checkout/${session.id}/pay`, {
      method: 'POST',
      body: new URLSearchParams({ email: 'page@example.org' }),
      redirect: 'manual',
    })
    expect(pay.status).toBe(303)
    expect(pay.headers.get('location')).toBe(`https://masthead.test/welcome?session=${session.id}`)
    const done = await stripe.checkout.sessions.retrieve(session.id)
    expect(done).toMatchObject({ status: 'complete', payment_status: 'paid' })
    expect(done.customer_details?.email).toBe('page@example.org')
    expect((await verified()).map((e) => e.type)).toContain('checkout.session.completed')
    expect(await (await fetch(session.url!)).text()).toContain('already complete')
  })

  it('donation page offers bank transfer; declined card on a subscription page shows a message', async () => {
    const donation = await stripe.checkout.sessions.create({
      mode: 'payment',
      submit_type: 'donate',
      line_items: [
        { price_data: { currency: 'eur', unit_amount: 1500, product_data: { name: 'Donation' } }, quantity: 1 },
      ],
      success_url: 'https://masthead.test/thanks',
    })
    const html = await (await fetch(donation.url!)).text()
    expect(html).toContain('Donate')
    expect(html).toContain('€15.00')
    expect(html).toContain('Bank transfer (settles later)')
    const pay = await fetch(`${standIn.url}/checkout/${donation.id}/pay`, {
      method: 'POST',
      body: new URLSearchParams({ email: 'donor@example.org', bank_transfer: '1' }),
      redirect: 'manual',
    })
    expect(pay.status).toBe(303)
    expect(pay.headers.get('location')).toBe('https://masthead.test/thanks')
    expect((await stripe.checkout.sessions.retrieve(donation.id)).payment_status).toBe('unpaid')

    const price = await monthlyPrice(300)
    const session = await stripe.checkout.sessions.create({
      mode: 'subscription',
      customer_email: 'card@example.org',
      line_items: [{ price: price.id, quantity: 1 }],
      success_url: 'https://masthead.test/ok',
    })
    await reset()
    const declined = await fetch(`${standIn.url}/checkout/${session.id}/decline`, {
      method: 'POST',
      redirect: 'manual',
    })
    expect(declined.status).toBe(303)
    const page = await (await fetch(`${standIn.url}${declined.headers.get('location')}`)).text()
    expect(page).toContain('Your card was declined')
    expect((await verified()).map((e) => e.type)).toEqual([
      'customer.created',
      'customer.subscription.created',
      'invoice.payment_failed',
    ])
  })

  it('checkout Cancel expires the session and redirects to cancel_url', async () => {
    const price = await monthlyPrice(450)
    const session = await stripe.checkout.sessions.create({
      mode: 'subscription',
      customer_email: 'c@example.org',
      line_items: [{ price: price.id, quantity: 1 }],
      success_url: 'https://masthead.test/ok',
      cancel_url: 'https://masthead.test/join',
    })
    await reset()
    const res = await fetch(`${standIn.url}/checkout/${session.id}/cancel`, { method: 'POST', redirect: 'manual' })
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe('https://masthead.test/join')
    expect((await stripe.checkout.sessions.retrieve(session.id)).status).toBe('expired')
    expect((await verified()).map((e) => e.type)).toEqual(['checkout.session.expired'])
  })

  it('portal page lists subscriptions and its cancel button works', async () => {
    const { sub } = await subscribe('portal@example.org')
    const portal = await stripe.billingPortal.sessions.create({
      customer: sub.customer as string,
      return_url: 'https://masthead.test/account',
    })
    expect(portal.url).toBe(`${standIn.url}/portal/${portal.id}`)
    expect(portal.id).toMatch(/^bps_/)
    const html = await (await fetch(portal.url)).text()
    expect(html).toContain('TEST MODE — local Stripe stand-in, no real money moves')
    for (const label of [
      'Cancel at period end',
      'Simulate failed renewal payment',
      'Simulate recovered payment',
      'Renew now',
      'End subscription now',
    ]) {
      expect(html).toContain(label)
    }
    expect(html).toContain('href="https://masthead.test/account"')

    const res = await fetch(`${standIn.url}/portal/${portal.id}/subscriptions/${sub.id}/cancel`, {
      method: 'POST',
      redirect: 'manual',
    })
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe(`/portal/${portal.id}`)
    expect((await stripe.subscriptions.retrieve(sub.id)).cancel_at_period_end).toBe(true)
    const events = await verified()
    expect(events.map((e) => e.type)).toEqual(['customer.subscription.updated'])
    expect(await (await fetch(portal.url)).text()).toContain('Resume subscription')
  })
})

describe('signatures', () => {
  it('sign() produces Stripe headers that verify, and tampering fails verification', async () => {
    const payload = JSON.stringify({ id: 'evt_test', object: 'event', type: 'customer.created', data: { object: {} } })
    const header = standIn.sign(payload)
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/)
    const event = await stripe.webhooks.constructEventAsync(payload, header, standIn.webhookSecret, undefined, crypto)
    expect(event.id).toBe('evt_test')

    const tampered = payload.replace('customer.created', 'customer.deleted')
    await expect(
      stripe.webhooks.constructEventAsync(tampered, header, standIn.webhookSecret, undefined, crypto),
    ).rejects.toBeInstanceOf(Stripe.errors.StripeSignatureVerificationError)
    await expect(
      stripe.webhooks.constructEventAsync(payload, header, 'whsec_other', undefined, crypto),
    ).rejects.toBeInstanceOf(Stripe.errors.StripeSignatureVerificationError)
    const old = standIn.sign(payload, Math.floor(Date.now() / 1000) - 3600)
    await expect(
      stripe.webhooks.constructEventAsync(payload, old, standIn.webhookSecret, undefined, crypto),
    ).rejects.toBeInstanceOf(Stripe.errors.StripeSignatureVerificationError)
  })
})

describe('delivery to a URL', () => {
  it('POSTs the signed JSON event and records receiver errors and unreachable receivers', async () => {
    const got: { headers: Record<string, string | string[] | undefined>; body: string }[] = []
    let answer = 200
    const receiver = createServer((req, res) => {
      let body = ''
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')))
      req.on('end', () => {
        got.push({ headers: req.headers, body })
        res.writeHead(answer).end()
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    const port = (receiver.address() as AddressInfo).port
    const viaUrl = await startStripeStandIn({
      deliver: `http://127.0.0.1:${port}/webhooks/stripe`,
      webhookSecret: 'whsec_url',
    })
    try {
      const client = new Stripe(viaUrl.secretKey, viaUrl.sdkOptions)
      const customer = await client.customers.create({ email: 'url@example.org' })
      await viaUrl.idle()
      answer = 400
      await viaUrl.updateCustomer(customer.id, { name: 'U' })
      expect(got).toHaveLength(2)
      expect(got[0]!.headers['content-type']).toBe('application/json; charset=utf-8')
      const event = await client.webhooks.constructEventAsync(
        got[0]!.body,
        got[0]!.headers['stripe-signature'] as string,
        'whsec_url',
        undefined,
        crypto,
      )
      expect(event).toMatchObject({ type: 'customer.created', data: { object: { id: customer.id } } })
      expect(viaUrl.deliveries().map((d) => d.status)).toEqual([200, 400])

      await new Promise<void>((resolve) => receiver.close(() => resolve()))
      receiver.closeAllConnections()
      await viaUrl.updateCustomer(customer.id, { name: 'V' })
      expect(viaUrl.deliveries().map((d) => d.status)).toEqual([200, 400, 0])
      // Still serving after a failed delivery.
      expect((await client.customers.retrieve(customer.id)) as Stripe.Customer).toMatchObject({ name: 'V' })
    } finally {
      receiver.close()
      await viaUrl.close()
    }
  })
})

describe('form parsing', () => {
  it('parses Stripe bracket notation into nested objects and arrays', () => {
    const body =
      'metadata[tier]=x&line_items[0][price_data][recurring][interval]=month&line_items[0][quantity]=2' +
      '&line_items[1][price]=price_1&expand[]=a&expand[]=b.c&lookup_keys[0]=k0&lookup_keys[1]=k1&email=a%2Bb%40x.org'
    expect(parseForm(body)).toEqual({
      metadata: { tier: 'x' },
      line_items: [{ price_data: { recurring: { interval: 'month' } }, quantity: '2' }, { price: 'price_1' }],
      expand: ['a', 'b.c'],
      lookup_keys: ['k0', 'k1'],
      email: 'a+b@x.org',
    })
    expect(parseForm('expand[0]=x', 'created[gte]=5')).toEqual({ expand: ['x'], created: { gte: '5' } })
    expect(() => parseForm('metadata=x&metadata[a]=b')).toThrow(/Invalid nesting/)
  })
})
