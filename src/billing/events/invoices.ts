import { sql } from 'drizzle-orm'
import type Stripe from 'stripe'
import { rowsOf, type Database } from '../../db/client'
import { payments, stripeCustomers, subscriptions, users } from '../../db/schema'
import { paymentFailedMessage } from '../messages'
import { handler, idOf, int, text, ts, whenStored, type EventContext } from './context'
import { applySubscription, fetchSubscription, type FetchedSubscription } from './subscription-sync'

interface PreparedInvoice {
  invoice: Stripe.Invoice
  fetched: FetchedSubscription
}

const subscriptionOf = (invoice: Stripe.Invoice) => idOf(invoice.parent?.subscription_details?.subscription)

async function prepareInvoice(ctx: EventContext, db: Database, event: Stripe.Event) {
  const invoice = event.data.object as Stripe.Invoice
  const subscriptionId = subscriptionOf(invoice)
  if (!subscriptionId) return null // one-off invoices are not Masthead's
  const fetched = await fetchSubscription(ctx, db, subscriptionId)
  return fetched ? { invoice, fetched } : null
}

/** invoice.paid: a ledger entry (never for zero amounts) and the subscription's latest state. */
export const invoicePaid = (db: Database) =>
  handler<PreparedInvoice>({
    prepare: (ctx, event) => prepareInvoice(ctx, db, event),
    writes(ctx, _event, { invoice, fetched }) {
      const writes = applySubscription(ctx, fetched)
      if (invoice.amount_paid <= 0) return writes
      const paidAt = invoice.status_transitions?.paid_at
      const paymentIntentId = idOf(invoice.payments?.data[0]?.payment?.payment_intent)
      writes.push({
        name: 'payment',
        query: sql`insert into ${payments} (id, kind, customer_id, subscription_id, payment_intent_id, amount, currency, occurred_at)
          select ${text(invoice.id)}, 'subscription', ${text(idOf(invoice.customer))}, ${text(fetched.subscription.id)},
            ${text(paymentIntentId)}, ${int(invoice.amount_paid)}, ${text(invoice.currency)},
            ${ts(paidAt ? new Date(paidAt * 1000) : ctx.now)}
          where ${whenStored}
          on conflict do nothing`,
      })
      return writes
    },
  })

/**
 * invoice.payment_failed: the subscription goes past due (benefits continue
 * through the grace period while Stripe retries) and the member is told,
 * once per failed invoice, and only while it is still unpaid. The notice is
 * claimed with one conditional update after the event is stored, so two
 * deliveries of different events for one invoice send one e-mail.
 */
export const invoicePaymentFailed = (db: Database) =>
  handler<PreparedInvoice>({
    prepare: (ctx, event) => prepareInvoice(ctx, db, event),
    writes: (ctx, _event, { fetched }) => applySubscription(ctx, fetched),
    async after(db, ctx, _event, { invoice, fetched }) {
      if (fetched.subscription.status !== 'past_due' || !invoice.id) return
      const [row] = await rowsOf<{ email: string }>(
        db,
        sql`update ${subscriptions} set notified_invoice_id = ${text(invoice.id)}
          from ${stripeCustomers}, ${users}
          where ${subscriptions.id} = ${text(fetched.subscription.id)} and ${subscriptions.status} = 'past_due'
            and ${subscriptions.notifiedInvoiceId} is distinct from ${text(invoice.id)}
            and ${stripeCustomers.customerId} = ${subscriptions.customerId} and ${users.id} = ${stripeCustomers.userId}
          returning ${users.email} as email`,
      )
      if (!row) return
      return { mail: [paymentFailedMessage(row.email, ctx.config.PUBLICATION_NAME, ctx.config.APP_URL)] }
    },
  })
