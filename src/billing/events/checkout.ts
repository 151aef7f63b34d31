import { sql } from 'drizzle-orm'
import type Stripe from 'stripe'
import type { Database } from '../../db/client'
import { payments } from '../../db/schema'
import { isMastheads } from '../stripe'
import { handler, idOf, int, text, ts, whenStored, type EventContext, type Write } from './context'
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
 * recorded once the session is paid, never before. The session is taken from
 * the signed event: each of these events carries the session as it was when
 * that step completed, and nothing later changes what it says was paid.
 */
export const checkoutPaid = (db: Database) =>
  handler<PreparedCheckout>({
    async prepare(ctx, event) {
      const session = event.data.object as Stripe.Checkout.Session
      if (!isMastheads(session.metadata)) return null
      const subscriptionId = idOf(session.subscription)
      const fetched = subscriptionId ? await fetchSubscription(ctx, db, subscriptionId) : null
      if (session.mode === 'subscription' && !fetched) return null
      const customerId = idOf(session.customer)
      const customer = !fetched && customerId ? await ctx.stripe.customers.retrieve(customerId) : null
      return { session, fetched, customer }
    },
    writes(ctx, _event, { session, fetched, customer }) {
      const customerId = idOf(session.customer)
      return [
        ...(customerId
          ? linkCustomer(ctx, customerId, {
              userId: session.client_reference_id,
              customer: fetched?.customer ?? customer,
            })
          : []),
        ...(fetched ? storeSubscription(ctx, fetched) : []),
        ...(session.mode === 'payment' && session.payment_status === 'paid' ? recordDonation(ctx, session) : []),
      ]
    },
  })

function recordDonation(ctx: EventContext, session: Stripe.Checkout.Session): Write[] {
  const paymentIntentId = idOf(session.payment_intent)
  if (!paymentIntentId || !session.amount_total || !session.currency) return []
  return [
    {
      name: 'donation',
      query: sql`insert into ${payments} (id, kind, customer_id, payment_intent_id, amount, currency, occurred_at)
        select ${text(paymentIntentId)}, 'donation', ${text(idOf(session.customer))}, ${text(paymentIntentId)},
          ${int(session.amount_total)}, ${text(session.currency)}, ${ts(ctx.now)}
        where ${whenStored}
        on conflict do nothing`,
    },
  ]
}

/** checkout.session.async_payment_failed: nothing was paid, so nothing is granted; the event is only recorded. */
export const checkoutPaymentFailed = handler<true>({ prepare: async () => true, writes: () => [] })
