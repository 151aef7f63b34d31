// The state changes Stripe makes over a customer's life, each emitting the events Stripe would send.
import type { EventLog } from './events'
import { StripeApiError, badParam } from './form'
import { makeCustomer, makeSubscription, periodEnd } from './objects'
import { makeSubscriptionInvoice, payInvoice } from './payments'
import { newId, type Store } from './store'
import type { Customer, Refund, Subscription } from './types'

const invalid = (message: string) => new StripeApiError(400, 'invalid_request_error', message)

export class Lifecycle {
  constructor(
    private readonly store: Store,
    private readonly events: EventLog,
  ) {}

  createCustomer(email: string | null, name: string | null, metadata: Record<string, string> = {}): Customer {
    const customer = makeCustomer(this.store, { email, name })
    customer.metadata = metadata
    this.store.customers.set(customer.id, customer)
    this.events.emit('customer.created', customer)
    return customer
  }

  /**
   * A subscription made through the API rather than Checkout, as another system (Ghost, a
   * dashboard) makes them: charged at once to the customer's card on file, so it starts active.
   */
  createSubscription(customerId: string, priceIds: string[], metadata: Record<string, string>): Subscription {
    const customer = this.store.customer(customerId, 'customer')
    const items = priceIds.map((id, n) => {
      const price = this.store.get(this.store.prices, 'price', id, `items[${n}][price]`)
      if (!price.recurring) throw badParam(`items[${n}][price]`, 'The price specified is not recurring.')
      return { price, quantity: 1 }
    })
    if (items.length === 0) throw badParam('items', 'Missing required param: items.')
    const sub = makeSubscription(this.store, { customer: customer.id, items, metadata })
    const invoice = makeSubscriptionInvoice(this.store, sub, customer, 'subscription_create', {
      start: sub.created,
      end: sub.created,
    })
    this.store.invoices.set(invoice.id, invoice)
    this.store.subscriptions.set(sub.id, sub)
    sub.latest_invoice = invoice.id
    payInvoice(this.store, invoice, customer.email)
    sub.status = 'active'
    this.events.emit('customer.subscription.created', sub)
    this.events.emit('invoice.paid', invoice)
    return sub
  }

  private subscription(id: string): Subscription {
    return this.store.get(this.store.subscriptions, 'subscription', id)
  }

  /** Moves every item one period on; returns the previous items for `previous_attributes`. */
  private advancePeriod(sub: Subscription) {
    const before = structuredClone(sub.items)
    for (const item of sub.items.data) {
      item.current_period_start = item.current_period_end
      item.current_period_end = periodEnd(item.current_period_start, item.price.recurring, sub.billing_cycle_anchor)
    }
    return { before, start: before.data[0]!.current_period_start, end: before.data[0]!.current_period_end }
  }

  private cycleInvoice(sub: Subscription) {
    const { before, start, end } = this.advancePeriod(sub)
    const customer = this.store.customers.get(sub.customer)!
    // Stripe dates a cycle invoice by the period just ended; its lines cover the new period.
    const invoice = makeSubscriptionInvoice(this.store, sub, customer, 'subscription_cycle', { start, end })
    this.store.invoices.set(invoice.id, invoice)
    sub.latest_invoice = invoice.id
    return { invoice, customer, before }
  }

  failPayment(subscriptionId: string): void {
    const sub = this.subscription(subscriptionId)
    if (!['active', 'past_due', 'trialing'].includes(sub.status)) throw invalid(`Subscription is ${sub.status}.`)
    const openId = this.store.openInvoice.get(sub.id)
    // A second failure retries the same open invoice rather than billing another period.
    const invoice = openId ? this.store.invoices.get(openId)! : this.cycleInvoice(sub).invoice
    this.store.openInvoice.set(sub.id, invoice.id)
    invoice.attempt_count += 1
    invoice.attempted = true
    invoice.next_payment_attempt = null
    this.events.emit('invoice.payment_failed', invoice)
    if (sub.status !== 'past_due') {
      const previous = sub.status
      sub.status = 'past_due'
      this.events.emit('customer.subscription.updated', sub, { status: previous })
    }
  }

  recoverPayment(subscriptionId: string): void {
    const sub = this.subscription(subscriptionId)
    const openId = this.store.openInvoice.get(sub.id)
    if (!openId || sub.status === 'canceled') throw invalid('This subscription has no open invoice to pay.')
    const invoice = this.store.invoices.get(openId)!
    payInvoice(this.store, invoice, invoice.customer_email)
    this.store.openInvoice.delete(sub.id)
    this.events.emit('invoice.paid', invoice)
    const previous = sub.status
    sub.status = 'active'
    this.events.emit('customer.subscription.updated', sub, { status: previous })
  }

  renew(subscriptionId: string): void {
    const sub = this.subscription(subscriptionId)
    if (sub.status !== 'active' && sub.status !== 'trialing')
      throw invalid(`Only active subscriptions renew; this one is ${sub.status}.`)
    // At period end a subscription set to cancel ends instead of renewing.
    if (sub.cancel_at_period_end) return this.endSubscription(subscriptionId)
    const { invoice, customer, before } = this.cycleInvoice(sub)
    payInvoice(this.store, invoice, customer.email)
    this.events.emit('invoice.paid', invoice)
    this.events.emit('customer.subscription.updated', sub, { items: before })
  }

  setCancelAtPeriodEnd(subscriptionId: string, cancel: boolean): void {
    const sub = this.subscription(subscriptionId)
    if (sub.status === 'canceled') throw invalid('A canceled subscription can only update its metadata.')
    if (sub.cancel_at_period_end === cancel) return
    const previous = {
      cancel_at_period_end: sub.cancel_at_period_end,
      cancel_at: sub.cancel_at,
      canceled_at: sub.canceled_at,
    }
    sub.cancel_at_period_end = cancel
    sub.cancel_at = cancel ? Math.max(...sub.items.data.map((i) => i.current_period_end)) : null
    sub.canceled_at = cancel ? this.store.unix() : null
    this.events.emit('customer.subscription.updated', sub, previous)
  }

  updateSubscriptionMetadata(subscriptionId: string, metadata: Record<string, string>): void {
    const sub = this.subscription(subscriptionId)
    const previous = sub.metadata
    if (JSON.stringify(previous) === JSON.stringify(metadata)) return
    sub.metadata = metadata
    this.events.emit('customer.subscription.updated', sub, { metadata: previous })
  }

  endSubscription(subscriptionId: string): void {
    const sub = this.subscription(subscriptionId)
    if (sub.status === 'canceled') throw invalid(`This subscription is already canceled: '${sub.id}'.`)
    const now = this.store.unix()
    sub.status = 'canceled'
    sub.ended_at = now
    sub.canceled_at = sub.canceled_at ?? now
    this.store.openInvoice.delete(sub.id)
    this.events.emit('customer.subscription.deleted', sub)
  }

  refund(
    paymentIntentOrChargeId: string,
    amount?: number,
    details: { reason?: Refund['reason']; metadata?: Record<string, string> } = {},
  ) {
    let chargeId = paymentIntentOrChargeId
    if (paymentIntentOrChargeId.startsWith('pi_')) {
      const pi = this.store.get(this.store.paymentIntents, 'payment_intent', paymentIntentOrChargeId, 'payment_intent')
      chargeId = pi.latest_charge ?? ''
    }
    const charge = this.store.get(this.store.charges, 'charge', chargeId, 'charge')
    if (charge.status !== 'succeeded') throw invalid(`Charge ${charge.id} has not succeeded and cannot be refunded.`)
    const remaining = charge.amount_captured - charge.amount_refunded
    const value = amount ?? remaining
    if (remaining <= 0)
      throw new StripeApiError(
        400,
        'invalid_request_error',
        `Charge ${charge.id} has already been refunded.`,
        'charge_already_refunded',
      )
    if (!Number.isInteger(value) || value <= 0 || value > remaining) {
      throw badParam('amount', `Refund amount (${value}) is greater than unrefunded amount on charge (${remaining})`)
    }
    const refund = {
      id: newId('re_'),
      object: 'refund' as const,
      amount: value,
      charge: charge.id,
      created: this.store.unix(),
      currency: charge.currency,
      metadata: details.metadata ?? {},
      payment_intent: charge.payment_intent,
      reason: details.reason ?? null,
      status: 'succeeded',
    }
    this.store.refunds.set(refund.id, refund)
    const previous = { amount_refunded: charge.amount_refunded, refunded: charge.refunded }
    charge.amount_refunded += value
    charge.refunded = charge.amount_refunded >= charge.amount
    this.events.emit('charge.refunded', charge, previous)
    return refund
  }

  updateCustomer(
    id: string,
    fields: { email?: string | null; name?: string | null; metadata?: Record<string, string> },
  ): Customer {
    const customer = this.store.customer(id)
    const previous: Record<string, unknown> = {}
    for (const key of ['email', 'name', 'metadata'] as const) {
      const next = fields[key]
      if (next === undefined || JSON.stringify(next) === JSON.stringify(customer[key])) continue
      previous[key] = customer[key]
      Object.assign(customer, { [key]: next })
    }
    if (Object.keys(previous).length > 0) this.events.emit('customer.updated', customer, previous)
    return customer
  }

  /** Stripe cancels a deleted customer's live subscriptions first, then deletes the customer. */
  deleteCustomer(id: string): void {
    const customer = this.store.customer(id)
    for (const sub of this.store.subscriptions.values()) {
      if (sub.customer === id && sub.status !== 'canceled' && sub.status !== 'incomplete_expired')
        this.endSubscription(sub.id)
    }
    this.store.deletedCustomers.add(id)
    this.events.emit('customer.deleted', customer)
  }
}
