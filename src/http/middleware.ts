import { bodyLimit as honoBodyLimit } from 'hono/body-limit'
import { createMiddleware } from 'hono/factory'
import { secureHeaders as honoSecureHeaders } from 'hono/secure-headers'
import { AppError } from './errors'
import { describeError, log } from './log'
import type { AppEnv, ServiceProvider } from '../services'

/**
 * Puts the request's services on the context and releases them once the response has been sent:
 * on Workers, after its body has streamed to the end (or been cancelled), since a streamed body
 * such as the CSV export reads from the database as it goes, and closing the connection when the
 * handler returns cut it off mid-export.
 */
export const provideServices = (provide: ServiceProvider) =>
  createMiddleware<AppEnv>(async (c, next) => {
    const scope = await provide(c)
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
  })

/** The Workers execution context, for waitUntil; undefined on Node and under app.request(). */
export function executionContextOf(c: { executionCtx: { waitUntil(p: Promise<unknown>): void } }) {
  try {
    return c.executionCtx
  } catch {
    return undefined // Node and app.request() have no execution context
  }
}

/** One line per request: what was asked and how it went. The path only: query strings may carry tokens. */
export const accessLog = createMiddleware<AppEnv>(async (c, next) => {
  const started = performance.now()
  await next()
  log(c.res.status >= 500 ? 'error' : 'info', 'request', {
    requestId: c.get('requestId'),
    method: c.req.method,
    path: c.req.path,
    status: c.res.status,
    ms: Math.round((performance.now() - started) * 10) / 10,
    ...c.get('logFields'),
  })
})

// eslint-disable-next-line no-control-regex -- control characters are what it refuses
const CONTROL = /[\u0000-\u001f\u007f]/

/**
 * Masthead's own addresses hold no control character and no broken percent-encoding: `%00` in a
 * path or a query would reach the database as a NUL, which PostgreSQL refuses (a 500), and `%FF`
 * decodes to nothing. Refused here with 400, before any handler reads the address. Mounted on
 * Masthead's own space only: in gateway mode the publication's addresses are its own business.
 */
export const readableAddress = createMiddleware<AppEnv>(async (c, next) => {
  const url = c.req.url
  const address = url.slice(url.indexOf('/', url.indexOf('//') + 2))
  let decoded: string
  try {
    decoded = decodeURIComponent(address)
  } catch {
    throw new AppError('bad_request', 'This address is not valid: it holds a %-sequence that is not UTF-8 text.')
  }
  if (CONTROL.test(decoded)) {
    throw new AppError('bad_request', 'This address holds a control character (such as %00), which no page here takes.')
  }
  return next()
})

/** Methods that carry no body and change nothing. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * Bodies larger than `maxBytes` (by default MAX_BODY_BYTES) are refused with
 * 413 before anyone reads them. app.ts puts the default in front of every
 * router for people; a router that takes uploads declares its own and is
 * mounted before it. Bodyless methods skip it without touching `c.req.raw`:
 * on Node that would build a full Request per call, which cost two-thirds of
 * a static route's throughput (BENCHMARKS.md).
 */
export const bodyLimit = (maxBytes?: number) =>
  createMiddleware<AppEnv>((c, next) => {
    if (SAFE_METHODS.has(c.req.method)) return next()
    const maxSize = maxBytes ?? c.var.services.config.MAX_BODY_BYTES
    return honoBodyLimit({
      maxSize,
      onError: () => {
        throw new AppError('payload_too_large', `The request body is larger than the ${maxSize} bytes allowed.`)
      },
    })(c, next)
  })

const STRIPE_HOSTED_PAGES = ['https://checkout.stripe.com', 'https://billing.stripe.com']

/**
 * Strict headers on every response. The content security policy allows this
 * origin only: no third-party script, style, font, image or frame can load.
 */
export const secureHeaders = honoSecureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'", 'data:'],
    fontSrc: ["'self'"],
    connectSrc: ["'self'"],
    // Checkout and the billing portal answer a form post with a redirect to Stripe's hosted pages,
    // and browsers hold redirects after a form post to form-action too. stripeFormTargets (below)
    // adds a configured STRIPE_API_URL, where the local stand-in serves its pages.
    formAction: ["'self'", ...STRIPE_HOSTED_PAGES],
    frameAncestors: ["'none'"],
    baseUri: ["'none'"],
    objectSrc: ["'none'"],
  },
  // Other sites learn nothing of where a reader came from. Not 'no-referrer': under it a browser
  // sends `Origin: null` even on this site's own form posts, and sameOriginOnly must refuse those.
  referrerPolicy: 'same-origin',
  xFrameOptions: 'DENY',
  strictTransportSecurity: 'max-age=31536000; includeSubDomains',
  permissionsPolicy: { camera: [], microphone: [], geolocation: [], payment: [] },
})

/**
 * A response that sets a cookie (a session renewed or cleared) is never for
 * a shared cache, whatever the route said: otherwise the cache would hand
 * one reader's cookie to the next.
 */
export const neverCacheCookies = createMiddleware<AppEnv>(async (c, next) => {
  await next()
  if (c.res.headers.has('set-cookie') && !/\b(private|no-store)\b/.test(c.res.headers.get('cache-control') ?? '')) {
    c.header('Cache-Control', 'private, no-cache')
  }
})

/**
 * With STRIPE_API_URL set (the local stand-in, or a Stripe-compatible test server), checkout and
 * portal pages are served from that origin: let forms redirect there as they do to Stripe's.
 * Registered before secureHeaders, so that it finishes after it and edits the header it set; the
 * origin comes from the services that provideServices gives the request further in.
 */
export const stripeFormTargets = createMiddleware<AppEnv>(async (c, next) => {
  await next()
  const apiUrl = c.var.services?.config.STRIPE_API_URL
  const csp = c.res.headers.get('content-security-policy')
  if (!apiUrl || !csp) return
  const origin = new URL(apiUrl).origin
  c.res.headers.set('content-security-policy', csp.replace(/form-action ([^;]*)/, `form-action $1 ${origin}`))
})

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
