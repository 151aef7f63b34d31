import fc from 'fast-check'
import { eq } from 'drizzle-orm'
import type Stripe from 'stripe'
import { describe, expect, it } from 'vitest'
import { payments } from '../../src/db/schema'
import { lastMailTo, nextClientIp, signIn } from '../helpers/auth'
import { sessionIdOf, startTierCheckout, useBillingWorld } from '../helpers/billing'

/**
 * Donation receipts (src/billing/statements/receipts.ts): one e-mail per one-time donation, however
 * Stripe's deliveries come. Events are only recorded by the stand-in; each test delivers them.
 */
const w = useBillingWorld({
  env: { ORG_LEGAL_NAME: 'The Ledger Foundation, Inc.', ORG_TAX_ID: 'EIN 12-3456789' },
})

const SUBJECT = /^Your receipt: /

async function deliverAll(events: Stripe.Event[]) {
  for (const event of events) expect((await w.deliver(event)).status).toBe(200)
}

/** Receipts in the mailbox for an address. */
async function receiptsTo(email: string) {
  const res = await w.t.app.request(`/dev/mailbox.json?to=${encodeURIComponent(email)}`)
  const { messages } = (await res.json()) as { messages: { to: string; subject: string; text: string }[] }
  return messages.filter((m) => SUBJECT.test(m.subject))
}

/** A donation through the app (signed in when `cookie` is given); the events it caused, not yet delivered. */
async function donation(
  amount: number,
  currency: string,
  options: { cookie?: string; email?: string; asyncPayment?: boolean; keep?: boolean } = {},
) {
  const res = await w.t.app.request('/billing/donate', {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'CF-Connecting-IP': nextClientIp(),
      ...(options.cookie ? { Cookie: options.cookie } : {}),
    },
    body: JSON.stringify({
      amount,
      currency,
      ...(options.email ? { email: options.email } : {}),
      ...(options.keep ? { keep_for_statements: true } : {}),
    }),
  })
  expect(res.status).toBe(200)
  const sessionId = sessionIdOf(((await res.json()) as { url: string }).url)
  const start = w.standIn.events().length
  await w.standIn.completeCheckout(sessionId, {
    ...(options.email ? { email: options.email } : {}),
    ...(options.asyncPayment ? { asyncPayment: true } : {}),
  })
  if (options.asyncPayment) await w.standIn.settleAsyncPayment(sessionId, true)
  const paymentIntent = (await w.stripe.checkout.sessions.retrieve(sessionId)).payment_intent as string
  return { events: w.standIn.events().slice(start), paymentIntent }
}

describe('donation receipts', () => {
  it('are sent once however the deliveries are shuffled and repeated', async () => {
    const email = 'receipt-once@example.org'
    const cookie = await signIn(w.t.app, email)
    const { events, paymentIntent } = await donation(2500, 'usd', { cookie })
    expect(events.map((e) => e.type)).toContain('checkout.session.completed')
    await fc.assert(
      fc.asyncProperty(
        fc.shuffledSubarray(events, { minLength: events.length }),
        fc.array(fc.nat({ max: events.length - 1 }), { minLength: 1, maxLength: 4 }),
        async (order, repeats) => {
          await w.reset()
          const before = (await receiptsTo(email)).length
          await deliverAll([...order, ...repeats.map((i) => events[i]!)])
          expect((await receiptsTo(email)).length).toBe(before + 1)
          const [row] = await w.t.services.db.select().from(payments).where(eq(payments.id, paymentIntent))
          expect(row?.receiptSentAt).toEqual(w.clock.now())
        },
      ),
      { numRuns: 10 },
    )
    const [receipt] = await receiptsTo(email)
    expect(receipt!.subject).toBe('Your receipt: $25.00 to The Ledger Foundation, Inc.')
    for (const text of [
      'Thank you for your donation of $25.00 to The Ledger Foundation, Inc.',
      'Date: 2026-11-25',
      `Receipt number: ${paymentIntent}`,
      'Tax id: EIN 12-3456789',
      'No goods or services were provided in exchange for these contributions.',
      'http://localhost:8787/account/statements',
    ]) {
      expect(receipt!.text).toContain(text)
    }
  })

  it('wait for an asynchronous payment to succeed, then go out once, whichever event comes first', async () => {
    const email = 'receipt-async@example.org'
    const cookie = await signIn(w.t.app, email)
    const { events } = await donation(4000, 'eur', { cookie, asyncPayment: true })
    const types = events.map((e) => e.type)
    expect(types).toEqual(
      expect.arrayContaining(['checkout.session.completed', 'checkout.session.async_payment_succeeded']),
    )
    const completed = events.filter((e) => e.type === 'checkout.session.completed')
    await w.reset()
    await deliverAll(completed)
    expect(await receiptsTo(email)).toEqual([]) // not paid yet: nothing recorded, nothing to claim
    await deliverAll([...events].reverse())
    await deliverAll(events)
    const receipts = await receiptsTo(email)
    expect(receipts).toHaveLength(1)
    expect(receipts[0]!.subject).toBe('Your receipt: €40.00 to The Ledger Foundation, Inc.')
  })

  it('go to the address given at checkout when the donor is signed out', async () => {
    const email = 'receipt-signed-out@example.org'
    const { events } = await donation(1500, 'gbp', { email })
    await w.reset()
    await deliverAll([...events, ...events])
    const receipts = await receiptsTo(email)
    expect(receipts).toHaveLength(1)
    expect(receipts[0]!.subject).toBe('Your receipt: £15.00 to The Ledger Foundation, Inc.')
  })

  it("put a signed-out donor's gift on their year-end statement when they ask: Stripe makes a customer, linked by address", async () => {
    const email = 'statement-signed-out@example.org'
    const { events, paymentIntent } = await donation(2200, 'usd', { email, keep: true })
    await deliverAll(events)
    const [row] = await w.t.services.db.select().from(payments).where(eq(payments.paymentIntentId, paymentIntent))
    expect(row?.customerId).toMatch(/^cus_/)
    const cookie = await signIn(w.t.app, email)
    const year = w.t.services.clock.now().getUTCFullYear()
    const res = await w.t.app.request(`/api/account/statements/${year}`, { headers: { Cookie: cookie } })
    expect(res.status).toBe(200)
    const body = JSON.stringify(await res.json())
    expect(body).toContain(paymentIntent)
    expect(body).toContain('2200')
  })

  it('are not sent for a membership, which is no one-time donation', async () => {
    const email = 'receipt-member@example.org'
    const cookie = await signIn(w.t.app, email)
    const start = w.standIn.events().length
    await w.standIn.completeCheckout(await startTierCheckout(w, cookie, 'reader', 'month'))
    await deliverAll(w.standIn.events().slice(start))
    expect(await receiptsTo(email)).toEqual([])
    expect((await lastMailTo(w.t.app, email)).count).toBeGreaterThan(0) // the sign-in link did arrive
  })
})
