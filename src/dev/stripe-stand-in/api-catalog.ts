// /v1/products, /v1/prices, /v1/customers, /v1/events.
import { Hono } from 'hono'
import type Stripe from 'stripe'
import { expandOf, newestFirst, pageQuery, readParams, type ApiDeps, retrieveRoute } from './api-context'
import { checkCurrency } from './currency'
import {
  StripeApiError,
  applyMetadata,
  badParam,
  bool,
  int,
  missing,
  reqInt,
  nullableStr,
  obj,
  reqStr,
  str,
  strArr,
  type Params,
} from './form'
import { makePrice, makeProduct } from './objects'
import type { Price } from './types'

const INTERVALS = ['day', 'week', 'month', 'year']

export function catalogRoutes({ store, events, lifecycle }: ApiDeps) {
  const app = new Hono()

  // Products
  app.post('/v1/products', async (c) => {
    const p = await readParams(c)
    const product = makeProduct(store, reqStr(p, 'name'))
    const id = str(p, 'id')
    if (id) {
      if (store.products.has(id))
        throw new StripeApiError(
          400,
          'invalid_request_error',
          `Product already exists.`,
          'resource_already_exists',
          'id',
        )
      product.id = id
    }
    product.active = bool(p, 'active') ?? true
    product.description = nullableStr(p, 'description') ?? null
    product.metadata = applyMetadata({}, p)
    store.products.set(product.id, product)
    events.emit('product.created', product)
    return c.json(store.render(product, expandOf(p)))
  })
  app.post('/v1/products/:id', async (c) => {
    const p = await readParams(c)
    const product = store.get(store.products, 'product', c.req.param('id'))
    const previous: Record<string, unknown> = {}
    const change = (key: 'name' | 'active' | 'description' | 'metadata', value: unknown) => {
      if (value === undefined || JSON.stringify(value) === JSON.stringify(product[key])) return
      previous[key] = product[key]
      Object.assign(product, { [key]: value })
    }
    change('name', str(p, 'name'))
    change('active', bool(p, 'active'))
    change('description', nullableStr(p, 'description'))
    change('metadata', applyMetadata(product.metadata, p))
    if (Object.keys(previous).length > 0) {
      product.updated = store.unix()
      events.emit('product.updated', product, previous)
    }
    return c.json(store.render(product, expandOf(p)))
  })
  retrieveRoute(app, store, '/v1/products/:id', store.products, 'product')
  app.get('/v1/products', async (c) => {
    const p = await readParams(c)
    const active = bool(p, 'active')
    const ids = strArr(p, 'ids')
    const items = newestFirst(store.products.values()).filter(
      (x) => !store.inline.has(x.id) && (active === undefined || x.active === active) && (!ids || ids.includes(x.id)),
    )
    return c.json(store.render(store.page(items, pageQuery(p), '/v1/products'), expandOf(p)))
  })

  // Prices
  const claimLookupKey = (price: Price, key: string | null | undefined, transfer: boolean | undefined) => {
    if (key === undefined) return
    if (key !== null) {
      const holder = [...store.prices.values()].find((x) => x.lookup_key === key && x.id !== price.id)
      if (holder && !transfer) {
        throw badParam('lookup_key', `A price (\`${holder.id}\`) already uses that lookup key.`)
      }
      // Stripe moves the key silently; the old price gets no event for it.
      if (holder) holder.lookup_key = null
    }
    price.lookup_key = key
  }
  app.post('/v1/prices', async (c) => {
    const p = await readParams(c)
    let productId = str(p, 'product')
    const productData = obj(p, 'product_data')
    if (!productId && productData) {
      const product = makeProduct(store, reqStr(productData, 'name', 'product_data[name]'))
      store.products.set(product.id, product)
      events.emit('product.created', product)
      productId = product.id
    }
    productId ??= reqStr(p, 'product')
    store.get(store.products, 'product', productId, 'product')
    const recurring = recurringOf(p)
    const price = makePrice(store, {
      product: productId,
      currency: checkCurrency(reqStr(p, 'currency'), 'currency'),
      unit_amount: reqInt(p, 'unit_amount'),
      ...recurring,
    })
    price.active = bool(p, 'active') ?? true
    price.nickname = nullableStr(p, 'nickname') ?? null
    price.metadata = applyMetadata({}, p)
    claimLookupKey(price, nullableStr(p, 'lookup_key'), bool(p, 'transfer_lookup_key'))
    store.prices.set(price.id, price)
    events.emit('price.created', price)
    return c.json(store.render(price, expandOf(p)))
  })
  app.post('/v1/prices/:id', async (c) => {
    const p = await readParams(c)
    const price = store.get(store.prices, 'price', c.req.param('id'))
    const before = structuredClone(price)
    const active = bool(p, 'active')
    if (active !== undefined) price.active = active
    const nickname = nullableStr(p, 'nickname')
    if (nickname !== undefined) price.nickname = nickname
    price.metadata = applyMetadata(price.metadata, p)
    claimLookupKey(price, nullableStr(p, 'lookup_key'), bool(p, 'transfer_lookup_key'))
    const previous: Record<string, unknown> = {}
    for (const key of ['active', 'nickname', 'metadata', 'lookup_key'] as const) {
      if (JSON.stringify(before[key]) !== JSON.stringify(price[key])) previous[key] = before[key]
    }
    if (Object.keys(previous).length > 0) events.emit('price.updated', price, previous)
    return c.json(store.render(price, expandOf(p)))
  })
  retrieveRoute(app, store, '/v1/prices/:id', store.prices, 'price')
  app.get('/v1/prices', async (c) => {
    const p = await readParams(c)
    const active = bool(p, 'active')
    const product = str(p, 'product')
    const type = str(p, 'type')
    const currency = str(p, 'currency')
    const lookupKeys = strArr(p, 'lookup_keys')
    const items = newestFirst(store.prices.values()).filter(
      (x) =>
        !store.inline.has(x.id) &&
        (active === undefined || x.active === active) &&
        (!product || x.product === product) &&
        (!type || x.type === type) &&
        (!currency || x.currency === currency.toLowerCase()) &&
        (!lookupKeys || (x.lookup_key !== null && lookupKeys.includes(x.lookup_key))),
    )
    return c.json(store.render(store.page(items, pageQuery(p), '/v1/prices'), expandOf(p)))
  })

  // Customers
  app.post('/v1/customers', async (c) => {
    const p = await readParams(c)
    const customer = lifecycle.createCustomer(
      nullableStr(p, 'email') ?? null,
      nullableStr(p, 'name') ?? null,
      applyMetadata({}, p),
    )
    return c.json(store.render(customer, expandOf(p)))
  })
  app.post('/v1/customers/:id', async (c) => {
    const p = await readParams(c)
    const customer = store.customer(c.req.param('id'))
    const updated = lifecycle.updateCustomer(customer.id, {
      email: nullableStr(p, 'email'),
      name: nullableStr(p, 'name'),
      metadata: p.metadata === undefined ? undefined : applyMetadata(customer.metadata, p),
    })
    return c.json(store.render(updated, expandOf(p)))
  })
  app.get('/v1/customers/:id', async (c) => {
    const p = await readParams(c)
    const id = c.req.param('id')
    // Like Stripe: a deleted customer is still retrievable, as a stub.
    if (store.deletedCustomers.has(id)) return c.json({ id, object: 'customer', deleted: true })
    return c.json(store.render(store.customer(id), expandOf(p)))
  })
  app.delete('/v1/customers/:id', async (c) => {
    const id = c.req.param('id')
    lifecycle.deleteCustomer(id)
    const deleted: Stripe.DeletedCustomer = { id, object: 'customer', deleted: true }
    return c.json(deleted)
  })
  app.get('/v1/customers', async (c) => {
    const p = await readParams(c)
    const email = str(p, 'email')
    const items = newestFirst(store.customers.values()).filter(
      (x) => !store.deletedCustomers.has(x.id) && (email === undefined || x.email === email),
    )
    return c.json(store.render(store.page(items, pageQuery(p), '/v1/customers'), expandOf(p)))
  })

  // Events
  app.get('/v1/events/:id', (c) => {
    const event = events.get(c.req.param('id'))
    if (!event) throw missing('event', c.req.param('id'))
    return c.json(event)
  })
  app.get('/v1/events', async (c) => {
    const p = await readParams(c)
    const created = createdFilter(p)
    const type = str(p, 'type')
    const types = strArr(p, 'types')
    const matches = (t: string, pattern: string) =>
      pattern.endsWith('*') ? t.startsWith(pattern.slice(0, -1)) : t === pattern
    const items = newestFirst(events.list()).filter(
      (e) =>
        created(e.created) && (!type || matches(e.type, type)) && (!types || types.some((x) => matches(e.type, x))),
    )
    return c.json(store.page(items, pageQuery(p), '/v1/events'))
  })

  return app
}

export function recurringOf(p: Params) {
  const recurring = obj(p, 'recurring')
  if (!recurring) return {}
  const interval = reqStr(recurring, 'interval', 'recurring[interval]')
  if (!INTERVALS.includes(interval)) throw badParam('recurring[interval]', `Invalid recurring[interval]: ${interval}`)
  return {
    interval: interval,
    interval_count: int(recurring, 'interval_count', 'recurring[interval_count]'),
  }
}

/** `created=123` or `created[gt|gte|lt|lte]=123`. */
function createdFilter(p: Params): (t: number) => boolean {
  const exact = typeof p.created === 'string' ? int(p, 'created') : undefined
  const range = typeof p.created === 'object' ? obj(p, 'created') : undefined
  const gt = int(range, 'gt', 'created[gt]')
  const gte = int(range, 'gte', 'created[gte]')
  const lt = int(range, 'lt', 'created[lt]')
  const lte = int(range, 'lte', 'created[lte]')
  return (t) =>
    (exact === undefined || t === exact) &&
    (gt === undefined || t > gt) &&
    (gte === undefined || t >= gte) &&
    (lt === undefined || t < lt) &&
    (lte === undefined || t <= lte)
}
