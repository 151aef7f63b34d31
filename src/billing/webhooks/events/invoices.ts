import { sql } from 'drizzle-orm'
import type Stripe from 'stripe'
import { rowsOf, type Database } from '../../../db/client'
import { payments, stripeCustomers, subscriptions, users } from '../../../db/schema'
import { paymentFailedMessage } from '../../messages'
import { isMastheads } from '../../stripe'
import { handler, idOf, int, text, ts, whenStored, type Effects, type EventContext } from './context'
import { isOurPrice } from './subscription-sync'

interface PreparedInvoice {
  invoice: Stripe.Invoice
  subscriptionId: string
}

/**
 * A subscription invoice, if the subscription is Masthead's: the invoice
 * carries the subscription's metadata as it was when it was billed, and its
 * lines carry the price (for a price made before Masthead marked what it sells).
 */
async function prepareInvoice(db: Database, event: Stripe.Event): Promise<PreparedInvoice | null> {
  const invoice = event.data.object as Stripe.Invoice
  const details = invoice.parent?.subscription_details
  const subscriptionId = idOf(details?.subscription)
  if (!subscriptionId) return null // one-off invoices are not Masthead's
  const ours =
    isMastheads(details?.metadata) || (await isOurPrice(db, invoice.lines?.data[0]?.pricing?.price_details?.price))
  return ours ? { invoice, subscriptionId } : null
}

/**
 * invoice.paid: a ledger entry (never for zero amounts). The subscription's
 * state comes with Stripe's customer.subscription.* events, not from here.
 */
export const invoicePaid = (db: Database) =>
  handler<PreparedInvoice>({
    prepare: (_ctx, event) => prepareInvoice(db, event),
    writes(ctx, _event, { invoice, subscriptionId }) {
      if (invoice.amount_paid <= 0) return []
      const paidAt = invoice.status_transitions?.paid_at
      const paymentIntentId = idOf(invoice.payments?.data[0]?.payment?.payment_intent)
      return [
        {
          name: 'payment',
          query: sql`insert into ${payments} (id, kind, customer_id, subscription_id, payment_intent_id, amount, currency, occurred_at)
            select ${text(invoice.id)}, 'subscription', ${text(idOf(invoice.customer))}, ${text(subscriptionId)},
              ${text(paymentIntentId)}, ${int(invoice.amount_paid)}, ${text(invoice.currency)},
              ${ts(paidAt ? new Date(paidAt * 1000) : ctx.now)}
            where ${whenStored}
            on conflict do nothing`,
        },
      ]
    },
  })

/**
 * invoice.payment_failed: the member is told, once per failed invoice, if
 * their subscription is stored as past due (benefits continue through the
 * grace period while Stripe retries). If the subscription's past-due update
 * is delivered after this event, that update tells them instead.
 */
export const invoicePaymentFailed = (db: Database) =>
  handler<PreparedInvoice>({
    prepare: (_ctx, event) => prepareInvoice(db, event),
    writes: () => [],
    after: (db, ctx, _event, { invoice, subscriptionId }) =>
      invoice.id ? notifyPaymentFailed(db, ctx, subscriptionId, invoice.id) : Promise.resolve(),
  })

/**
 * Claims the notice for one failed invoice with one conditional update, so
 * that any number of deliveries, of either event, send one e-mail; and only
 * while the subscription is stored as past due.
 */
export async function notifyPaymentFailed(
  db: Database,
  ctx: EventContext,
  subscriptionId: string,
  invoiceId: string,
): Promise<Effects | void> {
  const [row] = await rowsOf<{ email: string }>(
    db,
    sql`update ${subscriptions} set notified_invoice_id = ${text(invoiceId)}
      from ${stripeCustomers}, ${users}
      where ${subscriptions.id} = ${text(subscriptionId)} and ${subscriptions.status} = 'past_due'
        and ${subscriptions.notifiedInvoiceId} is distinct from ${text(invoiceId)}
        and ${stripeCustomers.customerId} = ${subscriptions.customerId} and ${users.id} = ${stripeCustomers.userId}
      returning ${users.email} as email`,
  )
  if (!row) return
  return { mail: [paymentFailedMessage(row.email, ctx.config.PUBLICATION_NAME, ctx.config.APP_URL)] }
}
