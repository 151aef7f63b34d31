// Invoices, payment intents and charges: the money side of checkout and subscription cycles.
import { newId, type Store } from './store'
import type { Charge, Customer, Invoice, InvoiceLineItem, InvoicePayment, PaymentIntent, Subscription } from './types'

/** An open, finalized invoice for the subscription's current items; payment is applied by the caller. */
export function makeSubscriptionInvoice(
  store: Store,
  sub: Subscription,
  customer: Customer,
  reason: 'subscription_create' | 'subscription_cycle',
  period: { start: number; end: number },
): Invoice {
  const now = store.unix()
  const id = newId('in_')
  const lines: InvoiceLineItem[] = sub.items.data.map((item) => {
    const amount = (item.price.unit_amount ?? 0) * (item.quantity ?? 1)
    return {
      id: newId('il_'),
      object: 'line_item',
      amount,
      currency: item.price.currency,
      description: `${item.quantity ?? 1} × ${store.products.get(item.price.product)?.name ?? 'item'}`,
      discount_amounts: [],
      discountable: true,
      discounts: [],
      invoice: id,
      livemode: false,
      metadata: {},
      parent: {
        type: 'subscription_item_details',
        invoice_item_details: null,
        subscription_item_details: {
          invoice_item: null,
          proration: false,
          proration_details: { credited_items: null },
          subscription: sub.id,
          subscription_item: item.id,
        },
      },
      period: { start: item.current_period_start, end: item.current_period_end },
      pretax_credit_amounts: [],
      pricing: {
        type: 'price_details',
        price_details: { price: item.price.id, product: item.price.product },
        unit_amount_decimal: null,
      },
      quantity: item.quantity ?? 1,
      subscription: sub.id,
      subtotal: amount,
      taxes: [],
    }
  })
  const total = lines.reduce((sum, l) => sum + l.amount, 0)
  return {
    id,
    object: 'invoice',
    account_country: null,
    account_name: 'Masthead (stand-in)',
    amount_due: total,
    amount_overpaid: 0,
    amount_paid: 0,
    amount_remaining: total,
    amount_shipping: 0,
    attempt_count: 0,
    attempted: false,
    billing_reason: reason,
    collection_method: 'charge_automatically',
    created: now,
    currency: sub.currency,
    customer: customer.id,
    customer_email: customer.email,
    customer_name: customer.name ?? null,
    description: null,
    discounts: [],
    due_date: null,
    effective_at: now,
    ending_balance: 0,
    hosted_invoice_url: null,
    invoice_pdf: null,
    livemode: false,
    metadata: {},
    next_payment_attempt: null,
    number: store.nextInvoiceNumber(),
    parent: {
      type: 'subscription_details',
      quote_details: null,
      subscription_details: { metadata: structuredClone(sub.metadata), subscription: sub.id },
    },
    period_end: period.end,
    period_start: period.start,
    starting_balance: 0,
    status: 'open',
    status_transitions: { finalized_at: now, marked_uncollectible_at: null, paid_at: null, voided_at: null },
    subtotal: total,
    subtotal_excluding_tax: total,
    test_clock: null,
    total,
    total_excluding_tax: total,
    webhooks_delivered_at: null,
    lines: { object: 'list', data: lines, has_more: false, url: `/v1/invoices/${id}/lines` },
  }
}

/** A payment intent and (unless it never reached a charge) its charge, already stored. */
export function makePayment(
  store: Store,
  fields: {
    amount: number
    currency: string
    customer: string | null
    email: string | null
    description: string | null
    metadata: Record<string, string>
    outcome: 'succeeded' | 'processing' | 'declined'
  },
): { pi: PaymentIntent; charge: Charge } {
  const now = store.unix()
  const pi: PaymentIntent = {
    id: newId('pi_'),
    object: 'payment_intent',
    amount: fields.amount,
    amount_capturable: 0,
    amount_received: fields.outcome === 'succeeded' ? fields.amount : 0,
    canceled_at: null,
    cancellation_reason: null,
    capture_method: 'automatic',
    client_secret: null,
    confirmation_method: 'automatic',
    created: now,
    currency: fields.currency,
    customer: fields.customer,
    description: fields.description,
    last_payment_error: null,
    latest_charge: null,
    livemode: false,
    metadata: fields.metadata,
    next_action: null,
    payment_method: null,
    payment_method_types: [fields.outcome === 'processing' ? 'customer_balance' : 'card'],
    receipt_email: null,
    status:
      fields.outcome === 'succeeded'
        ? 'succeeded'
        : fields.outcome === 'processing'
          ? 'processing'
          : 'requires_payment_method',
  }
  const charge: Charge = {
    id: newId('ch_'),
    object: 'charge',
    amount: fields.amount,
    amount_captured: fields.outcome === 'succeeded' ? fields.amount : 0,
    amount_refunded: 0,
    billing_details: { address: null, email: fields.email, name: null, phone: null, tax_id: null },
    captured: fields.outcome === 'succeeded',
    created: now,
    currency: fields.currency,
    customer: fields.customer,
    description: fields.description,
    disputed: false,
    failure_code: fields.outcome === 'declined' ? 'card_declined' : null,
    failure_message: fields.outcome === 'declined' ? 'Your card was declined.' : null,
    livemode: false,
    metadata: {},
    paid: fields.outcome === 'succeeded',
    payment_intent: pi.id,
    receipt_email: null,
    refunded: false,
    status: fields.outcome === 'succeeded' ? 'succeeded' : fields.outcome === 'processing' ? 'pending' : 'failed',
  }
  pi.latest_charge = charge.id
  if (fields.outcome === 'declined') {
    pi.last_payment_error = {
      type: 'card_error',
      code: 'card_declined',
      decline_code: 'generic_decline',
      message: 'Your card was declined.',
    }
  }
  store.paymentIntents.set(pi.id, pi)
  store.charges.set(charge.id, charge)
  return { pi, charge }
}

/** Marks an invoice paid by a fresh successful payment, recorded as the invoice's payment (`/v1/invoice_payments`). */
export function payInvoice(store: Store, invoice: Invoice, email: string | null): void {
  const { pi } = makePayment(store, {
    amount: invoice.amount_due,
    currency: invoice.currency,
    customer: invoice.customer,
    email,
    description: invoice.billing_reason === 'subscription_create' ? 'Subscription creation' : 'Subscription update',
    metadata: {},
    outcome: 'succeeded',
  })
  const now = store.unix()
  invoice.attempt_count += 1
  invoice.attempted = true
  invoice.amount_paid = invoice.amount_due
  invoice.amount_remaining = 0
  invoice.status = 'paid'
  invoice.status_transitions.paid_at = now
  const payment: InvoicePayment = {
    id: newId('inpay_'),
    object: 'invoice_payment',
    amount_paid: invoice.amount_due,
    amount_requested: invoice.amount_due,
    created: now,
    currency: invoice.currency,
    invoice: invoice.id,
    is_default: true,
    livemode: false,
    payment: { type: 'payment_intent', payment_intent: pi.id },
    status: 'paid',
    status_transitions: { canceled_at: null, paid_at: now },
  }
  store.invoicePayments.set(payment.id, payment)
}
