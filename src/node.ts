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
import { createServices, systemClock } from './services'

async function openDatabase(config: Config): Promise<DatabaseHandle & { label: string }> {
  if (config.DATABASE_URL) {
    await migratePostgresUrl(config.DATABASE_URL)
    return { ...connectPostgres(config.DATABASE_URL), label: describePostgresUrl(config.DATABASE_URL) }
  }
  const dir = resolve(config.DATA_DIR, 'pglite')
  mkdirSync(dir, { recursive: true })
  const handle = await openPglite(dir)
  await migratePgliteClient(handle.client)
  return { ...handle, label: `embedded PGlite at ${dir} (set DATABASE_URL to use a PostgreSQL server)` }
}

async function main() {
  const config = loadConfig(process.env)
  const database = await openDatabase(config)
  const services = createServices({ config, db: database.db, clock: systemClock })
  const app = createApp(() => ({ services }))

  const server = serve({ fetch: app.fetch, port: config.PORT, hostname: config.HOST }, (info) => {
    const host = info.family === 'IPv6' ? `[${info.address}]` : info.address
    console.log(`Masthead is serving http://${host}:${info.port} (public URL ${config.APP_URL})`)
    console.log(`Database: ${database.label}`)
  })
  server.on('error', (error: NodeJS.ErrnoException) => {
    const reason = error.code === 'EADDRINUSE' ? `port ${config.PORT} is already in use (set PORT)` : error.message
    console.error(`Masthead cannot start: ${reason}`)
    process.exit(1)
  })

  const stop = () => {
    server.close()
    database.close().finally(() => process.exit(0))
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
