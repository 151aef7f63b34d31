/**
 * What `frame` (src/http/middleware.ts) does once a handler has answered: the cookies set on the
 * way (sendCookie, src/http/cookies.ts) go out on the answer, an error's included, and an answer
 * that sets one is never for a shared cache, whatever the route said, on the publication's own
 * addresses (gateway mode) too; an answer that sets none keeps its own Cache-Control. (On Node's
 * server the same happens on the outgoing response: tests/http/node-server.test.ts.)
 */
import { Hono, type Context } from 'hono'
import { describe, expect, it } from 'vitest'
import { AppError, onError } from '../../src/http/errors'
import { sendCookie } from '../../src/http/cookies'
import { frame } from '../../src/http/middleware'
import type { AppEnv, Services } from '../../src/services'

function app() {
  const app = new Hono<AppEnv>()
  app.use(
    frame(
      () => ({ services: {} as Services }),
      (path) => !path.startsWith('/theirs'),
    ),
  )
  const withCookie = (c: Context<AppEnv>) => sendCookie(c, 'masthead_view=x; Path=/')
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
  app.get('/two-cookies', (c) => {
    sendCookie(c, 'masthead_session=s; Path=/')
    withCookie(c)
    return c.text('two', 200, { 'Set-Cookie': 'theirs=1; Path=/' })
  })
  // A response straight from fetch has immutable headers; Response.redirect's are too.
  app.get('/immutable-with-cookie', (c) => {
    withCookie(c)
    return Response.redirect('https://example.org/elsewhere', 302)
  })
  app.get('/theirs/page', (c) => c.text('the publication', 200, { 'Cache-Control': 'public, max-age=60' }))
  app.get('/theirs/page-with-cookie', (c) => {
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

  it("writes every cookie after the answer's own, and copies an answer whose headers are immutable", async () => {
    const a = app()
    const two = await a.request('/two-cookies')
    expect(two.headers.getSetCookie()).toEqual([
      'theirs=1; Path=/',
      'masthead_session=s; Path=/',
      'masthead_view=x; Path=/',
    ])
    expect(two.headers.get('cache-control')).toBe('private, no-cache')
    const redirect = await a.request('/immutable-with-cookie')
    expect(redirect.status).toBe(302)
    expect(redirect.headers.get('location')).toBe('https://example.org/elsewhere')
    expect(redirect.headers.getSetCookie()).toEqual(['masthead_view=x; Path=/'])
    expect(redirect.headers.get('cache-control')).toBe('private, no-cache')
  })

  it("leaves the publication's own answers as they are, unless a cookie of ours goes with them", async () => {
    const a = app()
    const page = await a.request('/theirs/page')
    expect(page.headers.get('cache-control')).toBe('public, max-age=60')
    expect(page.headers.get('x-frame-options')).toBeNull() // the security headers are for our own answers
    const withOurs = await a.request('/theirs/page-with-cookie')
    expect(withOurs.headers.getSetCookie()).toEqual(['masthead_view=x; Path=/'])
    expect(withOurs.headers.get('cache-control')).toBe('private, no-cache')
  })
})
