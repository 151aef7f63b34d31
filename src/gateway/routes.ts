import type { Context } from 'hono'
import type { PageView } from '../entitlements/page-view'
import { readerOf } from '../accounts/reader'
import { AppError } from '../http/errors'
import type { AppEnv } from '../services'
import { edgeCacheKey, edgeCacheOf, keepAtTheEdge, matchPage, sharable } from './edge-cache'
import { forwardToOrigin } from './proxy'
import { rewritePage } from './rewrite'

/**
 * Gateway mode: every request outside MASTHEAD_PATH goes to the publication's
 * own site (ORIGIN_URL), and its HTML pages come back rewritten for the reader
 * (src/gateway/rewrite.ts) while they stream. A page view decides from the
 * signed page-view cookie, with no database work; only a reader with a session
 * and no current cookie costs one session lookup, which issues the cookie
 * (src/accounts/reader.ts). Anonymous readers cost nothing.
 */
export async function gateway(c: Context<AppEnv>): Promise<Response> {
  const { config, clock } = c.var.services
  const origin = config.ORIGIN_URL!
  const path = c.req.path
  if (path === config.MASTHEAD_PATH || path.startsWith(`${config.MASTHEAD_PATH}/`)) {
    throw new AppError('not_found', `There is nothing at ${path}.`) // Masthead's own space: never the origin's
  }
  if (isBlocked(path, config.ORIGIN_BLOCKED_PATHS)) throw new AppError('not_found', `There is nothing at ${path}.`)

  const view = await readerOf(c)
  // A page the origin lets shared caches keep is cached per benefit set, not per reader: on Workers in
  // Cloudflare's cache, on Node in the server's own (GATEWAY_CACHE_MB).
  const cache = edgeCacheOf(c)
  const key = cache ? edgeCacheKey(c.req.url, view) : undefined
  const cached = cache && key ? await matchPage(cache, key) : undefined
  if (cached) return cacheFor(c, cached, { view, rewritten: true, fromCache: true })

  const response = await forwardToOrigin(c, origin, config.ORIGIN_TIMEOUT_MS)
  let page = rewritePage(response, view, {
    adSelectors: config.AD_SELECTORS,
    mastheadPath: config.MASTHEAD_PATH,
    publication: config.PUBLICATION_NAME,
    now: clock.now(),
  })
  const rewritten = response !== page
  if (cache && key && rewritten && sharable(response)) page = keepAtTheEdge(c, cache, key, page)
  return cacheFor(c, page, { view, rewritten })
}

/**
 * Anonymous readers get the origin's cache headers, varied by cookie; a page
 * rewritten for a signed-in reader is private.
 */
function cacheFor(
  c: Context<AppEnv>,
  page: Response,
  { view, rewritten, fromCache = false }: { view: PageView; rewritten: boolean; fromCache?: boolean },
): Response {
  // Adjusted in place: every response here is the gateway's own, but for Cloudflare's cache, whose are immutable.
  const res = fromCache ? new Response(page.body, page) : page
  const headers = res.headers
  const vary = headers.get('vary')
  if (
    !vary
      ?.toLowerCase()
      .split(/\s*,\s*/)
      .includes('cookie')
  )
    headers.set('vary', vary ? `${vary}, Cookie` : 'Cookie')
  // Cookies the gateway set (the page view, a renewed session) go out with it through the frame,
  // which makes it private too (src/http/cookies.ts).
  if (rewritten && view.signedIn) headers.set('cache-control', 'private, no-cache')
  // Ours, not one the origin sent: the frame's request id yields to an answer's own (on Node).
  headers.set('x-request-id', c.get('requestId'))
  return res
}

/** ORIGIN_BLOCKED_PATHS: `*` stands for any run of characters, `/feed*` blocks /feed and /feed/atom. */
export function isBlocked(path: string, patterns: string[]): boolean {
  return patterns.some((pattern) => {
    const regex = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')
    return new RegExp(`^${regex}$`).test(path)
  })
}
