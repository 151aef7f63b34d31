import { randomBytes } from 'node:crypto'
import { badParam, missing } from './form'
import type {
  AnyObject,
  Charge,
  CheckoutLineItem,
  CheckoutSession,
  Customer,
  Invoice,
  InvoicePayment,
  List,
  PaymentIntent,
  PortalSession,
  Price,
  Product,
  Refund,
  Subscription,
} from './types'

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'

/** Stripe-looking id: prefix plus a random base62 suffix. */
export function newId(prefix: string, length = 24): string {
  const bytes = randomBytes(length)
  let out = prefix
  for (const b of bytes) out += BASE62[b % 62]
  return out
}

/** Facts Stripe keeps about a checkout session that are not part of its API shape. */
export interface SessionState {
  lineItems: CheckoutLineItem[]
  subscriptionMetadata: Record<string, string>
  paymentIntentMetadata: Record<string, string>
  /** A subscription left `incomplete` by a declined card; paying again activates it. */
  pendingSubscription?: string
  /** `subscription_data[trial_period_days]`: the subscription starts trialing, its first invoice for 0. */
  trialDays?: number
}

// Stores keep insertion order; Stripe lists newest first, so lists read them backwards.
export class Store {
  readonly products = new Map<string, Product>()
  readonly prices = new Map<string, Price>()
  readonly customers = new Map<string, Customer>()
  readonly deletedCustomers = new Set<string>()
  readonly subscriptions = new Map<string, Subscription>()
  readonly invoices = new Map<string, Invoice>()
  readonly invoicePayments = new Map<string, InvoicePayment>()
  readonly paymentIntents = new Map<string, PaymentIntent>()
  readonly charges = new Map<string, Charge>()
  readonly refunds = new Map<string, Refund>()
  readonly sessions = new Map<string, CheckoutSession>()
  readonly sessionState = new Map<string, SessionState>()
  readonly portalSessions = new Map<string, PortalSession>()
  /** Prices and products made inline by checkout `price_data`: real but not listed. */
  readonly inline = new Set<string>()
  /** Open (unpaid) invoice per subscription, for recoverPayment. */
  readonly openInvoice = new Map<string, string>()
  private invoiceSeq = 0

  constructor(readonly now: () => Date) {}

  unix(): number {
    return Math.floor(this.now().getTime() / 1000)
  }

  nextInvoiceNumber(): string {
    return `STANDIN-${String(++this.invoiceSeq).padStart(4, '0')}`
  }

  get<T>(map: Map<string, T>, kind: string, id: string, param = 'id'): T {
    const found = map.get(id)
    if (!found) throw missing(kind, id, param)
    return found
  }

  customer(id: string, param = 'id'): Customer {
    if (this.deletedCustomers.has(id)) throw missing('customer', id, param)
    return this.get(this.customers, 'customer', id, param)
  }

  /** Resolves any id this store issued, for `expand[]`. */
  resolve(id: string): AnyObject | { id: string; object: 'customer'; deleted: true } | undefined {
    if (id.startsWith('cus_') && this.deletedCustomers.has(id)) return { id, object: 'customer', deleted: true }
    const maps: Map<string, AnyObject>[] = [
      this.customers,
      this.products,
      this.prices,
      this.subscriptions,
      this.invoices,
      this.invoicePayments,
      this.paymentIntents,
      this.charges,
      this.refunds,
      this.sessions,
      this.portalSessions,
    ]
    for (const m of maps) {
      const hit = m.get(id)
      if (hit) return hit
    }
    return undefined
  }

  /** Cursor pagination over newest-first items, with Stripe's `limit` bounds (1..100, default 10). */
  page<T extends { id: string }>(
    items: T[],
    query: { limit?: number; starting_after?: string; ending_before?: string },
    url: string,
  ): List<T> {
    const limit = query.limit ?? 10
    if (limit < 1 || limit > 100) throw badParam('limit', 'Invalid limit: must be between 1 and 100')
    let start = 0
    let end = items.length
    if (query.starting_after) {
      const i = items.findIndex((x) => x.id === query.starting_after)
      if (i < 0) throw badParam('starting_after', `No such object: '${query.starting_after}'`)
      start = i + 1
    } else if (query.ending_before) {
      const i = items.findIndex((x) => x.id === query.ending_before)
      if (i < 0) throw badParam('ending_before', `No such object: '${query.ending_before}'`)
      end = i
      start = Math.max(0, end - limit)
    }
    const data = items.slice(start, Math.min(end, start + limit))
    return {
      object: 'list',
      data,
      has_more: start + data.length < end || (query.ending_before ? start > 0 : false),
      url,
    }
  }

  /**
   * Returns a detached copy with `expand` paths resolved (e.g. `customer`, `latest_invoice`,
   * `items.data.price.product`, `data.subscription` on lists, `line_items` on checkout sessions).
   */
  render<T>(value: T, expand: string[] = []): T {
    const copy = structuredClone(value)
    for (const path of expand) this.expandPath(copy, path.split('.'), path)
    return copy
  }

  private expandPath(target: unknown, segments: string[], full: string): void {
    if (Array.isArray(target)) {
      for (const item of target) this.expandPath(item, segments, full)
      return
    }
    if (!target || typeof target !== 'object') return
    const record = target as Record<string, unknown>
    const [head, ...rest] = segments
    if (head === undefined) return
    if (head === 'line_items' && record.object === 'checkout.session' && typeof record.id === 'string') {
      const items = this.sessionState.get(record.id)?.lineItems ?? []
      record.line_items = this.page(
        structuredClone(items),
        { limit: 100 },
        `/v1/checkout/sessions/${record.id}/line_items`,
      )
    }
    if (!(head in record)) throw badParam('expand', `This property cannot be expanded (${full}).`)
    const value = record[head]
    if (rest.length > 0) return this.expandPath(value, rest, full)
    if (typeof value === 'string') {
      const found = this.resolve(value)
      if (found) record[head] = structuredClone(found)
    }
  }
}
