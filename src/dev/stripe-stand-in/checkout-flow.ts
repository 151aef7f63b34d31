// Hosted checkout outcomes: paying (or failing to), expiring, and settling delayed payments.
import type { EventLog } from './events'
import { StripeApiError } from './form'
import type { Lifecycle } from './lifecycle'
import { makeSubscription } from './objects'
import { makePayment, makeSubscriptionInvoice, payInvoice } from './payments'
import type { Store } from './store'
import type { Customer, Invoice, Subscription } from './types'

const invalid = (message: string) => new StripeApiError(400, 'invalid_request_error', message)

export interface CompleteOptions {
  email?: string
  asyncPayment?: boolean
  declineCard?: boolean
}

export class CheckoutFlow {
  constructor(
    private readonly store: Store,
    private readonly events: EventLog,
    private readonly lifecycle: Lifecycle,
  ) {}

  /** Returns 'declined' when the simulated card was declined and the session stays open. */
  completeCheckout(sessionId: string, opts: CompleteOptions = {}): 'completed' | 'declined' {
    const session = this.store.get(this.store.sessions, 'checkout.session', sessionId)
    const state = this.store.sessionState.get(sessionId)!
    if (session.status !== 'open') throw invalid(`This Checkout Session is ${session.status}.`)
    const existing = session.customer ? this.store.customer(session.customer) : undefined
    const email = existing?.email ?? session.customer_email ?? opts.email ?? null
    const needCustomer = session.mode === 'subscription' || session.customer_creation === 'always'
    if (opts.declineCard && session.mode !== 'subscription') return 'declined'

    const customer = existing ?? (needCustomer ? this.lifecycle.createCustomer(email, null) : undefined)
    session.customer = customer?.id ?? null
    session.customer_details = {
      address: null,
      business_name: null,
      email,
      individual_name: null,
      name: customer?.name ?? null,
      phone: null,
      tax_exempt: 'none',
      tax_ids: [],
    }

    if (session.mode === 'subscription') return this.completeSubscription(session.id, customer!, !!opts.declineCard)

    const { pi } = makePayment(this.store, {
      amount: session.amount_total ?? 0,
      currency: session.currency ?? 'usd',
      customer: session.customer,
      email,
      description: null,
      metadata: state.paymentIntentMetadata,
      outcome: opts.asyncPayment ? 'processing' : 'succeeded',
    })
    session.payment_intent = pi.id
    session.status = 'complete'
    session.payment_status = opts.asyncPayment ? 'unpaid' : 'paid'
    this.events.emit('checkout.session.completed', session)
    return 'completed'
  }

  private completeSubscription(sessionId: string, customer: Customer, decline: boolean): 'completed' | 'declined' {
    const session = this.store.sessions.get(sessionId)!
    const state = this.store.sessionState.get(sessionId)!
    let sub: Subscription
    let created = false
    if (state.pendingSubscription) {
      sub = this.store.subscriptions.get(state.pendingSubscription)!
    } else {
      created = true
      sub = makeSubscription(this.store, {
        customer: customer.id,
        items: state.lineItems.map((li) => ({ price: li.price, quantity: li.quantity })),
        metadata: state.subscriptionMetadata,
      })
      const invoice = makeSubscriptionInvoice(this.store, sub, customer, 'subscription_create', {
        start: sub.created,
        end: sub.created,
      })
      this.store.invoices.set(invoice.id, invoice)
      this.store.subscriptions.set(sub.id, sub)
      this.store.openInvoice.set(sub.id, invoice.id)
      sub.latest_invoice = invoice.id
    }
    const invoice = this.store.invoices.get(sub.latest_invoice!)!

    if (decline) {
      state.pendingSubscription = sub.id
      makePayment(this.store, {
        amount: invoice.amount_due,
        currency: invoice.currency,
        customer: customer.id,
        email: customer.email,
        description: 'Subscription creation',
        metadata: {},
        outcome: 'declined',
      })
      invoice.attempt_count += 1
      invoice.attempted = true
      if (created) this.events.emit('customer.subscription.created', sub)
      this.events.emit('invoice.payment_failed', invoice)
      return 'declined'
    }

    const trialing = created && !!state.trialDays
    if (trialing) startTrial(sub, invoice, state.trialDays!, this.store.unix())
    else payInvoice(this.store, invoice, customer.email)
    this.store.openInvoice.delete(sub.id)
    const previousStatus = sub.status
    sub.status = trialing ? 'trialing' : 'active'
    session.subscription = sub.id
    session.invoice = invoice.id
    session.status = 'complete'
    session.payment_status = trialing ? 'no_payment_required' : 'paid'
    this.events.emit('checkout.session.completed', session)
    if (created) this.events.emit('customer.subscription.created', sub)
    else this.events.emit('customer.subscription.updated', sub, { status: previousStatus })
    this.events.emit('invoice.paid', invoice)
    return 'completed'
  }

  expireCheckout(sessionId: string): void {
    const session = this.store.get(this.store.sessions, 'checkout.session', sessionId)
    if (session.status !== 'open')
      throw invalid(
        `Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of "${session.status}".`,
      )
    session.status = 'expired'
    session.url = null
    this.events.emit('checkout.session.expired', session)
  }

  settleAsyncPayment(sessionId: string, succeeded: boolean): void {
    const session = this.store.get(this.store.sessions, 'checkout.session', sessionId)
    const pi = session.payment_intent ? this.store.paymentIntents.get(session.payment_intent) : undefined
    if (session.status !== 'complete' || session.payment_status !== 'unpaid' || !pi || pi.status !== 'processing') {
      throw invalid('This Checkout Session has no payment waiting to settle.')
    }
    const charge = this.store.charges.get(pi.latest_charge!)!
    if (succeeded) {
      pi.status = 'succeeded'
      pi.amount_received = pi.amount
      Object.assign(charge, { status: 'succeeded', paid: true, captured: true, amount_captured: charge.amount })
      session.payment_status = 'paid'
      this.events.emit('checkout.session.async_payment_succeeded', session)
    } else {
      pi.status = 'requires_payment_method'
      Object.assign(charge, {
        status: 'failed',
        failure_code: 'payment_failed',
        failure_message: 'The bank transfer failed.',
      })
      this.events.emit('checkout.session.async_payment_failed', session)
    }
  }
}

/**
 * A free trial, as Stripe starts one: the subscription trials until `days` from now (its period
 * ends then) and its first invoice is for 0, paid at once with no payment.
 */
function startTrial(sub: Subscription, invoice: Invoice, days: number, now: number): void {
  const end = now + days * 86_400
  sub.trial_start = now
  sub.trial_end = end
  for (const item of sub.items.data) item.current_period_end = end
  for (const line of invoice.lines.data) Object.assign(line, { amount: 0, subtotal: 0 })
  Object.assign(invoice, {
    amount_due: 0,
    amount_paid: 0,
    amount_remaining: 0,
    subtotal: 0,
    subtotal_excluding_tax: 0,
    total: 0,
    total_excluding_tax: 0,
    status: 'paid',
    attempted: true,
  })
  invoice.status_transitions.paid_at = now
}
