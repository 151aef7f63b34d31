/**
 * Node entry (`npm start`): the same app as the Worker, served by
 * @hono/node-server. Config comes from process.env; the database is
 * DATABASE_URL through postgres.js or, when that is unset, an embedded PGlite
 * database persisted under DATA_DIR. Migrations are applied before serving.
 */
import { mkdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { serve } from '@hono/node-server'
import { createApp } from './app'
import { ConfigError, loadConfig, type Config } from './config'
import { connectPostgres, describePostgresUrl, type DatabaseHandle } from './db/client'
import { migratePgliteClient, migratePostgresUrl } from './db/migrate'
import { openPglite } from './db/pglite'
import { describeError, log } from './http/log'
import { syncAllToStripe } from './billing/tiers/stripe-sync'
import { seedDemoTiers } from './billing/tiers/tiers'
import { seedDemoArticles } from './dev/demo-articles'
import { createServices, systemClock } from './services'

async function openDatabase(
  config: Config,
): Promise<DatabaseHandle & { label: string; sessionDb?: DatabaseHandle['db'] }> {
  if (config.DATABASE_URL) {
    await migratePostgresUrl(config.DATABASE_URL)
    const pool = connectPostgres(config.DATABASE_URL, { max: config.DATABASE_POOL_SIZE, prepare: true })
    const sessions = connectPostgres(config.DATABASE_URL, { max: 1, prepare: true })
    return {
      db: pool.db,
      sessionDb: sessions.db,
      close: async () => void (await Promise.all([pool.close(), sessions.close()])),
      label: describePostgresUrl(config.DATABASE_URL),
    }
  }
  const dir = resolve(config.DATA_DIR, 'pglite')
  mkdirSync(dir, { recursive: true })
  const handle = await openPglite(dir)
  await migratePgliteClient(handle.client)
  return { ...handle, label: `embedded PGlite at ${dir} (set DATABASE_URL to use a PostgreSQL server)` }
}

/**
 * Without a Stripe key (and never in production) the local Stripe stand-in
 * plays Stripe: checkout and portal pages, and signed webhooks to this server.
 * Demo tiers make the whole flow work on a fresh database.
 */
async function startStripe(config: Config, db: DatabaseHandle['db']) {
  if (config.STRIPE_SECRET_KEY || config.APP_ENV === 'production') {
    const where = config.STRIPE_API_URL ? ` at ${config.STRIPE_API_URL}` : ''
    const label = config.STRIPE_SECRET_KEY ? `Stripe${where}` : 'not configured'
    return { config, label, afterListen: async () => {}, close: async () => {} }
  }
  const { startStripeStandIn } = await import('./dev/stripe-stand-in')
  const appHost = config.HOST === '0.0.0.0' || config.HOST === '::' ? '127.0.0.1' : config.HOST
  const standIn = await startStripeStandIn({
    deliver: `http://${appHost}:${config.PORT}/webhooks/stripe`,
    log: (line) => console.error(`stripe stand-in: ${line}`),
  })
  const withStripe: Config = {
    ...config,
    STRIPE_SECRET_KEY: standIn.secretKey,
    STRIPE_WEBHOOK_SECRET: standIn.webhookSecret,
    STRIPE_API_URL: standIn.url,
  }
  // The stand-in forgets everything when it stops: give it the tiers' products and prices
  // again, once this server listens (syncing makes events that the stand-in delivers here).
  await seedDemoTiers(db, systemClock.now())
  const afterListen = async () => {
    await syncAllToStripe(createServices({ config: withStripe, db, clock: systemClock }))
  }
  return {
    config: withStripe,
    label: `TEST MODE, local Stripe stand-in at ${standIn.url}`,
    afterListen,
    close: () => standIn.close(),
  }
}

async function main() {
  const loaded = loadConfig(process.env)
  const database = await openDatabase(loaded)
  const stripe = await startStripe(loaded, database.db)
  const config = stripe.config
  // A newcomer's first start has something to read; production starts empty.
  if (config.APP_ENV !== 'production') await seedDemoArticles(database.db, systemClock.now())
  const services = createServices({
    config,
    db: database.db,
    ...(database.sessionDb ? { sessionDb: database.sessionDb } : {}),
    clock: systemClock,
  })
  const app = createApp(() => ({ services }))

  const server = serve({ fetch: app.fetch, port: config.PORT, hostname: config.HOST }, (info) => {
    const host = info.family === 'IPv6' ? `[${info.address}]` : info.address
    console.log(`Masthead is serving http://${host}:${info.port} (public URL ${config.APP_URL})`)
    console.log(`Database: ${database.label}`)
    console.log(`Payments: ${stripe.label}`)
    stripe.afterListen().catch((error: unknown) => {
      console.error(
        `Could not set up the demo tiers in the Stripe stand-in: ${error instanceof Error ? error.message : String(error)}`,
      )
    })
  })
  server.on('error', (error: NodeJS.ErrnoException) => {
    const reason = error.code === 'EADDRINUSE' ? `port ${config.PORT} is already in use (set PORT)` : error.message
    console.error(`Masthead cannot start: ${reason}`)
    process.exit(1)
  })

  const stop = () => {
    server.close()
    Promise.allSettled([stripe.close(), database.close()]).finally(() => process.exit(0))
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
