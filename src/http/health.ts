import { sql } from 'drizzle-orm'
import { Hono } from 'hono'
import { AppError } from './errors'
import { describeError, log } from './log'
import type { AppEnv } from '../services'

/** How long /healthz waits for the database before calling it down. */
const DATABASE_TIMEOUT_MS = 3000

/** GET /healthz, for monitors and load balancers: 200 while the database answers, else 503. */
export const health = new Hono<AppEnv>().get('/', async (c) => {
  const { db } = c.var.services
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${DATABASE_TIMEOUT_MS} ms`)), DATABASE_TIMEOUT_MS)
  })
  try {
    await Promise.race([db.execute(sql`select 1`), timeout])
  } catch (error) {
    log('warn', 'healthz_database_unavailable', { requestId: c.get('requestId'), ...describeError(error) })
    throw new AppError('database_unavailable', 'The database is not answering.', { headers: { 'Retry-After': '5' } })
  } finally {
    clearTimeout(timer)
  }
  c.header('Cache-Control', 'no-store')
  return c.json({ ok: true })
})
