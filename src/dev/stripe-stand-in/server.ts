// The stand-in's HTTP surface: Stripe's /v1 API (bearer-key auth, Stripe error shapes, idempotency keys)
// plus the hosted checkout and portal pages.
import { Hono } from 'hono'
import { billingRoutes } from './api-billing'
import { catalogRoutes } from './api-catalog'
import type { ApiDeps } from './api-context'
import { StripeApiError } from './form'
import { pageRoutes } from './pages'

/** Shows enough of a key to recognise it, as Stripe's error does, never the whole secret. */
function maskKey(key: string): string {
  if (key.length <= 12) return '*'.repeat(key.length)
  return `${key.slice(0, 8)}${'*'.repeat(Math.min(16, key.length - 12))}${key.slice(-4)}`
}

export function createStandInApp(deps: ApiDeps & { secretKey: string }) {
  const app = new Hono()
  // Replays of a POST with the same Idempotency-Key get the first answer, as with Stripe (the SDK keys every POST).
  const replies = new Map<string, { status: number; body: string }>()

  app.use('/v1/*', async (c, next) => {
    const auth = c.req.header('Authorization') ?? ''
    const match = /^Bearer (.+)$/.exec(auth)
    if (!match) {
      return c.json(
        {
          error: {
            type: 'invalid_request_error',
            message:
              "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
          },
        },
        401,
      )
    }
    if (match[1] !== deps.secretKey) {
      return c.json(
        { error: { type: 'invalid_request_error', message: `Invalid API Key provided: ${maskKey(match[1]!)}` } },
        401,
      )
    }
    const key = c.req.method === 'POST' ? c.req.header('Idempotency-Key') : undefined
    const cacheKey = key ? `${c.req.path} ${key}` : undefined
    const cached = cacheKey ? replies.get(cacheKey) : undefined
    if (cached) {
      return new Response(cached.body, {
        status: cached.status,
        headers: { 'Content-Type': 'application/json', 'Idempotent-Replayed': 'true' },
      })
    }
    await next()
    c.header('Request-Id', `req_${crypto.randomUUID().replaceAll('-', '').slice(0, 14)}`)
    if (cacheKey && c.res.status < 500)
      replies.set(cacheKey, { status: c.res.status, body: await c.res.clone().text() })
  })

  app.route('/', catalogRoutes(deps))
  app.route('/', billingRoutes(deps))
  app.route('/', pageRoutes(deps))

  app.notFound((c) => {
    if (!c.req.path.startsWith('/v1/')) return c.text('Not found', 404)
    return c.json(
      {
        error: {
          type: 'invalid_request_error',
          message: `Unrecognized request URL (${c.req.method}: ${c.req.path}). The local Stripe stand-in implements only the subset Masthead uses.`,
        },
      },
      404,
    )
  })

  app.onError((err, c) => {
    if (err instanceof StripeApiError) {
      return c.json(err.body(), err.status as 400 | 401 | 402 | 404)
    }
    // Name only: messages could carry request data (e-mail addresses) into logs.
    const frames = (err.stack ?? '')
      .split('\n')
      .filter((line) => line.trimStart().startsWith('at '))
      .slice(0, 5)
    console.error(`stripe stand-in: unexpected ${err.name} on ${c.req.method} ${c.req.path}\n${frames.join('\n')}`)
    return c.json({ error: { type: 'api_error', message: 'The local Stripe stand-in hit an internal error.' } }, 500)
  })

  return app
}
