import { and, eq, isNotNull, isNull, sql } from 'drizzle-orm'
import type Stripe from 'stripe'
import { gifts, grants, jobs, payments, tiers } from '../../../db/schema'
import { log } from '../../../http/log'
import { decrypt } from '../../../privacy/cipher'
import { randomId } from '../../../util/random'
import { GIFT_CONTEXT } from '../../gifts/gifts'
import { giftReceiptMessage } from '../../gifts/mails'
import { isMastheads } from '../../stripe'
import { handler, idOf, int, text, ts, whenStored, type EventContext, type EventHandler, type Write } from './context'
import { linkToAccount } from './link-customer'

/**
 * Checkout Sessions for gift memberships (src/billing/gifts), told apart by their metadata
 * (`kind: 'gift'`, `gift_id`): paid, the gift is marked paid, the payment goes into the ledger
 * (kind 'gift', the giver's), and its delivery job is queued for the chosen day, all in the
 * event's one statement; the giver's receipt goes out once, after it. A session that expired or
 * whose delayed payment failed takes its unpaid gift (and the addresses it held) with it.
 */
const isGiftCheckout = (session: Stripe.Checkout.Session) =>
  isMastheads(session.metadata) && session.metadata?.kind === 'gift' && !!session.metadata.gift_id

const sessionOf = (event: Stripe.Event) => event.data.object as Stripe.Checkout.Session

const giftIdOf = (session: Stripe.Checkout.Session) => session.metadata!.gift_id!

/** checkout.session.completed and .async_payment_succeeded for a gift. */
export const giftCheckoutPaid = handler<Stripe.Checkout.Session>({
  prepare: async (_ctx, event) => (isGiftCheckout(sessionOf(event)) ? sessionOf(event) : null),
  writes(ctx, _event, session) {
    if (session.payment_status !== 'paid') return []
    const paymentIntentId = idOf(session.payment_intent)
    const customerId = idOf(session.customer)
    const now = ts(ctx.now)
    const writes: Write[] = [
      // A signed-in giver's customer (Checkout was opened with it) is theirs.
      ...(customerId && session.client_reference_id ? linkToAccount(ctx, customerId, session.client_reference_id) : []),
      {
        name: 'gift_paid',
        query: sql`update ${gifts} set paid_at = ${now}, payment_intent_id = ${text(paymentIntentId)}, updated_at = ${now}
          where id = ${text(giftIdOf(session))} and checkout_session_id = ${text(session.id)} and paid_at is null
            and ${whenStored}
          returning id, deliver_at`,
      },
      {
        name: 'gift_delivery_job',
        query: sql`insert into ${jobs} (id, kind, key, state, payload, progress, run_at, created_at, updated_at)
          select ${text(randomId())}, 'gift_delivery', gift_paid.id, 'queued', jsonb_build_object('giftId', gift_paid.id),
            '{}'::jsonb, gift_paid.deliver_at, ${now}, ${now}
          from gift_paid
          on conflict do nothing`,
      },
    ]
    if (paymentIntentId && session.amount_total && session.currency) {
      writes.push({
        name: 'gift_payment',
        query: sql`insert into ${payments} (id, kind, customer_id, payment_intent_id, amount, currency, occurred_at)
          select ${text(paymentIntentId)}, 'gift', ${text(customerId)}, ${text(paymentIntentId)},
            ${int(session.amount_total)}, ${text(session.currency)}, ${now}
          where ${whenStored}
          on conflict do nothing`,
      })
    }
    return writes
  },
  async after(ctx, event, session) {
    if (session.payment_status !== 'paid') return
    return { mail: await receipt(ctx, event, giftIdOf(session)) }
  },
})

/** The giver's receipt, claimed once (receipt_sent_at), whichever delivery of whichever event gets there first. */
async function receipt(ctx: EventContext, event: Stripe.Event, giftId: string) {
  const [gift] = await ctx.db
    .update(gifts)
    .set({ receiptSentAt: ctx.now })
    .where(and(eq(gifts.id, giftId), isNotNull(gifts.paidAt), isNull(gifts.receiptSentAt)))
    .returning()
  if (!gift) {
    // Paid for a gift Masthead no longer has (deleted unpaid long ago): the payment is in the ledger.
    log('warn', 'gift_paid_unknown', { stripeEvent: event.id })
    return []
  }
  if (!gift.giverEmail || !gift.recipientEmail) return []
  const [giver, recipient, tier] = await Promise.all([
    decrypt(ctx.keyring, gift.giverEmail, GIFT_CONTEXT.giver),
    decrypt(ctx.keyring, gift.recipientEmail, GIFT_CONTEXT.recipient),
    gift.tierId ? ctx.db.select({ name: tiers.name }).from(tiers).where(eq(tiers.id, gift.tierId)) : [],
  ])
  return [
    giftReceiptMessage(giver, ctx.config.PUBLICATION_NAME, {
      tierName: tier[0]?.name ?? null,
      months: gift.months,
      amount: gift.amount,
      currency: gift.currency,
      deliverAt: gift.deliverAt,
      to: recipient,
    }),
  ]
}

/** checkout.session.expired and .async_payment_failed for a gift: nothing was paid, so the gift goes. */
export const giftCheckoutUnpaid = handler<Stripe.Checkout.Session>({
  prepare: async (_ctx, event) => (isGiftCheckout(sessionOf(event)) ? sessionOf(event) : null),
  writes: (_ctx, _event, session) => [
    {
      name: 'gift_dropped',
      query: sql`delete from ${gifts}
        where id = ${text(giftIdOf(session))} and checkout_session_id = ${text(session.id)} and paid_at is null
          and ${whenStored}`,
    },
  ],
})

/** Every cent of the charge given back (charge.refunded carries the running total). */
export const isFullyRefunded = (charge: Stripe.Charge) => charge.amount > 0 && charge.amount_refunded >= charge.amount

/**
 * charge.refunded for a gift's payment, refunded in full (customers.ts, chargeRefunded): the gift
 * ends, whatever its state and whatever order the events come in. Its personal data and its link's
 * token are erased, so a gift not yet delivered is never delivered (its delivery job, and a
 * checkout.session.completed coming after the refund, find no recipient: no mail, no receipt)
 * and one delivered cannot be redeemed; the grant of one already redeemed is revoked (ended now,
 * or never started if it was waiting for a paid period to end). The row stays, as the ledger's
 * gift payment and its refund do. A partial refund changes nothing here.
 */
export function giftRefundWrites(ctx: EventContext, giftId: string, charge: Stripe.Charge): Write[] {
  const now = ts(ctx.now)
  const paymentIntentId = text(idOf(charge.payment_intent))
  return [
    {
      name: 'gift_refunded',
      query: sql`update ${gifts} set recipient_email = null, recipient_email_index = null, giver_email = null,
          message = null, token_hash = null, updated_at = ${now}
        where id = ${text(giftId)} and (payment_intent_id is null or payment_intent_id = ${paymentIntentId})
          and ${whenStored}
        returning grant_id`,
    },
    {
      name: 'gift_refunded_grant',
      query: sql`update ${grants} set revoked_at = ${now}, updated_at = ${now}
        where id in (select grant_id from gift_refunded) and revoked_at is null and ${whenStored}`,
    },
  ]
}

type Routed = { gift: unknown } | { other: unknown }

/**
 * A Checkout event's handler that sends gift sessions to `gift` and every other session to
 * `other`, unchanged (the join page's checkouts and donations: checkout.ts).
 */
export function giftCheckoutsTo(gift: EventHandler, other: EventHandler): EventHandler {
  const isGift = (p: Routed): p is { gift: unknown } => 'gift' in p
  return handler<Routed>({
    ...(other.asksStripe ? { asksStripe: true } : {}),
    async prepare(ctx, event) {
      if (isGiftCheckout(sessionOf(event))) {
        const prepared = await gift.prepare(ctx, event)
        return prepared === null ? null : { gift: prepared }
      }
      const prepared = await other.prepare(ctx, event)
      return prepared === null ? null : { other: prepared }
    },
    writes: (ctx, event, p) => (isGift(p) ? gift.writes(ctx, event, p.gift) : other.writes(ctx, event, p.other)),
    async settle(ctx, event, p) {
      const h = isGift(p) ? gift : other
      const inner = isGift(p) ? p.gift : p.other
      const settled = h.settle ? await h.settle(ctx, event, inner) : inner
      return settled === null ? null : isGift(p) ? { gift: settled } : { other: settled }
    },
    after: async (ctx, event, p) => (isGift(p) ? gift.after?.(ctx, event, p.gift) : other.after?.(ctx, event, p.other)),
    finish: async (ctx, event, p, stored) =>
      isGift(p) ? gift.finish?.(ctx, event, p.gift, stored) : other.finish?.(ctx, event, p.other, stored),
  })
}
