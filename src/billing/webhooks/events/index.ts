import type Stripe from 'stripe'
import type { Database } from '../../../db/client'
import { checkoutPaid, checkoutPaymentFailed } from './checkout'
import type { EventHandler } from './context'
import { chargeRefunded, customerDeleted, customerUpdated } from './customers'
import { invoicePaid, invoicePaymentFailed } from './invoices'
import { subscriptionChanged } from './subscriptions'

/** The events Masthead acts on, by type; any other type is acknowledged and ignored. */
export function eventHandlers(db: Database): Partial<Record<Stripe.Event.Type, EventHandler>> {
  const subscription = subscriptionChanged(db)
  return {
    'checkout.session.completed': checkoutPaid,
    'checkout.session.async_payment_succeeded': checkoutPaid,
    'checkout.session.async_payment_failed': checkoutPaymentFailed,
    'customer.subscription.created': subscription,
    'customer.subscription.updated': subscription,
    'customer.subscription.deleted': subscription,
    'invoice.paid': invoicePaid(db),
    'invoice.payment_failed': invoicePaymentFailed(db),
    'charge.refunded': chargeRefunded,
    'customer.updated': customerUpdated,
    'customer.deleted': customerDeleted,
  }
}
