import type Stripe from 'stripe'
import { checkoutPaid, checkoutPaymentFailed } from './checkout'
import type { EventHandler } from './context'
import { chargeRefunded, customerDeleted, customerUpdated } from './customers'
import { invoicePaid, invoicePaymentFailed } from './invoices'
import { subscriptionChanged } from './subscriptions'

/**
 * The events Masthead acts on, by type; any other type is acknowledged and
 * ignored. Handlers hold no state: what they use comes with the EventContext.
 */
export const eventHandlers: Partial<Record<Stripe.Event.Type, EventHandler>> = {
  'checkout.session.completed': checkoutPaid,
  'checkout.session.async_payment_succeeded': checkoutPaid,
  'checkout.session.async_payment_failed': checkoutPaymentFailed,
  'customer.subscription.created': subscriptionChanged,
  'customer.subscription.updated': subscriptionChanged,
  'customer.subscription.deleted': subscriptionChanged,
  'invoice.paid': invoicePaid,
  'invoice.payment_failed': invoicePaymentFailed,
  'charge.refunded': chargeRefunded,
  'customer.updated': customerUpdated,
  'customer.deleted': customerDeleted,
}
