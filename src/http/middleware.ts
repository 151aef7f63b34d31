import type { Context } from 'hono'
import { bodyLimit as honoBodyLimit } from 'hono/body-limit'
import { createMiddleware } from 'hono/factory'
import { putCookies } from './cookies'
import { AppError, onError } from './errors'
import { describeError, log, logAccess } from './log'
import type { Config } from '../config'
import type { AppEnv, ServiceProvider } from '../services'

/**
 * Puts the request's services on the context and releases them once the response has been sent:
 * on Workers, after its body has streamed to the end (or been cancelled), since a streamed body
 * such as the CSV export reads from the database as it goes, and closing the connection when the
 * handler returns cut it off mid-export. (Part of `frame`; on its own for the tests.)
 */
export const provideServices = (provide: ServiceProvider) =>
  createMiddleware<AppEnv>((c, next) => withServices(c, provide, next))

async function withServices(c: Context<AppEnv>, provide: ServiceProvider, next: () => Promise<void>): Promise<void> {
  const providing = provide(c)
  const scope = providing instanceof Promise ? await providing : providing // Node's are at hand: no wait
  c.set('services', scope.services)
  try {
    await next()
  } finally {
    const release = scope.release
    if (release) {
      const ctx = executionContextOf(c)
      const body = ctx && c.finalized ? c.res.body : null
      let sent: Promise<unknown> = Promise.resolve()
      if (body) {
        const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>()
        sent = body.pipeTo(writable).catch(() => {}) // a reader who goes away ends it too
        c.res = new Response(readable, c.res)
      }
      const released = sent
        .then(release)
        .catch((error) =>
          log('warn', 'services_release_failed', { requestId: c.get('requestId'), ...describeError(error) }),
        )
      // On Workers, finish closing after the response has gone; on Node there is nothing to release.
      if (ctx) ctx.waitUntil(released)
      else await released
    }
  }
}

/**
 * What every request goes through, in one middleware (app.ts mounts it once, after the doors):
 * 1. its id (requestIdOf), on the context for logs and on the answer;
 * 2. its services (provideServices);
 * 3. on Masthead's own addresses (`own`: under MASTHEAD_PATH; in gateway mode the rest is the
 *    publication's), the check that the address is readable (checkReadableAddress);
 * 4. the handlers; then the cookies they set (sendCookie, src/http/cookies.ts), which make the
 *    answer private (sendCookies); on Masthead's own answers the security headers
 *    (setSecurityHeaders); and the access-log line (logAccess).
 * One function rather than five middlewares, each an async frame and a dispatch step of its own
 * on every request (BENCHMARKS.md, path). A failure of its own (no services, an unreadable
 * address) is answered by onError, as Hono answers a handler's, and still gets the headers and the
 * log line.
 */
export const frame = (provide: ServiceProvider, own: (path: string) => boolean) =>
  createMiddleware<AppEnv>(async (c, next) => {
    const started = performance.now()
    const id = requestIdOf(c)
    c.set('requestId', id)
    // On Node, onto the outgoing response (a Fetch Headers object per answer costs).
    const outgoing = nodeResponseOf(c)
    if (outgoing) addOnNode(outgoing, [['X-Request-Id', id]])
    const ours = own(c.req.path)
    try {
      await withServices(c, provide, () => {
        if (ours) checkReadableAddress(c.req.url)
        return next()
      })
    } catch (error) {
      c.res = await onError(error instanceof Error ? error : new Error(String(error)), c)
    }
    const cookies = c.get('cookies')
    if (cookies) sendCookies(c, cookies, outgoing)
    if (ours) setSecurityHeaders(c, outgoing)
    if (!outgoing) {
      try {
        c.res.headers.set('X-Request-Id', id)
      } catch {
        c.header('X-Request-Id', id) // an immutable response (one straight from fetch): Hono copies it
      }
    }
    logAccess({
      requestId: id,
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Math.round((performance.now() - started) * 10) / 10,
      extra: c.get('logFields'),
    })
  })

/** The Workers execution context, for waitUntil; undefined on Node and under app.request(). */
export function executionContextOf(c: { executionCtx: { waitUntil(p: Promise<unknown>): void } }) {
  try {
    return c.executionCtx
  } catch {
    return undefined // Node and app.request() have no execution context
  }
}

/** An incoming X-Request-Id kept as it is: short, and nothing that could forge a log line. */
const WELL_FORMED_ID = /^[\w\-=]{1,64}$/

/**
 * X-Request-Id: a well-formed incoming id (a proxy's, so logs can be joined), else a new UUID.
 * (hono/request-id set it through c.header before the handler, which made every answer build a
 * Fetch Headers object; `frame` sets it on Node's outgoing response.)
 */
function requestIdOf(c: Context<AppEnv>): string {
  const incoming = c.req.header('x-request-id')
  return incoming !== undefined && WELL_FORMED_ID.test(incoming) ? incoming : crypto.randomUUID()
}

// eslint-disable-next-line no-control-regex -- control characters are what it refuses
const CONTROL = /[\u0000-\u001f\u007f]/

/**
 * Masthead's own addresses hold no control character and no broken percent-encoding: `%00` in a
 * path or a query would reach the database as a NUL, which PostgreSQL refuses (a 500), and `%FF`
 * decodes to nothing. Refused with 400 (by `frame`, on Masthead's own space only: in gateway mode
 * the publication's addresses are its own business), before any handler reads the address.
 */
function checkReadableAddress(url: string): void {
  const address = url.slice(url.indexOf('/', url.indexOf('//') + 2))
  // Without a %, nothing to decode: the address is checked as it is (decoding cost more than the test).
  let decoded = address
  if (address.includes('%')) {
    try {
      decoded = decodeURIComponent(address)
    } catch {
      throw new AppError('bad_request', 'This address is not valid: it holds a %-sequence that is not UTF-8 text.')
    }
  }
  if (CONTROL.test(decoded)) {
    throw new AppError('bad_request', 'This address holds a control character (such as %00), which no page here takes.')
  }
}

/** Methods that carry no body and change nothing. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * Bodies larger than `maxBytes` (by default MAX_BODY_BYTES) are refused with
 * 413 before anyone reads them. app.ts puts the default in front of every
 * router for people; a router that takes uploads declares its own and is
 * mounted before it. Bodyless methods skip it, and a body with a Content-Length
 * is judged by it, without touching `c.req.raw`: on Node that builds a full
 * Request, with a stream for its body, which cost two-thirds of a static route's
 * throughput (BENCHMARKS.md) and a tenth of a webhook's. A body without one
 * (chunked) is counted as it is read, by hono's bodyLimit.
 */
export const bodyLimit = (maxBytes?: number) =>
  createMiddleware<AppEnv>((c, next) => {
    if (SAFE_METHODS.has(c.req.method)) return next()
    const maxSize = maxBytes ?? c.get('services').config.MAX_BODY_BYTES
    const tooLarge = () =>
      new AppError('payload_too_large', `The request body is larger than the ${maxSize} bytes allowed.`)
    const length = c.req.header('content-length')
    if (length !== undefined && c.req.header('transfer-encoding') === undefined) {
      if (Number(length) > maxSize) throw tooLarge()
      return next()
    }
    return honoBodyLimit({
      maxSize,
      onError: () => {
        throw tooLarge()
      },
    })(c, next)
  })

const STRIPE_HOSTED_PAGES = ['https://checkout.stripe.com', 'https://billing.stripe.com']

/**
 * The headers every answer of Masthead's own carries, for a configuration. The content security
 * policy allows this origin only: no third-party script, style, font, image or frame can load.
 * Checkout and the billing portal answer a form post with a redirect to Stripe's hosted pages,
 * and browsers hold redirects after a form post to form-action too; a configured STRIPE_API_URL
 * (the local stand-in, or a Stripe-compatible test server) serves those pages from its own origin.
 */
export function securityHeadersOf(config: Pick<Config, 'STRIPE_API_URL'> | undefined): ReadonlyArray<[string, string]> {
  const formAction = ["'self'", ...STRIPE_HOSTED_PAGES]
  if (config?.STRIPE_API_URL) formAction.push(new URL(config.STRIPE_API_URL).origin)
  const csp = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    `form-action ${formAction.join(' ')}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "object-src 'none'",
  ].join('; ')
  return [
    ['Content-Security-Policy', csp],
    ['Cross-Origin-Resource-Policy', 'same-origin'],
    ['Cross-Origin-Opener-Policy', 'same-origin'],
    ['Origin-Agent-Cluster', '?1'],
    // Other sites learn nothing of where a reader came from. Not 'no-referrer': under it a browser
    // sends `Origin: null` even on this site's own form posts, and sameOriginOnly must refuse those.
    ['Referrer-Policy', 'same-origin'],
    ['Strict-Transport-Security', 'max-age=31536000; includeSubDomains'],
    ['X-Content-Type-Options', 'nosniff'],
    ['X-DNS-Prefetch-Control', 'off'],
    ['X-Download-Options', 'noopen'],
    ['X-Frame-Options', 'DENY'],
    ['X-Permitted-Cross-Domain-Policies', 'none'],
    ['X-XSS-Protection', '0'],
    ['Permissions-Policy', 'camera=(), microphone=(), geolocation=(), payment=()'],
  ]
}

/**
 * What an answer that is not a page (JSON, CSV, a redirect, an empty 204) carries: nothing in it
 * runs or frames, so it loads nothing at all and is framed by no one, is never sniffed into
 * something that runs, and is read by no other site. The rest of the page set (permissions,
 * opener, prefetching, referrers) governs documents; leaving it off cut the header block of a JSON
 * answer from about 1 KB to 250 bytes, which the server writes on every request (BENCHMARKS.md, path).
 */
const NOT_A_PAGE: ReadonlyArray<[string, string]> = [
  ['Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'"],
  ['Cross-Origin-Resource-Policy', 'same-origin'],
  ['Strict-Transport-Security', 'max-age=31536000; includeSubDomains'],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-Frame-Options', 'DENY'],
]

/** Computed once per configuration (on Workers, once per isolate: src/worker.ts keeps one per bindings). */
const securityHeadersByConfig = new WeakMap<object, ReadonlyArray<[string, string]>>()
const WITHOUT_CONFIG = securityHeadersOf(undefined)

function securityHeadersFor(config: Config | undefined): ReadonlyArray<[string, string]> {
  if (!config) return WITHOUT_CONFIG // services never came (provideServices failed): the strictest set
  let headers = securityHeadersByConfig.get(config)
  if (!headers) {
    headers = securityHeadersOf(config)
    securityHeadersByConfig.set(config, headers)
  }
  return headers
}

/**
 * Strict headers on every answer of Masthead's own, the same for every request of a configuration:
 * computed once, then set; a page gets the page set, anything else NOT_A_PAGE. Under a door for
 * machines (src/http/doors.ts) nothing is a page, so the answer's type is not read: on Node that
 * read turns the answer's plain headers into a Fetch Headers object. Called by `frame` once the
 * handler has answered (the configuration comes with the services).
 */
function setSecurityHeaders(c: Context<AppEnv>, outgoing: NodeOutgoing | undefined): void {
  const isPage = c.get('audience') !== 'machines' && c.res.headers.get('content-type')?.startsWith('text/html') === true
  const list = isPage ? securityHeadersFor(c.get('services')?.config) : NOT_A_PAGE
  // On Node, onto the outgoing response itself, which @hono/node-server writes with the route's
  // own headers: a Fetch Headers object validates every name and value it is given, and setting
  // thirteen of them cost more than the rest of a cheap JSON route (BENCHMARKS.md, path).
  if (outgoing) {
    addOnNode(outgoing, list)
    return
  }
  const headers = c.res.headers
  for (const [name, value] of list) headers.set(name, value)
}

interface NodeOutgoing {
  setHeader(name: string, value: string): unknown
  /** Masthead's Node server's response (FramedResponse, src/http/node-server.ts): headers kept to write with the head. */
  addHeaders?: (list: ReadonlyArray<readonly [string, string]>) => void
  /** The same for cookies, which also make the answer private (FramedResponse). */
  addCookies?: (cookies: readonly string[]) => void
}

/**
 * Headers onto Node's response: kept by Masthead's own server's response until it writes the head
 * with the route's (one array, no object per header), set one by one on any other.
 */
function addOnNode(outgoing: NodeOutgoing, list: ReadonlyArray<readonly [string, string]>): void {
  if (outgoing.addHeaders) outgoing.addHeaders(list)
  else for (const [name, value] of list) outgoing.setHeader(name, value)
}

/** The Node server's response for this request (@hono/node-server's bindings), or undefined elsewhere. */
function nodeResponseOf(c: { env: unknown }): NodeOutgoing | undefined {
  const outgoing = (c.env as { outgoing?: { setHeader?: unknown } } | undefined)?.outgoing
  return typeof outgoing?.setHeader === 'function' ? (outgoing as NodeOutgoing) : undefined
}

/**
 * The cookies set while answering, onto the answer, which they make private: on Masthead's own
 * answers and on the publication's pages in gateway mode alike, an error's answer included (a
 * cookie set before the error goes out with it). On Node, onto the outgoing response, which writes
 * them with the head (FramedResponse, src/http/node-server.ts): reading the answer's Cache-Control
 * here would turn its plain headers into a Fetch Headers object. Elsewhere onto the answer's
 * headers, copied first where they are immutable (a response straight from fetch).
 */
function sendCookies(c: Context<AppEnv>, cookies: string[], outgoing: NodeOutgoing | undefined): void {
  if (outgoing?.addCookies) {
    outgoing.addCookies(cookies)
    return
  }
  const answer = c.res
  try {
    putCookies(answer.headers, cookies)
  } catch {
    c.res = new Response(answer.body, answer) // immutable headers: the first append threw, nothing was added
    putCookies(c.res.headers, cookies)
  }
}

/**
 * CSRF protection for every state change: a browser always says where a
 * request comes from (Origin, or Sec-Fetch-Site), and it must be this site.
 * app.ts mounts Stripe's webhooks before it: they carry no cookies and are signed.
 */
export const sameOriginOnly = createMiddleware<AppEnv>(async (c, next) => {
  if (SAFE_METHODS.has(c.req.method)) return next()
  const origin = c.req.header('origin')
  const allowed = [new URL(c.var.services.config.APP_URL).origin, new URL(c.req.url).origin]
  const fetchSite = c.req.header('sec-fetch-site')
  const foreign = origin
    ? origin === 'null' || !allowed.includes(origin)
    : fetchSite !== undefined && fetchSite !== 'same-origin' && fetchSite !== 'none'
  if (foreign) {
    throw new AppError('forbidden', 'This request came from another site, so it was refused. Try again from this site.')
  }
  return next()
})
