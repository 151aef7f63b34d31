import { sql } from 'drizzle-orm'
import type Stripe from 'stripe'
import { payments } from '../../../db/schema'
import { isMastheads } from '../../stripe'
import { feeCoverOf, fixedWrite, handler, idOf, iso, slot, whenStored, type EventContext } from './context'
import { isOurPrice } from './our-objects'
import { notifyPaymentFailed } from './payment-failed-mail'

interface PreparedInvoice {
  invoice: Stripe.Invoice
  subscriptionId: string
}

/**
 * A subscription invoice, if the subscription is Masthead's: the invoice
 * carries the subscription's metadata as it was when it was billed, and its
 * lines carry the price (for a price made before Masthead marked what it sells).
 */
async function prepareInvoice(ctx: EventContext, event: Stripe.Event): Promise<PreparedInvoice | null> {
  const invoice = event.data.object as Stripe.Invoice
  const details = invoice.parent?.subscription_details
  const subscriptionId = idOf(details?.subscription)
  if (!subscriptionId) return null // one-off invoices are not Masthead's
  const ours =
    isMastheads(details?.metadata) || (await isOurPrice(ctx.db, invoice.lines?.data[0]?.pricing?.price_details?.price))
  return ours ? { invoice, subscriptionId } : null
}

/**
 * invoice.paid: a ledger entry (never for zero amounts). The subscription's
 * state comes with Stripe's customer.subscription.* events, not from here.
 */
export const invoicePaid = handler<PreparedInvoice>({
  prepare: prepareInvoice,
  writes(ctx, _event, { invoice, subscriptionId }) {
    if (invoice.amount_paid <= 0) return []
    const paidAt = invoice.status_transitions?.paid_at
    const paymentIntentId = idOf(invoice.payments?.data[0]?.payment?.payment_intent)
    return [
      {
        name: 'payment',
        fixed: SUBSCRIPTION_PAYMENT,
        values: {
          'payment.invoice': invoice.id,
          'payment.customer': idOf(invoice.customer),
          'payment.subscription': subscriptionId,
          'payment.payment_intent': paymentIntentId,
          'payment.amount': invoice.amount_paid,
          // From the subscription's metadata as billed (checkout-routes.tsx sets it).
          'payment.fee_cover': feeCoverOf(invoice.parent?.subscription_details?.metadata, invoice.amount_paid),
          'payment.currency': invoice.currency,
          'payment.at': iso(paidAt ? new Date(paidAt * 1000) : ctx.now),
        },
      },
    ]
  },
})

const SUBSCRIPTION_PAYMENT = fixedWrite(
  'payment.subscription',
  sql`insert into ${payments} (id, kind, customer_id, subscription_id, payment_intent_id, amount, fee_cover_amount,
      currency, occurred_at)
    select ${slot.text('payment.invoice')}, 'subscription', ${slot.text('payment.customer')},
      ${slot.text('payment.subscription')}, ${slot.text('payment.payment_intent')}, ${slot.int('payment.amount')},
      ${slot.int('payment.fee_cover')}, ${slot.text('payment.currency')}, ${slot.ts('payment.at')}
    where ${whenStored}
    on conflict do nothing`,
)

/**
 * invoice.payment_failed: the member is told, once per failed invoice, if
 * their subscription is stored as past due (benefits continue through the
 * grace period while Stripe retries). If the subscription's past-due update
 * is delivered after this event, that update tells them instead.
 */
export const invoicePaymentFailed = handler<PreparedInvoice>({
  prepare: prepareInvoice,
  writes: () => [],
  after: (ctx, _event, { invoice, subscriptionId }) =>
    invoice.id ? notifyPaymentFailed(ctx, subscriptionId, invoice.id) : Promise.resolve(),
})
