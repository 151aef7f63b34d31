import type Stripe from 'stripe'
import type { Database } from '../../db/client'
import { payments } from '../../db/schema'
import { isMastheads } from '../stripe'
import { handler, idOf, type EventContext } from './context'
import { fetchSubscription, linkCustomer, storeSubscription, type FetchedSubscription } from './subscription-sync'

interface PreparedCheckout {
  session: Stripe.Checkout.Session
  fetched: FetchedSubscription | null
  customer: Stripe.Customer | Stripe.DeletedCustomer | null
}

/**
 * checkout.session.completed and .async_payment_succeeded. A subscription
 * checkout links the customer to the account (creating the account for a
 * signed-out reader) and stores the subscription; a one-time donation is
 * recorded once the session is paid, never before.
 */
export const checkoutPaid = (db: Database) =>
  handler<PreparedCheckout>({
    async prepare(ctx, event) {
      const session = await ctx.stripe.checkout.sessions.retrieve((event.data.object as Stripe.Checkout.Session).id)
      if (!isMastheads(session.metadata)) return null
      const subscriptionId = idOf(session.subscription)
      const fetched = subscriptionId ? await fetchSubscription(ctx, db, subscriptionId) : null
      if (session.mode === 'subscription' && !fetched) return null
      const customerId = idOf(session.customer)
      const customer = !fetched && customerId ? await ctx.stripe.customers.retrieve(customerId) : null
      return { session, fetched, customer }
    },
    async apply(tx, ctx, _event, { session, fetched, customer }) {
      const customerId = idOf(session.customer)
      if (customerId) {
        await linkCustomer(tx, ctx, customerId, {
          userId: session.client_reference_id,
          customer: fetched?.customer ?? customer,
        })
      }
      if (fetched) await storeSubscription(tx, ctx, fetched)
      if (session.mode === 'payment' && session.payment_status === 'paid') await recordDonation(tx, ctx, session)
    },
  })

async function recordDonation(tx: Database, ctx: EventContext, session: Stripe.Checkout.Session) {
  const paymentIntentId = idOf(session.payment_intent)
  if (!paymentIntentId || !session.amount_total || !session.currency) return
  await tx
    .insert(payments)
    .values({
      id: paymentIntentId,
      kind: 'donation',
      customerId: idOf(session.customer),
      paymentIntentId,
      amount: session.amount_total,
      currency: session.currency,
      occurredAt: ctx.now,
    })
    .onConflictDoNothing()
}

/** checkout.session.async_payment_failed: nothing was paid, so nothing is granted; the event is only recorded. */
export const checkoutPaymentFailed = handler<true>({
  prepare: async () => true,
  apply: async () => {},
})
