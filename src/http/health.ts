import { sql } from 'drizzle-orm'
import { Hono } from 'hono'
import journal from '../../drizzle/meta/_journal.json'
import { rowsOf } from '../db/client'
import { isPgError } from '../db/pg-errors'
import { AppError } from './errors'
import { describeError, log } from './log'
import type { AppEnv } from '../services'

/** How long /healthz waits for the database before calling it down. */
const DATABASE_TIMEOUT_MS = 3000

/**
 * The newest migration this code was built with (drizzle/meta/_journal.json): drizzle's migrator
 * records each applied migration with this time (`created_at` of drizzle.__drizzle_migrations).
 */
const NEWEST_MIGRATION = Math.max(...journal.entries.map((entry) => entry.when))

/**
 * GET /healthz, for monitors and load balancers: 200 while the database answers and holds every
 * migration this code needs; 503 `database_unavailable` or `database_not_migrated` otherwise (a
 * Worker deployed before `npm run db:migrate` ran would answer every other request 503 too).
 */
export const health = new Hono<AppEnv>().get('/', async (c) => {
  const { db } = c.var.services
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${DATABASE_TIMEOUT_MS} ms`)), DATABASE_TIMEOUT_MS)
  })
  let newest: number
  try {
    const [row] = await Promise.race([
      rowsOf<{ at: string | number | null }>(db, sql`select max(created_at) as at from drizzle.__drizzle_migrations`),
      timeout,
    ])
    newest = Number(row?.at ?? 0)
  } catch (error) {
    if (isPgError(error, 'undefinedTable')) newest = 0
    else {
      log('warn', 'healthz_database_unavailable', { requestId: c.get('requestId'), ...describeError(error) })
      throw new AppError('database_unavailable', 'The database is not answering.', { headers: { 'Retry-After': '5' } })
    }
  } finally {
    clearTimeout(timer)
  }
  if (newest < NEWEST_MIGRATION) {
    log('warn', 'healthz_database_not_migrated', { requestId: c.get('requestId') })
    throw new AppError(
      'database_not_migrated',
      'The database is not set up for this version of the site yet. Its operator must run npm run db:migrate.',
      { headers: { 'Retry-After': '60' } },
    )
  }
  c.header('Cache-Control', 'no-store')
  return c.json({ ok: true })
})
