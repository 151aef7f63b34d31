import { sql } from 'drizzle-orm'
import type Stripe from 'stripe'
import { payments, stripeCustomers } from '../../../db/schema'
import { isMastheads } from '../../stripe'
import { bool, handler, idOf, int, text, ts, whenStored, type Write } from './context'
import { giftRefundWrites, isFullyRefunded } from './gifts'
import { endRefundedGift } from '../../gifts/gifts'

/**
 * customer.deleted: the customer no longer links to the account. Masthead
 * keeps no copy of Stripe's customer fields (the account's e-mail is the
 * sign-in identity and is never overwritten from Stripe), so customer.updated
 * changes nothing and is only recorded.
 */
export const customerDeleted = handler<string>({
  prepare: async (_ctx, event) => (event.data.object as Stripe.Customer).id,
  writes: (_ctx, _event, customerId) => [
    {
      name: 'unlink',
      query: sql`delete from ${stripeCustomers} where customer_id = ${text(customerId)} and ${whenStored}`,
    },
  ],
})

export const customerUpdated = handler<true>({ prepare: async () => true, writes: () => [] })

interface PreparedRefund {
  charge: Stripe.Charge
  paymentIntentIsOurs: boolean
  /** The gift membership the payment bought (the PaymentIntent's metadata says so), if any. */
  giftId: string | null
}

/**
 * charge.refunded: a refund entry in the ledger, keyed by the charge, holding
 * the cumulative amount refunded so far (events may arrive in any order).
 * Only charges of Masthead's payments count: a payment Masthead marked, one
 * already in the ledger, or one by a customer linked to an account. A gift
 * membership's payment refunded in full ends the gift (gifts.ts, giftRefundWrites).
 */
export const chargeRefunded = handler<PreparedRefund>({
  asksStripe: true,
  async prepare(ctx, event) {
    const charge = await ctx.stripe.charges.retrieve((event.data.object as Stripe.Charge).id)
    const paymentIntentId = idOf(charge.payment_intent)
    const paymentIntent = paymentIntentId ? await ctx.stripe.paymentIntents.retrieve(paymentIntentId) : null
    const ours = isMastheads(paymentIntent?.metadata)
    const giftId = ours && paymentIntent?.metadata.kind === 'gift' ? (paymentIntent.metadata.gift_id ?? null) : null
    return { charge, paymentIntentIsOurs: ours, giftId }
  },
  writes(ctx, _event, { charge, paymentIntentIsOurs, giftId }) {
    if (charge.amount_refunded <= 0) return []
    const paymentIntentId = text(idOf(charge.payment_intent))
    const customerId = text(idOf(charge.customer))
    const gift: Write[] = giftId && isFullyRefunded(charge) ? giftRefundWrites(ctx, giftId, charge) : []
    return [
      ...gift,
      {
        name: 'refund',
        query: sql`insert into ${payments} (id, kind, customer_id, payment_intent_id, amount, currency, occurred_at)
          select ${text(`refund:${charge.id}`)}, 'refund', ${customerId}, ${paymentIntentId},
            ${int(-charge.amount_refunded)}, ${text(charge.currency)}, ${ts(ctx.now)}
          where ${whenStored} and (${bool(paymentIntentIsOurs)}
            or exists (select 1 from ${payments} where payment_intent_id = ${paymentIntentId})
            or exists (select 1 from ${stripeCustomers} where customer_id = ${customerId}))
          on conflict (id) do update set amount = least(${payments}.amount, excluded.amount)`,
      },
    ]
  },
  // Again, in a transaction of its own: a redemption that committed while the statement ran (the
  // statement cannot see the grant it made) is ended too. Idempotent.
  async finish(ctx, _event, { charge, giftId }) {
    if (giftId && isFullyRefunded(charge)) await endRefundedGift(ctx.db, giftId, idOf(charge.payment_intent), ctx.now)
  },
})
