import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createApp } from '../../src/app'
import { loadConfig } from '../../src/config'
import { connectPostgres } from '../../src/db/client'
import { createServices } from '../../src/services'
import { createTestApp, fixedClock, type TestApp } from '../helpers/app'

let t: TestApp
beforeAll(async () => {
  t = await createTestApp()
})
afterAll(() => t.close())

describe('GET /healthz', () => {
  it(`answers 200 {"ok": true} after a round trip to the database`, async () => {
    const res = await t.app.request('/healthz')
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ ok: true })
    expect(res.headers.get('cache-control')).toBe('no-store')
  })

  it('answers 503 in the error shape when the database does not answer', async () => {
    // Port 1 on loopback refuses connections: a database that is down.
    const down = connectPostgres('postgres://postgres:unused@127.0.0.1:1/masthead', { max: 1, connectTimeout: 2 })
    const config = loadConfig({ APP_ENV: 'test' })
    const app = createApp(() => ({ services: createServices({ config, db: down.db, clock: fixedClock() }) }))
    vi.spyOn(console, 'error').mockImplementation(() => {})
    vi.spyOn(console, 'log').mockImplementation(() => {})
    try {
      const res = await app.request('/healthz')
      expect(res.status).toBe(503)
      expect(res.headers.get('retry-after')).toBe('5')
      const body = await res.json()
      expect(body).toEqual({
        error: {
          code: 'database_unavailable',
          message: 'The database is not answering.',
          requestId: res.headers.get('x-request-id'),
        },
      })
    } finally {
      vi.restoreAllMocks()
      await down.close()
    }
  })
})
