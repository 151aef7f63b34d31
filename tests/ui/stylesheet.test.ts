import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../helpers/app'

describe('GET /assets/style.css', () => {
  let t: TestApp
  beforeAll(async () => (t = await createTestApp()))
  afterAll(() => t.close())

  it('is served with its type, a validator and no sniffing, before anything that depends on who asks', async () => {
    const res = await t.app.request('/assets/style.css', { headers: { Cookie: 'masthead_session=whatever' } })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/css; charset=utf-8')
    expect(res.headers.get('cache-control')).toBe('public, max-age=3600')
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('etag')).toMatch(/^"[0-9a-z]+-[0-9a-z]+"$/)
    // No session was looked at: an unknown session cookie is not cleared here.
    expect(res.headers.getSetCookie()).toEqual([])
    expect(await res.text()).toContain(':root')
  })

  it('answers 304 with no body to a browser that has it', async () => {
    const etag = (await t.app.request('/assets/style.css')).headers.get('etag')!
    for (const header of [etag, `W/${etag}`, `"other", ${etag}`]) {
      const res = await t.app.request('/assets/style.css', { headers: { 'If-None-Match': header } })
      expect(res.status).toBe(304)
      expect(await res.text()).toBe('')
      expect(res.headers.get('etag')).toBe(etag)
    }
    const stale = await t.app.request('/assets/style.css', { headers: { 'If-None-Match': '"stale"' } })
    expect(stale.status).toBe(200)
  })
})
