import type Stripe from 'stripe'
import { checkoutPaid, checkoutPaymentFailed } from './checkout'
import type { EventHandler } from './context'
import { chargeRefunded, customerDeleted, customerUpdated } from './customers'
import { giftCheckoutPaid, giftCheckoutsTo, giftCheckoutUnpaid } from './gifts'
import { invoicePaid, invoicePaymentFailed } from './invoices'
import { subscriptionChanged } from './subscriptions'

/**
 * The events Masthead acts on, by type; any other type is acknowledged and
 * ignored. Handlers hold no state: what they use comes with the EventContext.
 */
export const eventHandlers: Partial<Record<Stripe.Event.Type, EventHandler>> = {
  // Gift memberships' sessions go to gifts.ts, every other session as before.
  'checkout.session.completed': giftCheckoutsTo(giftCheckoutPaid, checkoutPaid),
  'checkout.session.async_payment_succeeded': giftCheckoutsTo(giftCheckoutPaid, checkoutPaid),
  'checkout.session.async_payment_failed': giftCheckoutsTo(giftCheckoutUnpaid, checkoutPaymentFailed),
  'checkout.session.expired': giftCheckoutUnpaid,
  'customer.subscription.created': subscriptionChanged,
  'customer.subscription.updated': subscriptionChanged,
  'customer.subscription.deleted': subscriptionChanged,
  'invoice.paid': invoicePaid,
  'invoice.payment_failed': invoicePaymentFailed,
  'charge.refunded': chargeRefunded,
  'customer.updated': customerUpdated,
  'customer.deleted': customerDeleted,
}
