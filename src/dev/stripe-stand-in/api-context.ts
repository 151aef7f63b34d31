import type { Context, Hono } from 'hono'
import type { CheckoutFlow } from './checkout-flow'
import type { EventLog } from './events'
import { int, parseForm, str, strArr, type Params } from './form'
import type { Lifecycle } from './lifecycle'
import type { Store } from './store'

/** What the /v1 route modules share. */
export interface ApiDeps {
  store: Store
  events: EventLog
  lifecycle: Lifecycle
  checkout: CheckoutFlow
  /** The stand-in's own origin, known only once it listens; used for hosted page URLs. */
  baseUrl: () => string
}

/** Query string and form body merged, as Stripe reads GET/DELETE params from the query and POST params from the body. */
export async function readParams(c: Context): Promise<Params> {
  const query = new URL(c.req.url).search.slice(1)
  const body = c.req.method === 'POST' ? await c.req.text() : ''
  return parseForm(query, body)
}

export function expandOf(p: Params): string[] {
  return strArr(p, 'expand') ?? []
}

export function pageQuery(p: Params) {
  return { limit: int(p, 'limit'), starting_after: str(p, 'starting_after'), ending_before: str(p, 'ending_before') }
}

/** Newest first, as Stripe lists. */
export function newestFirst<T>(values: Iterable<T>): T[] {
  return [...values].reverse()
}

/** GET /v1/<things>/:id: the object with `expand[]` applied, or Stripe's 404 `resource_missing`. */
export function retrieveRoute<T>(app: Hono, store: Store, path: string, objects: Map<string, T>, kind: string) {
  app.get(path, async (c) => {
    const p = await readParams(c)
    return c.json(store.render(store.get(objects, kind, c.req.param('id') ?? ''), expandOf(p)))
  })
}
