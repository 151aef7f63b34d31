import { eq, sql } from 'drizzle-orm'
import type Stripe from 'stripe'
import type { Database } from '../../db/client'
import { payments, stripeCustomers } from '../../db/schema'
import { isMastheads } from '../stripe'
import { handler, idOf } from './context'

/**
 * customer.deleted: the customer no longer links to the account. Masthead
 * keeps no copy of Stripe's customer fields (the account's e-mail is the
 * sign-in identity and is never overwritten from Stripe), so customer.updated
 * changes nothing and is only recorded.
 */
export const customerDeleted = handler<string>({
  prepare: async (_ctx, event) => (event.data.object as Stripe.Customer).id,
  async apply(tx, _ctx, _event, customerId) {
    await tx.delete(stripeCustomers).where(eq(stripeCustomers.customerId, customerId))
  },
})

export const customerUpdated = handler<true>({ prepare: async () => true, apply: async () => {} })

interface PreparedRefund {
  charge: Stripe.Charge
  paymentIntentIsOurs: boolean
}

/**
 * charge.refunded: a refund entry in the ledger, keyed by the charge, holding
 * the cumulative amount refunded so far (events may arrive in any order).
 * Only charges of Masthead's payments count.
 */
export const chargeRefunded = (db: Database) =>
  handler<PreparedRefund>({
    async prepare(ctx, event) {
      const charge = await ctx.stripe.charges.retrieve((event.data.object as Stripe.Charge).id)
      const paymentIntentId = idOf(charge.payment_intent)
      const paymentIntent = paymentIntentId ? await ctx.stripe.paymentIntents.retrieve(paymentIntentId) : null
      return { charge, paymentIntentIsOurs: isMastheads(paymentIntent?.metadata) }
    },
    async apply(tx, ctx, _event, { charge, paymentIntentIsOurs }) {
      const paymentIntentId = idOf(charge.payment_intent)
      const customerId = idOf(charge.customer)
      const known = paymentIntentId
        ? await tx.select({ id: payments.id }).from(payments).where(eq(payments.paymentIntentId, paymentIntentId))
        : []
      const member = customerId
        ? await tx.select().from(stripeCustomers).where(eq(stripeCustomers.customerId, customerId))
        : []
      if (!paymentIntentIsOurs && known.length === 0 && member.length === 0) return
      if (charge.amount_refunded <= 0) return
      await tx
        .insert(payments)
        .values({
          id: `refund:${charge.id}`,
          kind: 'refund',
          customerId,
          paymentIntentId,
          amount: -charge.amount_refunded,
          currency: charge.currency,
          occurredAt: ctx.now,
        })
        .onConflictDoUpdate({ target: payments.id, set: { amount: sql`least(${payments.amount}, excluded.amount)` } })
    },
  })
