import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { createTestApp, type TestApp } from './helpers/app'

let t: TestApp
beforeAll(async () => {
  t = await createTestApp({ env: { MAX_BODY_BYTES: '2048' } })
  // Routes that exist only in this test, to reach the error paths of the real middleware stack.
  t.app.get('/api/boom', () => {
    throw new Error('database said: duplicate key (email)=(donor@example.org) token=abc')
  })
  t.app.get('/boom', () => {
    throw new Error('page failed for donor@example.org')
  })
  t.app.post('/api/echo', async (c) => c.json(await c.req.json()))
})
afterAll(() => t.close())
afterEach(() => vi.restoreAllMocks())

function captureLogs() {
  const lines: string[] = []
  const keep = (...args: unknown[]) => void lines.push(args.map(String).join(' '))
  vi.spyOn(console, 'log').mockImplementation(keep)
  vi.spyOn(console, 'error').mockImplementation(keep)
  return lines
}

describe('every response', () => {
  it('carries an X-Request-Id and security headers: a page the page set', async () => {
    const res = await t.app.request('/join')
    expect(res.headers.get('content-type')).toContain('text/html')
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'")
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'")
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('x-frame-options')).toBe('DENY')
    expect(res.headers.get('referrer-policy')).toBe('same-origin')
    expect(res.headers.get('strict-transport-security')).toContain('max-age=')
    expect(res.headers.get('permissions-policy')).toBe('camera=(), microphone=(), geolocation=(), payment=()')
  })

  it('and anything that is not a page (JSON, an error in JSON, a redirect) a set that lets nothing load', async () => {
    const answers = [
      await t.app.request('/healthz'),
      await t.app.request('/api/nothing-here'),
      await t.app.request('/account', { redirect: 'manual' }),
    ]
    for (const res of answers) {
      expect(res.headers.get('content-type') ?? '').not.toContain('text/html')
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
      expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'")
      expect(res.headers.get('x-content-type-options')).toBe('nosniff')
      expect(res.headers.get('x-frame-options')).toBe('DENY')
      expect(res.headers.get('cross-origin-resource-policy')).toBe('same-origin')
      expect(res.headers.get('strict-transport-security')).toContain('max-age=')
    }
  })

  it("lets forms go to this site and to Stripe's checkout and portal, and tells other sites nothing of where readers came from", async () => {
    const res = await t.app.request('/join')
    const formAction = res.headers.get('content-security-policy')?.match(/form-action ([^;]*)/)?.[1]
    // Checkout and the portal answer a form post with a redirect there, and browsers check it.
    expect(formAction).toBe("'self' https://checkout.stripe.com https://billing.stripe.com")
    // 'no-referrer' would make browsers send Origin: null on this site's own form posts.
    expect(res.headers.get('referrer-policy')).toBe('same-origin')
  })

  it('keeps a well-formed incoming request id, so logs can be joined with a proxy', async () => {
    const res = await t.app.request('/healthz', { headers: { 'X-Request-Id': 'edge-1234' } })
    expect(res.headers.get('x-request-id')).toBe('edge-1234')
  })

  it('replaces an incoming request id that could forge log lines', async () => {
    const res = await t.app.request('/healthz', { headers: { 'X-Request-Id': 'a"b\\n{evil}' } })
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
  })
})

describe('unknown routes', () => {
  it('answer 404 in the JSON error shape under /api', async () => {
    const res = await t.app.request('/api/nothing-here')
    expect(res.status).toBe(404)
    const body = await res.json()
    expect(body).toEqual({
      error: {
        code: 'not_found',
        message: expect.stringContaining('/api/nothing-here'),
        requestId: res.headers.get('x-request-id'),
      },
    })
  })

  it('answer 404 with a plain HTML page elsewhere', async () => {
    const res = await t.app.request('/no/such/page')
    expect(res.status).toBe(404)
    expect(res.headers.get('content-type')).toContain('text/html')
    const html = await res.text()
    expect(html).toMatch(/^<!doctype html>/i)
    expect(html).toContain('Page not found')
    expect(html).toContain(res.headers.get('x-request-id')!)
    expect(html).not.toContain('<script')
  })

  it('answer JSON under /auth only to clients that ask for it', async () => {
    const asJson = await t.app.request('/auth/nothing', { headers: { Accept: 'application/json' } })
    expect(asJson.headers.get('content-type')).toContain('application/json')
    const asPage = await t.app.request('/auth/nothing', { headers: { Accept: 'text/html,application/xhtml+xml' } })
    expect(asPage.headers.get('content-type')).toContain('text/html')
  })
})

describe('unexpected errors', () => {
  it('answer 500 without internals and log the request id without personal data', async () => {
    const logs = captureLogs()
    const res = await t.app.request('/api/boom')
    expect(res.status).toBe(500)
    const requestId = res.headers.get('x-request-id')!
    const body = await res.json()
    expect(body.error.code).toBe('internal_error')
    expect(body.error.requestId).toBe(requestId)
    const text = JSON.stringify(body)
    expect(text).not.toContain('duplicate key')
    expect(text).not.toContain('donor@example.org')
    expect(text).not.toMatch(/\bat .*\.ts:\d+/)

    const errorLine = logs.map((l) => JSON.parse(l)).find((l) => l.event === 'unhandled_error')
    expect(errorLine).toMatchObject({ level: 'error', requestId, path: '/api/boom', errorType: 'Error' })
    expect(errorLine.message).toContain('[email]')
    expect(logs.join('\n')).not.toContain('donor@example.org')
  })

  it('show pages a plain error page', async () => {
    captureLogs()
    const res = await t.app.request('/boom')
    expect(res.status).toBe(500)
    const html = await res.text()
    expect(html).toContain('Something went wrong')
    expect(html).not.toContain('donor@example.org')
    expect(html).not.toContain('page failed')
  })
})

describe('request bodies', () => {
  it('over MAX_BODY_BYTES are refused with 413 before they are read', async () => {
    const res = await t.app.request('/api/echo', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ text: 'x'.repeat(4096) }),
    })
    expect(res.status).toBe(413)
    expect((await res.json()).error).toMatchObject({
      code: 'payload_too_large',
      message: expect.stringContaining('2048 bytes'),
    })
  })

  it('within the limit are handled', async () => {
    const res = await t.app.request('/api/echo', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ text: 'hello' }),
    })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ text: 'hello' })
  })
})

describe('the stylesheet', () => {
  it('is served by the app itself', async () => {
    const res = await t.app.request('/assets/style.css')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('text/css')
    expect(await res.text()).toContain('body')
  })
})
