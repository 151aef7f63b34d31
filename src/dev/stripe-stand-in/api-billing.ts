// /v1/checkout/sessions, /v1/subscriptions, /v1/invoices, /v1/invoice_payments, /v1/payment_intents, /v1/charges,
// /v1/refunds, /v1/billing_portal/sessions.
import { Hono } from 'hono'
import { recurringOf } from './api-catalog'
import { expandOf, newestFirst, pageQuery, readParams, type ApiDeps, retrieveRoute } from './api-context'
import { checkChargeAmount, checkCurrency } from './currency'
import { StripeApiError, applyMetadata, arr, badParam, bool, int, obj, reqStr, str, type Params } from './form'
import { makePrice, makeProduct } from './objects'
import { newId } from './store'
import type { CheckoutLineItem, CheckoutSession, PortalSession, Refund } from './types'

const SUBMIT_TYPES = ['auto', 'book', 'donate', 'pay', 'subscribe']
const REFUND_REASONS = ['duplicate', 'fraudulent', 'requested_by_customer'] as const

export function billingRoutes({ store, lifecycle, checkout, baseUrl }: ApiDeps) {
  const app = new Hono()

  /** `line_items[n][price]` or `line_items[n][price_data][…]`; inline data creates unlisted objects, like Stripe. */
  const lineItem = (raw: unknown, n: number): CheckoutLineItem => {
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw badParam(`line_items[${n}]`, 'Invalid line item')
    const li = raw as Params
    const quantity = int(li, 'quantity', `line_items[${n}][quantity]`) ?? 1
    if (quantity < 1) throw badParam(`line_items[${n}][quantity]`, 'Quantity must be at least 1.')
    const priceId = str(li, 'price', `line_items[${n}][price]`)
    let price = priceId ? store.get(store.prices, 'price', priceId, `line_items[${n}][price]`) : undefined
    if (price && !price.active) throw badParam(`line_items[${n}][price]`, `The price specified is inactive.`)
    if (!price) {
      const data = obj(li, 'price_data')
      if (!data) throw badParam(`line_items[${n}]`, 'Each line item needs `price` or `price_data`.')
      let productId = str(data, 'product')
      if (productId) store.get(store.products, 'product', productId, `line_items[${n}][price_data][product]`)
      else {
        const productData = obj(data, 'product_data')
        const product = makeProduct(
          store,
          reqStr(productData, 'name', `line_items[${n}][price_data][product_data][name]`),
        )
        store.products.set(product.id, product)
        store.inline.add(product.id)
        productId = product.id
      }
      price = makePrice(store, {
        product: productId,
        currency: checkCurrency(
          reqStr(data, 'currency', `line_items[${n}][price_data][currency]`),
          `line_items[${n}][price_data][currency]`,
        ),
        unit_amount: int(data, 'unit_amount', `line_items[${n}][price_data][unit_amount]`) ?? 0,
        ...recurringOf(data),
      })
      price.active = false
      store.prices.set(price.id, price)
      store.inline.add(price.id)
    }
    const amount = (price.unit_amount ?? 0) * quantity
    checkChargeAmount(amount, price.currency, `line_items[${n}]`)
    return {
      id: newId('li_'),
      object: 'item',
      amount_discount: 0,
      amount_subtotal: amount,
      amount_tax: 0,
      amount_total: amount,
      currency: price.currency,
      description: store.products.get(price.product)?.name ?? null,
      price: structuredClone(price),
      quantity,
    }
  }

  app.post('/v1/checkout/sessions', async (c) => {
    const p = await readParams(c)
    const mode = reqStr(p, 'mode')
    if (mode !== 'subscription' && mode !== 'payment')
      throw badParam('mode', `The stand-in supports mode 'subscription' and 'payment', not '${mode}'.`)
    const customer = str(p, 'customer')
    const customerEmail = str(p, 'customer_email')
    if (customer && customerEmail) {
      throw new StripeApiError(
        400,
        'invalid_request_error',
        'You may only specify one of these parameters: customer, customer_email.',
      )
    }
    if (customer) store.customer(customer, 'customer')
    const items = (arr(p, 'line_items') ?? []).map(lineItem)
    if (items.length === 0) throw badParam('line_items', 'line_items must contain at least one item.')
    const recurring = items.filter((li) => li.price.recurring)
    if (mode === 'subscription' && recurring.length === 0) {
      throw badParam(
        'line_items',
        'You must provide at least one recurring price in `subscription` mode when using prices.',
      )
    }
    if (mode === 'payment' && recurring.length > 0) {
      throw badParam(
        'line_items',
        'You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode or use only one-time prices.',
      )
    }
    const currency = items[0]!.currency
    if (items.some((li) => li.currency !== currency))
      throw badParam('line_items', 'All line items must use the same currency.')
    const customerCreation = str(p, 'customer_creation')
    if (customerCreation && (mode !== 'payment' || !['always', 'if_required'].includes(customerCreation))) {
      throw badParam(
        'customer_creation',
        '`customer_creation` can only be used in `payment` mode, as `always` or `if_required`.',
      )
    }
    const submitType = str(p, 'submit_type')
    if (submitType && !SUBMIT_TYPES.includes(submitType))
      throw badParam('submit_type', `Invalid submit_type: ${submitType}`)
    const successUrl = str(p, 'success_url') ?? null
    const cancelUrl = str(p, 'cancel_url') ?? null
    for (const [key, url] of [
      ['success_url', successUrl],
      ['cancel_url', cancelUrl],
    ] as const) {
      if (url !== null && !/^https?:\/\//.test(url)) throw badParam(key, `Not a valid URL: ${key}`)
    }
    // Offers (Masthead's join page): promotion codes accepted, and a free trial before the first payment.
    const allowPromotionCodes = bool(p, 'allow_promotion_codes')
    const trialDays = int(
      obj(p, 'subscription_data') ?? {},
      'trial_period_days',
      'subscription_data[trial_period_days]',
    )
    if (trialDays !== undefined && (mode !== 'subscription' || trialDays < 1 || trialDays > 730)) {
      throw badParam('subscription_data[trial_period_days]', 'The trial must be 1 to 730 days, in `subscription` mode.')
    }
    const total = items.reduce((sum, li) => sum + li.amount_total, 0)
    const now = store.unix()
    const id = newId('cs_test_', 58)
    const session: CheckoutSession = {
      id,
      object: 'checkout.session',
      allow_promotion_codes: allowPromotionCodes ?? null,
      amount_subtotal: total,
      amount_total: total,
      cancel_url: cancelUrl,
      client_reference_id: str(p, 'client_reference_id') ?? null,
      created: now,
      currency,
      customer: customer ?? null,
      customer_creation: customerCreation ?? (mode === 'payment' ? 'if_required' : null),
      customer_details: null,
      customer_email: customerEmail ?? null,
      expires_at: now + 24 * 3600,
      invoice: null,
      livemode: false,
      locale: null,
      metadata: applyMetadata({}, p),
      mode,
      payment_intent: null,
      payment_method_types: ['card'],
      payment_status: 'unpaid',
      status: 'open',
      submit_type: submitType ?? null,
      subscription: null,
      success_url: successUrl,
      ui_mode: 'hosted',
      url: `${baseUrl()}/checkout/${id}`,
    }
    store.sessions.set(id, session)
    store.sessionState.set(id, {
      lineItems: items,
      subscriptionMetadata: applyMetadata({}, obj(p, 'subscription_data') ?? {}),
      paymentIntentMetadata: applyMetadata({}, obj(p, 'payment_intent_data') ?? {}),
      ...(trialDays ? { trialDays } : {}),
    })
    return c.json(store.render(session, expandOf(p)))
  })
  app.get('/v1/checkout/sessions', async (c) => {
    const p = await readParams(c)
    const customer = str(p, 'customer')
    const items = newestFirst(store.sessions.values()).filter((x) => customer === undefined || x.customer === customer)
    return c.json(store.render(store.page(items, pageQuery(p), '/v1/checkout/sessions'), expandOf(p)))
  })
  retrieveRoute(app, store, '/v1/checkout/sessions/:id', store.sessions, 'checkout.session')
  app.post('/v1/checkout/sessions/:id/expire', async (c) => {
    const p = await readParams(c)
    checkout.expireCheckout(c.req.param('id'))
    return c.json(store.render(store.sessions.get(c.req.param('id'))!, expandOf(p)))
  })

  // Subscriptions
  retrieveRoute(app, store, '/v1/subscriptions/:id', store.subscriptions, 'subscription')
  app.get('/v1/subscriptions', async (c) => {
    const p = await readParams(c)
    const customer = str(p, 'customer')
    const status = str(p, 'status')
    const price = str(p, 'price')
    const statusOk = (s: string) =>
      status === 'all' ||
      (status === 'ended' ? s === 'canceled' || s === 'incomplete_expired' : status ? s === status : s !== 'canceled')
    const items = newestFirst(store.subscriptions.values()).filter(
      (s) =>
        (!customer || s.customer === customer) &&
        statusOk(s.status) &&
        (!price || s.items.data.some((i) => i.price.id === price)),
    )
    return c.json(store.render(store.page(items, pageQuery(p), '/v1/subscriptions'), expandOf(p)))
  })
  // Made outside Checkout (as Ghost or the dashboard make them): `customer`, `items[n][price]`, `metadata`.
  app.post('/v1/subscriptions', async (c) => {
    const p = await readParams(c)
    const items = (arr(p, 'items') ?? []).map((raw, n) => {
      const item = raw && typeof raw === 'object' && !Array.isArray(raw) ? raw : undefined
      return reqStr(item, 'price', `items[${n}][price]`)
    })
    const sub = lifecycle.createSubscription(reqStr(p, 'customer'), items, applyMetadata({}, p))
    return c.json(store.render(sub, expandOf(p)))
  })
  app.post('/v1/subscriptions/:id', async (c) => {
    const p = await readParams(c)
    const sub = store.get(store.subscriptions, 'subscription', c.req.param('id'))
    if (p.metadata !== undefined) lifecycle.updateSubscriptionMetadata(sub.id, applyMetadata(sub.metadata, p))
    const cancel = bool(p, 'cancel_at_period_end')
    if (cancel !== undefined) lifecycle.setCancelAtPeriodEnd(sub.id, cancel)
    return c.json(store.render(sub, expandOf(p)))
  })
  app.delete('/v1/subscriptions/:id', async (c) => {
    const p = await readParams(c)
    lifecycle.endSubscription(c.req.param('id'))
    return c.json(store.render(store.subscriptions.get(c.req.param('id'))!, expandOf(p)))
  })

  // Invoices, payments, refunds
  retrieveRoute(app, store, '/v1/invoices/:id', store.invoices, 'invoice')
  app.get('/v1/invoices', async (c) => {
    const p = await readParams(c)
    const customer = str(p, 'customer')
    const subscription = str(p, 'subscription')
    const status = str(p, 'status')
    const items = newestFirst(store.invoices.values()).filter(
      (i) =>
        (!customer || i.customer === customer) &&
        (!subscription || i.parent?.subscription_details?.subscription === subscription) &&
        (!status || i.status === status),
    )
    return c.json(store.render(store.page(items, pageQuery(p), '/v1/invoices'), expandOf(p)))
  })
  retrieveRoute(app, store, '/v1/invoice_payments/:id', store.invoicePayments, 'invoice_payment')
  app.get('/v1/invoice_payments', async (c) => {
    const p = await readParams(c)
    const invoice = str(p, 'invoice')
    const status = str(p, 'status')
    const items = newestFirst(store.invoicePayments.values()).filter(
      (x) => (!invoice || x.invoice === invoice) && (!status || x.status === status),
    )
    return c.json(store.render(store.page(items, pageQuery(p), '/v1/invoice_payments'), expandOf(p)))
  })
  retrieveRoute(app, store, '/v1/payment_intents/:id', store.paymentIntents, 'payment_intent')
  retrieveRoute(app, store, '/v1/charges/:id', store.charges, 'charge')
  retrieveRoute(app, store, '/v1/refunds/:id', store.refunds, 'refund')
  app.post('/v1/refunds', async (c) => {
    const p = await readParams(c)
    const target = str(p, 'payment_intent') ?? str(p, 'charge')
    if (!target) throw badParam('charge', 'One of `charge` or `payment_intent` is required.')
    const reason = str(p, 'reason')
    if (reason !== undefined && !REFUND_REASONS.some((r) => r === reason))
      throw badParam('reason', `Invalid reason: ${reason}`)
    const refund = lifecycle.refund(target, int(p, 'amount'), {
      reason: reason as Refund['reason'],
      metadata: applyMetadata({}, p),
    })
    return c.json(store.render(refund, expandOf(p)))
  })

  // Billing portal
  app.post('/v1/billing_portal/sessions', async (c) => {
    const p = await readParams(c)
    const customer = store.customer(reqStr(p, 'customer'), 'customer').id
    const id = newId('bps_')
    const session: PortalSession = {
      id,
      object: 'billing_portal.session',
      created: store.unix(),
      customer,
      livemode: false,
      locale: null,
      on_behalf_of: null,
      return_url: str(p, 'return_url') ?? null,
      url: `${baseUrl()}/portal/${id}`,
    }
    store.portalSessions.set(id, session)
    return c.json(store.render(session, expandOf(p)))
  })

  return app
}
