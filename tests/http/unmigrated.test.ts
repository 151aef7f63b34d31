import { sql } from 'drizzle-orm'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { createApp } from '../../src/app'
import { loadConfig } from '../../src/config'
import { connectPostgres, type Database } from '../../src/db/client'
import { migratePgliteClient, migratePostgresUrl } from '../../src/db/migrate'
import { openPglite } from '../../src/db/pglite'
import { createServices } from '../../src/services'
import { fixedClock } from '../helpers/app'
import { createServerDatabase } from '../helpers/db'

/**
 * A database `npm run db:migrate` has not run on (the Worker never migrates; a deploy can come
 * before the migrations): every request that reaches a missing table or column is answered 503
 * `database_not_migrated`, telling the operator what to run, and logged once as such, not as a
 * 500 nobody can act on.
 */

let db: Database
let migrate: () => Promise<void>
let close: () => Promise<void>
let lines: string[]

beforeAll(async () => {
  const serverUrl = process.env.TEST_DATABASE_URL
  if (serverUrl) {
    const server = await createServerDatabase(serverUrl)
    const handle = connectPostgres(server.url, { max: 2 })
    db = handle.db
    migrate = () => migratePostgresUrl(server.url)
    close = async () => {
      await handle.close()
      await server.drop()
    }
  } else {
    const pglite = await openPglite()
    db = pglite.db
    migrate = () => migratePgliteClient(pglite.client)
    close = pglite.close
  }
})
afterAll(() => close?.())

beforeEach(() => {
  lines = []
  const keep = (line: unknown) => void lines.push(String(line))
  vi.spyOn(console, 'log').mockImplementation(keep)
  vi.spyOn(console, 'error').mockImplementation(keep)
})
afterEach(() => vi.restoreAllMocks())

const app = () =>
  createApp(() => ({
    services: createServices({
      config: loadConfig({ APP_ENV: 'test', APP_URL: 'http://localhost:8787' }),
      db,
      clock: fixedClock(),
    }),
  }))

const MESSAGE = 'The database is not set up for this version of the site yet. Its operator must run npm run db:migrate.'

/** The structured log lines of one request. */
const linesOf = (requestId: string | null) =>
  lines.filter((line) => line.includes(`"requestId":"${requestId}"`)).map((line) => JSON.parse(line))

describe('a database that was never migrated', () => {
  it('answers API clients 503 database_not_migrated, saying what to run', async () => {
    const res = await app().request('/api/articles/any-article')
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('60')
    expect(await res.json()).toEqual({
      error: { code: 'database_not_migrated', message: MESSAGE, requestId: res.headers.get('x-request-id') },
    })
  })

  it('answers people 503 with the same words on an error page', async () => {
    const res = await app().request('/join')
    expect(res.status).toBe(503)
    expect(res.headers.get('content-type')).toContain('text/html')
    expect(await res.text()).toContain(MESSAGE)
  })

  it('logs it once per request as database_not_migrated with the missing table, and nothing of the person', async () => {
    const res = await app().request('/auth/sign-in', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: 'operator-test@unmigrated.example' }),
    })
    expect(res.status).toBe(503)
    const logged = linesOf(res.headers.get('x-request-id'))
    expect(logged.map((line) => line.event)).toEqual(['database_not_migrated', 'request'])
    expect(logged[0]).toMatchObject({ level: 'error', method: 'POST', path: '/auth/sign-in' })
    expect(JSON.stringify(logged[0])).toMatch(/"sqlState":"42P01"/)
    expect(JSON.stringify(logged[0])).toMatch(/relation \\"\w+\\" does not exist/)
    expect(lines.join('\n')).not.toContain('operator-test')
    expect(lines.join('\n')).not.toContain('unhandled_error')
  })

  it('has /healthz say so, for the load balancer: 503 database_not_migrated', async () => {
    const res = await app().request('/healthz')
    expect(res.status).toBe(503)
    expect((await res.json()).error).toMatchObject({ code: 'database_not_migrated', message: MESSAGE })
  })

  it('answers as usual once the migrations have run, and 503 again for a column a migration would add', async () => {
    await migrate()
    const healthy = await app().request('/healthz')
    expect([healthy.status, await healthy.json()]).toEqual([200, { ok: true }])
    // A database whose newest migration is older than the code's: /healthz tells.
    await db.execute(sql`update drizzle.__drizzle_migrations set created_at = created_at - 1
      where created_at = (select max(created_at) from drizzle.__drizzle_migrations)`)
    const behindHealth = await app().request('/healthz')
    expect(behindHealth.status).toBe(503)
    expect((await behindHealth.json()).error.code).toBe('database_not_migrated')
    await db.execute(sql`update drizzle.__drizzle_migrations set created_at = created_at + 1
      where created_at = (select max(created_at) from drizzle.__drizzle_migrations)`)
    expect((await app().request('/healthz')).status).toBe(200)
    const res = await app().request('/api/articles/any-article')
    expect(res.status).toBe(404)
    expect((await res.json()).error.code).toBe('not_found')

    // A database one migration behind the code: a column the code reads is missing.
    await db.execute(sql`alter table tiers drop column description`)
    const behind = await app().request('/join')
    expect(behind.status).toBe(503)
    const logged = linesOf(behind.headers.get('x-request-id'))
    expect(logged[0]).toMatchObject({ event: 'database_not_migrated' })
    expect(JSON.stringify(logged[0])).toMatch(/"sqlState":"42703"/)
  })
})
