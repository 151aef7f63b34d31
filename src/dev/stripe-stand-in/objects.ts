// Factories for Stripe-shaped objects with the defaults Stripe gives a plain test-mode account.
import type Stripe from 'stripe'
import { newId, type Store } from './store'
import type { Customer, Price, Product, Subscription } from './types'

export function makeProduct(store: Store, name: string): Product {
  const now = store.unix()
  return {
    id: newId('prod_', 14),
    object: 'product',
    active: true,
    created: now,
    default_price: null,
    description: null,
    images: [],
    livemode: false,
    marketing_features: [],
    metadata: {},
    name,
    package_dimensions: null,
    shippable: null,
    statement_descriptor: null,
    tax_code: null,
    type: 'service',
    unit_label: null,
    updated: now,
    url: null,
  }
}

export function makePrice(
  store: Store,
  fields: {
    product: string
    currency: string
    unit_amount: number
    interval?: Stripe.Price.Recurring.Interval
    interval_count?: number
  },
): Price {
  return {
    id: newId('price_'),
    object: 'price',
    active: true,
    billing_scheme: 'per_unit',
    created: store.unix(),
    currency: fields.currency.toLowerCase(),
    custom_unit_amount: null,
    livemode: false,
    lookup_key: null,
    metadata: {},
    nickname: null,
    product: fields.product,
    recurring: fields.interval
      ? {
          interval: fields.interval,
          interval_count: fields.interval_count ?? 1,
          meter: null,
          trial_period_days: null,
          usage_type: 'licensed',
        }
      : null,
    tax_behavior: 'unspecified',
    tiers_mode: null,
    transform_quantity: null,
    type: fields.interval ? 'recurring' : 'one_time',
    unit_amount: fields.unit_amount,
  }
}

export function makeCustomer(store: Store, fields: { email: string | null; name: string | null }): Customer {
  const id = newId('cus_', 14)
  return {
    id,
    object: 'customer',
    address: null,
    balance: 0,
    created: store.unix(),
    currency: null,
    default_source: null,
    delinquent: false,
    description: null,
    email: fields.email,
    invoice_prefix: id.slice(4, 12).toUpperCase(),
    invoice_settings: { custom_fields: null, default_payment_method: null, footer: null, rendering_options: null },
    livemode: false,
    metadata: {},
    name: fields.name,
    next_invoice_sequence: 1,
    phone: null,
    preferred_locales: [],
    shipping: null,
    tax_exempt: 'none',
    test_clock: null,
  }
}

/**
 * End of the billing period starting at `start`. Months and years keep the anchor's day of month,
 * clamped to the month's length (Jan 31 -> Feb 28 -> Mar 31), as Stripe's billing cycle anchor does.
 */
export function periodEnd(start: number, recurring: Price['recurring'], anchor = start): number {
  const count = recurring?.interval_count ?? 1
  const interval = recurring?.interval ?? 'month'
  if (interval === 'day' || interval === 'week') return start + (interval === 'day' ? 1 : 7) * count * 86_400
  const from = new Date(start * 1000)
  const a = new Date(anchor * 1000)
  const month = from.getUTCMonth() + (interval === 'year' ? 12 * count : count)
  const lastDay = new Date(Date.UTC(from.getUTCFullYear(), month + 1, 0)).getUTCDate()
  const day = Math.min(a.getUTCDate(), lastDay)
  return Date.UTC(from.getUTCFullYear(), month, day, a.getUTCHours(), a.getUTCMinutes(), a.getUTCSeconds()) / 1000
}

export function makeSubscription(
  store: Store,
  fields: { customer: string; items: { price: Price; quantity: number }[]; metadata: Record<string, string> },
): Subscription {
  const now = store.unix()
  const id = newId('sub_')
  const first = fields.items[0]!.price
  return {
    id,
    object: 'subscription',
    application: null,
    application_fee_percent: null,
    billing_cycle_anchor: now,
    cancel_at: null,
    cancel_at_period_end: false,
    canceled_at: null,
    collection_method: 'charge_automatically',
    created: now,
    currency: first.currency,
    customer: fields.customer,
    days_until_due: null,
    default_payment_method: null,
    default_source: null,
    description: null,
    discounts: [],
    ended_at: null,
    items: {
      object: 'list',
      data: fields.items.map(({ price, quantity }) => ({
        id: newId('si_', 14),
        object: 'subscription_item' as const,
        billing_thresholds: null,
        created: now,
        current_period_end: periodEnd(now, price.recurring),
        current_period_start: now,
        discounts: [],
        metadata: {},
        price: structuredClone(price),
        quantity,
        subscription: id,
        tax_rates: [],
      })),
      has_more: false,
      url: `/v1/subscription_items?subscription=${id}`,
    },
    latest_invoice: null,
    livemode: false,
    metadata: fields.metadata,
    next_pending_invoice_item_invoice: null,
    pause_collection: null,
    pending_setup_intent: null,
    pending_update: null,
    schedule: null,
    start_date: now,
    status: 'incomplete',
    test_clock: null,
    transfer_data: null,
    trial_end: null,
    trial_start: null,
  }
}
