import type { Context } from 'hono'
import type { PageView } from '../entitlements/page-view'
import { executionContextOf } from '../http/middleware'
import type { AppEnv } from '../services'

/** Cloudflare's cache (`caches.default`) on Workers; on Node, the server's own (src/gateway/page-cache.ts). */
export interface EdgeCache {
  match(request: Request): Promise<Response | undefined>
  put(request: Request, response: Response): Promise<void>
}

/**
 * The cache, for a page view (a GET that accepts HTML: images and scripts go through Cloudflare's
 * own cache, or none): the one the services carry (the Node server's), else Cloudflare's.
 */
export function edgeCacheOf(c: Context<AppEnv>): EdgeCache | undefined {
  if (c.req.method !== 'GET' || !c.req.header('accept')?.includes('text/html')) return undefined
  const cache = c.var.services.pageCache ?? (globalThis as { caches?: { default?: EdgeCache } }).caches?.default
  return cache && !unavailable.has(cache) ? cache : undefined
}

/**
 * Caches that are not there (workerd run alone throws "No Cache was configured"), known per
 * isolate or process like the configuration: after the first such answer, page views no longer
 * ask them, nor keep a copy of the page for them.
 */
const unavailable = new WeakSet<EdgeCache>()

/** A page from the cache, if it has one; a cache that fails is a miss. */
export async function matchPage(cache: EdgeCache, key: Request): Promise<Response | undefined> {
  try {
    return await cache.match(key)
  } catch (error) {
    noteFailure(cache, error)
    return undefined
  }
}

/** A cache that is not there at all is not asked again; any other failure is a miss this time only. */
function noteFailure(cache: EdgeCache, error: unknown) {
  if (error instanceof Error && /no cache was configured/i.test(error.message)) unavailable.add(cache)
}

/**
 * The cache key of a page for everyone who sees it alike: the URL plus the
 * benefit set (signed in, staff, benefits, tiers), never the reader, so every
 * ad-free supporter of a tier shares one cached copy of an article and the key
 * names no one.
 */
export function edgeCacheKey(url: string, view: PageView): Request {
  const set = view.signedIn
    ? `in.${view.staff ? 'staff' : 'reader'}.${[...view.benefits].sort().join('+')}.${[...view.tierIds].sort().join('+')}`
    : 'anonymous'
  const key = new URL(url)
  key.searchParams.set('masthead-view', set)
  return new Request(key.toString(), { method: 'GET' })
}

/**
 * Whether the origin allows a shared cache to keep this page: a 200 with a
 * public lifetime, no cookie, no Vary beyond encoding. Anything the origin
 * marks private, or varies by cookie, stays uncached.
 */
export function sharable(origin: Response): boolean {
  if (origin.status !== 200 || origin.headers.has('set-cookie')) return false
  const control = (origin.headers.get('cache-control') ?? '').toLowerCase()
  if (/\b(private|no-store|no-cache)\b/.test(control) || !/\b(public|s-maxage|max-age)\b/.test(control)) return false
  const vary = (origin.headers.get('vary') ?? '').toLowerCase()
  return vary.split(/\s*,\s*/).every((name) => name === '' || name === 'accept-encoding')
}

/**
 * Keeps a copy of the streaming page for the others of its benefit set, read as the reader's copy
 * goes out (on Workers, finished after the response has gone).
 */
export function keepAtTheEdge(c: Context<AppEnv>, cache: EdgeCache, key: Request, page: Response): Response {
  if (!page.body || unavailable.has(cache)) return page
  const [forReader, forCache] = page.body.tee()
  const kept = cache.put(key, new Response(forCache, page)).catch((error: unknown) => noteFailure(cache, error))
  const ctx = executionContextOf(c)
  if (ctx) ctx.waitUntil(kept)
  return new Response(forReader, page)
}
