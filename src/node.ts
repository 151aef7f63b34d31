/**
 * Node entry (`npm start`): the same app as the Worker, served by
 * @hono/node-server. Config comes from process.env; the database is
 * DATABASE_URL through postgres.js or, when that is unset, an embedded PGlite
 * database persisted under DATA_DIR. Migrations are applied before serving.
 */
import { mkdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { appOptions, createApp } from './app'
import { ConfigError, loadConfig, type Config } from './config'
import { connectPostgres, describePostgresUrl, type DatabaseHandle } from './db/client'
import { migratePgliteClient, migratePostgresUrl } from './db/migrate'
import { invalidAdSelectors } from './gateway/markers'
import { memoryPageCache } from './gateway/page-cache'
import { describeError, log, setLogSink } from './http/log'
import { batchedLogSink } from './http/log-sink'
import { serveNode } from './http/node-server'
import type { Payments } from './dev/development'
import { runJobs } from './scheduled'
import { createServices, systemClock, type Services } from './services'
import { sealAfterMigrations } from './accounts/seal-existing'
import { commitGroupFor, type CommitGroup } from './db/commit-group'
import { recentSet } from './util/recent-set'

async function openDatabase(
  config: Config,
): Promise<DatabaseHandle & { label: string; lookupDb?: DatabaseHandle['db']; commitGroup?: CommitGroup }> {
  if (config.DATABASE_URL) {
    await migratePostgresUrl(config.DATABASE_URL)
    const pool = connectPostgres(config.DATABASE_URL, { max: config.DATABASE_POOL_SIZE, prepare: true })
    const lookups = connectPostgres(config.DATABASE_URL, { max: 1, prepare: true })
    return {
      db: pool.db,
      lookupDb: lookups.db,
      commitGroup: commitGroupFor(pool.db, { prepare: true }),
      close: async () => void (await Promise.all([pool.close(), lookups.close()])),
      label: describePostgresUrl(config.DATABASE_URL),
    }
  }
  const dir = resolve(config.DATA_DIR, 'pglite')
  mkdirSync(dir, { recursive: true })
  const { openPglite } = await import('./db/pglite') // only when asked for: see migratePgliteClient
  const handle = await openPglite(dir, { migrated: true })
  await migratePgliteClient(handle.client)
  return { ...handle, label: `embedded PGlite at ${dir} (set DATABASE_URL to use a PostgreSQL server)` }
}

/** Payments as configured: Stripe itself (or the Stripe-compatible STRIPE_API_URL), or none. */
function configuredPayments(config: Config): Payments {
  const where = config.STRIPE_API_URL ? ` at ${config.STRIPE_API_URL}` : ''
  const label = config.STRIPE_SECRET_KEY ? `Stripe${where}` : 'not configured'
  return { config, label, afterListen: async () => {}, close: async () => {} }
}

/**
 * When the server looks for job steps again with none due: a job queued by this server wakes the
 * loop at once (services.kickJobs); this catches one queued elsewhere (the command line, another
 * server on the same database). An idle server costs the database nothing in between.
 */
const JOBS_IDLE_MS = 5 * 60_000
const JOBS_BUDGET_MS = 30_000

/**
 * The jobs the Worker's Cron Trigger runs (src/scheduled.ts), run here in-process: the due steps,
 * one run at a time, then a sleep until the next step is due (at most JOBS_IDLE_MS), or until a job
 * is queued (`kick`). `stop` waits for a step under way.
 */
function startJobLoop(services: Services) {
  let timer: NodeJS.Timeout | undefined
  let running: Promise<unknown> | null = null
  let again = false
  let stopped = false
  const schedule = (ms: number) => {
    clearTimeout(timer)
    if (!stopped) timer = setTimeout(tick, ms)
  }
  const tick = () => {
    if (running) {
      again = true // queued while a run was under way: look once more when it ends
      return
    }
    running = runJobs(services, JOBS_BUDGET_MS)
      .then((report) => {
        const wait = report.nextAt ? report.nextAt.getTime() - Date.now() : JOBS_IDLE_MS
        schedule(again ? 0 : Math.min(Math.max(wait, 100), JOBS_IDLE_MS))
      })
      .catch((error: unknown) => {
        log('error', 'jobs_run_failed', describeError(error))
        schedule(again ? 0 : JOBS_IDLE_MS)
      })
      .finally(() => {
        running = null
        again = false
      })
  }
  schedule(0)
  return {
    kick: () => schedule(0),
    stop: async () => {
      stopped = true
      clearTimeout(timer)
      await running
    },
  }
}

/** Stripe event ids the server remembers having stored (about 1.5 MB): a redelivery of one needs no statement. */
const RECENT_EVENTS = 20_000

async function main() {
  // Log lines in batches, off each request's path; whatever is pending is written on exit.
  setLogSink(batchedLogSink())
  const loaded = loadConfig(process.env)
  const badSelectors = invalidAdSelectors(loaded.AD_SELECTORS)
  if (badSelectors.length > 0) {
    throw new ConfigError(
      badSelectors.map((selector) => `AD_SELECTORS: "${selector}" is not a CSS selector the rewriter accepts`),
    )
  }
  const database = await openDatabase(loaded)
  await sealAfterMigrations(database.db, loaded, console.log)
  // Production starts empty and pays through Stripe; anywhere else the development tools may step in.
  const development = loaded.APP_ENV === 'production' ? null : await import('./dev/development')
  const stripe = (await development?.startDevelopment(loaded, database.db)) ?? configuredPayments(loaded)
  const config = stripe.config
  let kickJobs = () => {}
  const services = createServices({
    config,
    db: database.db,
    kickJobs: () => kickJobs(),
    ...(database.lookupDb ? { lookupDb: database.lookupDb } : {}),
    ...(database.commitGroup ? { commitGroup: database.commitGroup } : {}),
    recentEvents: recentSet<string>(RECENT_EVENTS),
    clock: systemClock,
    // Gateway mode: rewritten pages the origin lets shared caches keep, kept here per benefit set.
    ...(config.ORIGIN_URL && config.GATEWAY_CACHE_MB > 0
      ? { pageCache: memoryPageCache({ maxBytes: config.GATEWAY_CACHE_MB * 1024 * 1024, clock: systemClock }) }
      : {}),
  })
  const options = appOptions(config)
  const app = createApp(() => ({ services }), options)
  const jobs = startJobLoop(services)
  kickJobs = jobs.kick

  const server = serveNode(
    { fetch: app.fetch, port: config.PORT, hostname: config.HOST, basePath: options.basePath },
    (info) => {
      const host = info.family === 'IPv6' ? `[${info.address}]` : info.address
      console.log(`Masthead is serving http://${host}:${info.port} (public URL ${config.APP_URL})`)
      console.log(`Database: ${database.label}`)
      console.log(`Payments: ${stripe.label}`)
      stripe.afterListen().catch((error: unknown) => {
        console.error(
          `Could not set up the demo tiers in the Stripe stand-in: ${error instanceof Error ? error.message : String(error)}`,
        )
      })
    },
  )
  server.on('error', (error: NodeJS.ErrnoException) => {
    const reason = error.code === 'EADDRINUSE' ? `port ${config.PORT} is already in use (set PORT)` : error.message
    console.error(`Masthead cannot start: ${reason}`)
    process.exit(1)
  })

  const stop = () => {
    server.close()
    void jobs
      .stop()
      .then(() => Promise.allSettled([stripe.close(), database.close()]))
      .finally(() => process.exit(0))
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    console.error(error.message)
  } else {
    // Start-up failures are usually a database that is unreachable or locked.
    console.error(`Masthead cannot start: ${error instanceof Error ? error.message : String(error)}`)
    log('error', 'startup_failed', describeError(error))
  }
  process.exit(1)
})
