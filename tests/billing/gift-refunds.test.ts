import { eq } from 'drizzle-orm'
import type Stripe from 'stripe'
import { describe, expect, it } from 'vitest'
import { findUserByEmail } from '../../src/accounts/users'
import { endRefundedGift } from '../../src/billing/gifts/gifts'
import { gifts, grants, payments } from '../../src/db/schema'
import { runDueJobs } from '../helpers/app'
import { nextClientIp, signIn } from '../helpers/auth'
import { sessionIdOf, useBillingWorld } from '../helpers/billing'

/**
 * A gift membership's payment refunded in full ends the gift (charge.refunded,
 * src/billing/webhooks/events/customers.ts and gifts.ts): not delivered if it was not yet, not
 * redeemable if its link is out, its grant revoked if it was redeemed; idempotently, and whichever
 * of the checkout's and the refund's events comes first. Events are delivered by hand, in order.
 */
const w = useBillingWorld({ env: { SIGN_IN_LIMIT: '50' } })

interface Mail {
  to: string
  subject: string
  text: string
}

async function mailsTo(email: string): Promise<Mail[]> {
  const res = await w.t.app.request(`/dev/mailbox.json?to=${encodeURIComponent(email)}`)
  return ((await res.json()) as { messages: Mail[] }).messages.filter((m) => m.to === email)
}

const db = () => w.t.services.db
const giftOf = async (id: string) => (await db().select().from(gifts).where(eq(gifts.id, id)))[0]!

/** A signed-out gift bought through the app and paid in the stand-in (its events recorded, not delivered). */
async function paidGift(recipient: string, giver: string, deliverOn: string) {
  const res = await w.t.app.request('/billing/gift', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'CF-Connecting-IP': nextClientIp() },
    body: JSON.stringify({
      tier: 'reader',
      months: 3,
      recipient_email: recipient,
      deliver_on: deliverOn,
      message: 'Enjoy',
      email: giver,
    }),
  })
  expect(res.status).toBe(200)
  const { url, giftId } = (await res.json()) as { url: string; giftId: string }
  const sessionId = sessionIdOf(url)
  await w.standIn.completeCheckout(sessionId)
  const session = await w.stripe.checkout.sessions.retrieve(sessionId)
  return { giftId, sessionId, paymentIntent: session.payment_intent as string }
}

const completedEvent = (sessionId: string) =>
  w.standIn
    .events()
    .find((e) => e.type === 'checkout.session.completed' && (e.data.object as { id: string }).id === sessionId)!

/** The latest charge.refunded event for a PaymentIntent. */
const refundedEvent = (paymentIntent: string) =>
  w.standIn
    .events()
    .filter((e) => e.type === 'charge.refunded' && (e.data.object as Stripe.Charge).payment_intent === paymentIntent)
    .at(-1)!

async function deliver(event: Stripe.Event) {
  expect(event).toBeDefined()
  const res = await w.deliver(event)
  expect(res.status).toBe(200)
}

const ended = {
  recipientEmail: null,
  recipientEmailIndex: null,
  giverEmail: null,
  message: null,
  tokenHash: null,
}

describe('refunding a gift membership', () => {
  it('in full before its day: the gift is never delivered, the refund is in the ledger', async () => {
    const g = await paidGift('early.refund@gifts.example', 'giver.one@gifts.example', '2026-12-01')
    await deliver(completedEvent(g.sessionId))
    expect((await giftOf(g.giftId)).paidAt).not.toBeNull()
    expect(await mailsTo('giver.one@gifts.example')).toHaveLength(1) // the receipt

    await w.standIn.refund(g.paymentIntent)
    await deliver(refundedEvent(g.paymentIntent))
    expect(await giftOf(g.giftId)).toMatchObject({ ...ended, deliveredAt: null, redeemedAt: null })
    const ledger = await db().select().from(payments).where(eq(payments.paymentIntentId, g.paymentIntent))
    expect(ledger.map((p) => [p.kind, p.amount]).sort()).toEqual([
      ['gift', 1500],
      ['refund', -1500],
    ])

    // Delivered again, the refund changes nothing.
    const before = { gift: await giftOf(g.giftId), ledger: await w.snapshot() }
    await deliver(refundedEvent(g.paymentIntent))
    expect({ gift: await giftOf(g.giftId), ledger: await w.snapshot() }).toEqual(before)

    w.clock.set('2026-12-01T00:00:05Z')
    await runDueJobs(w.t)
    expect(await mailsTo('early.refund@gifts.example')).toEqual([])
    expect((await giftOf(g.giftId)).deliveredAt).toBeNull()
  })

  it('with the refund coming before the checkout’s event: no delivery, no receipt', async () => {
    const g = await paidGift('out.of.order@gifts.example', 'giver.two@gifts.example', '2026-12-02')
    await w.standIn.refund(g.paymentIntent)
    await deliver(refundedEvent(g.paymentIntent))
    expect(await giftOf(g.giftId)).toMatchObject({ ...ended, paidAt: null })
    await deliver(completedEvent(g.sessionId))
    const paid = await giftOf(g.giftId)
    expect(paid).toMatchObject(ended)
    expect(paid.paidAt).not.toBeNull() // it was paid; the ledger holds the payment and its refund
    const ledger = await db().select().from(payments).where(eq(payments.paymentIntentId, g.paymentIntent))
    expect(ledger.map((p) => p.amount).sort((a, b) => a - b)).toEqual([-1500, 1500])
    expect(await mailsTo('giver.two@gifts.example')).toEqual([])
    w.clock.set('2026-12-02T00:00:05Z')
    await runDueJobs(w.t)
    expect(await mailsTo('out.of.order@gifts.example')).toEqual([])
  })

  it('shows as refunded in the list of gifts the giver has given', async () => {
    const cookie = await signIn(w.t.app, 'giver.list@gifts.example')
    const res = await w.t.app.request('/billing/gift', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'CF-Connecting-IP': nextClientIp(), Cookie: cookie },
      body: JSON.stringify({
        tier: 'reader',
        months: 3,
        recipient_email: 'listed@gifts.example',
        deliver_on: '2026-12-20',
      }),
    })
    expect(res.status).toBe(200)
    const sessionId = sessionIdOf(((await res.json()) as { url: string }).url)
    await w.standIn.completeCheckout(sessionId)
    await deliver(completedEvent(sessionId))
    const listed = async () => (await w.t.app.request('/gift', { headers: { Cookie: cookie } })).text()
    expect(await listed()).toContain('Paid: it will be e-mailed on the day')
    const paymentIntent = (await w.stripe.checkout.sessions.retrieve(sessionId)).payment_intent as string
    await w.standIn.refund(paymentIntent)
    await deliver(refundedEvent(paymentIntent))
    const page = await listed()
    expect(page).toContain('Refunded: it has ended, or will not be sent')
    expect(page).not.toContain('Paid: it will be e-mailed on the day')
  })

  it('in part, leaves the gift; the rest refunded later ends it', async () => {
    const g = await paidGift('partial@gifts.example', 'giver.three@gifts.example', '2026-12-20')
    await deliver(completedEvent(g.sessionId))
    await w.standIn.refund(g.paymentIntent, 500)
    await deliver(refundedEvent(g.paymentIntent))
    const kept = await giftOf(g.giftId)
    expect(kept.recipientEmail).toMatch(/^v1\./)
    expect(kept.giverEmail).toMatch(/^v1\./)
    await w.standIn.refund(g.paymentIntent)
    await deliver(refundedEvent(g.paymentIntent))
    expect(await giftOf(g.giftId)).toMatchObject(ended)
  })

  it('once redeemed, revokes its grant: the membership ends', async () => {
    const recipient = 'redeemed@gifts.example'
    const today = w.clock.now().toISOString().slice(0, 10)
    const g = await paidGift(recipient, 'giver.four@gifts.example', today)
    await deliver(completedEvent(g.sessionId))
    await runDueJobs(w.t)
    const token = (await mailsTo(recipient))[0]?.text.match(/\/gift\/redeem\?token=([\w-]+)/)?.[1]
    expect(token).toBeTruthy()
    const redeemed = await w.t.app.request('/gift/redeem', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: token! }),
    })
    expect(redeemed.status).toBe(303)
    const cookie = redeemed.headers.get('set-cookie')!.split(';')[0]!
    const entitled = async () =>
      (
        (await (await w.t.app.request('/api/entitlements', { headers: { Cookie: cookie } })).json()) as {
          membership: { entitled: boolean }
        }
      ).membership.entitled
    expect(await entitled()).toBe(true)

    await w.standIn.refund(g.paymentIntent)
    await deliver(refundedEvent(g.paymentIntent))
    const user = (await findUserByEmail(db(), await w.t.services.keyring, recipient))!
    const [grant] = await db().select().from(grants).where(eq(grants.userId, user.id))
    expect(grant!.revokedAt?.toISOString()).toBe(w.clock.now().toISOString())
    expect(await entitled()).toBe(false)
    expect((await giftOf(g.giftId)).grantId).toBe(grant!.id)

    // The handler's finish (endRefundedGift) ends a grant the statement could not see: one made by a
    // redemption that committed while the refund's statement ran. Here, a grant left running as that race would.
    await db().update(grants).set({ revokedAt: null }).where(eq(grants.id, grant!.id))
    await endRefundedGift(db(), g.giftId, 'pi_someone_else', w.clock.now())
    expect((await db().select().from(grants).where(eq(grants.id, grant!.id)))[0]!.revokedAt).toBeNull()
    await endRefundedGift(db(), g.giftId, g.paymentIntent, w.clock.now())
    const revoked = (await db().select().from(grants).where(eq(grants.id, grant!.id)))[0]!
    expect(revoked.revokedAt).not.toBeNull()
    await endRefundedGift(db(), g.giftId, g.paymentIntent, new Date(w.clock.now().getTime() + 60_000))
    expect((await db().select().from(grants).where(eq(grants.id, grant!.id)))[0]).toEqual(revoked)
  })
})
