/**
 * `npm run stripe:replay -- --since 2026-11-20T00:00:00Z`: processes the Stripe
 * events since that time that Masthead has not stored (after downtime, or a
 * webhook endpoint that was misconfigured). Needs DATABASE_URL and the Stripe keys.
 */
import { parseArgs } from 'node:util'
import { loadConfig, ConfigError } from '../config'
import { connectPostgres, describePostgresUrl } from '../db/client'
import { describeErrorText } from '../http/log'
import { createServices } from '../services'
import { replayEvents } from '../billing/webhooks/replay'

function fail(message: string): never {
  console.error(message)
  process.exit(1)
}

const { values } = parseArgs({ options: { since: { type: 'string' } } })
const since = values.since ? new Date(values.since) : undefined
if (!since || Number.isNaN(since.getTime())) {
  fail('Usage: npm run stripe:replay -- --since <ISO date>, e.g. --since 2026-11-20T00:00:00Z')
}
if (Date.now() - since.getTime() > 30 * 86_400_000) {
  console.warn('Stripe keeps events for 30 days: older ones cannot be replayed.')
}

let config
try {
  config = loadConfig(process.env)
} catch (error) {
  fail(error instanceof ConfigError ? error.message : String(error))
}
if (!config.DATABASE_URL) fail('stripe:replay needs DATABASE_URL (the database the server uses).')
const database = connectPostgres(config.DATABASE_URL)
const services = createServices({ config, db: database.db })
if (!services.stripe) fail('stripe:replay needs STRIPE_SECRET_KEY.')
try {
  const counts = await replayEvents({ ...services, stripe: services.stripe }, since)
  console.log(
    `Replayed Stripe events since ${since.toISOString()} into ${describePostgresUrl(config.DATABASE_URL)}: ` +
      `${counts.listed} listed, ${counts.alreadyStored} already stored, ${counts.processed} processed, ` +
      `${counts.ignored} ignored, ${counts.duplicate} duplicates, ${counts.failed} failed (kept as failed: fix the cause and run again).`,
  )
} catch (error) {
  fail(`Replay failed: ${describeErrorText(error)}. Nothing half-done: run it again.`)
} finally {
  await database.close()
}
