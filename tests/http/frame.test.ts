/**
 * What `frame` (src/http/middleware.ts) does once a handler has answered, on Masthead's own
 * addresses: an answer that sets a cookie is never for a shared cache, whatever the route said,
 * an error's answer included; an answer that sets none keeps its own Cache-Control; the
 * publication's own addresses (gateway mode) are left as they are.
 */
import { Hono, type Context } from 'hono'
import { describe, expect, it } from 'vitest'
import { AppError, onError } from '../../src/http/errors'
import { frame, markCookieSet } from '../../src/http/middleware'
import type { AppEnv, Services } from '../../src/services'

function app() {
  const app = new Hono<AppEnv>()
  app.use(
    frame(
      () => ({ services: {} as Services }),
      (path) => !path.startsWith('/theirs'),
    ),
  )
  const withCookie = (c: Context<AppEnv>) => {
    markCookieSet(c)
    c.header('Set-Cookie', 'masthead_view=x; Path=/', { append: true })
  }
  app.get('/public', (c) => c.text('for everyone', 200, { 'Cache-Control': 'public, max-age=60' }))
  app.get('/public-with-cookie', (c) => {
    withCookie(c)
    return c.text('for one reader', 200, { 'Cache-Control': 'public, max-age=60' })
  })
  app.get('/no-store-with-cookie', (c) => {
    withCookie(c)
    return c.text('for one reader', 200, { 'Cache-Control': 'no-store' })
  })
  app.get('/cookie-then-error', (c) => {
    withCookie(c)
    throw new AppError('bad_request', 'Something about this request is wrong.')
  })
  app.get('/theirs/page', (c) => {
    withCookie(c)
    return c.text('the publication', 200, { 'Cache-Control': 'public, max-age=60' })
  })
  app.onError(onError) // as src/app.ts
  return app
}

describe('frame, once answered: cookies and shared caches', () => {
  it('makes an answer that sets a cookie private, and leaves one that sets none as it was', async () => {
    const a = app()
    const plain = await a.request('/public')
    expect(plain.headers.get('cache-control')).toBe('public, max-age=60')
    expect(plain.headers.get('set-cookie')).toBeNull()
    const cookie = await a.request('/public-with-cookie')
    expect(cookie.headers.get('set-cookie')).toContain('masthead_view=x')
    expect(cookie.headers.get('cache-control')).toBe('private, no-cache')
    // Already kept from shared caches: the route's own stays.
    expect((await a.request('/no-store-with-cookie')).headers.get('cache-control')).toBe('no-store')
  })

  it("does the same for an error's answer that carries a cookie set before the error", async () => {
    const res = await app().request('/cookie-then-error')
    expect(res.status).toBe(400)
    expect(res.headers.get('set-cookie')).toContain('masthead_view=x')
    expect(res.headers.get('cache-control')).toBe('private, no-cache')
  })

  it("leaves the publication's own addresses to the gateway", async () => {
    const res = await app().request('/theirs/page')
    expect(res.headers.get('cache-control')).toBe('public, max-age=60')
  })
})
