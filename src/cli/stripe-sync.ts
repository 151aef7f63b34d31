/**
 * `npm run stripe:sync`: makes the Stripe account in STRIPE_SECRET_KEY sell
 * the tiers in DATABASE_URL (products, prices, the pledge product). Safe to
 * run any number of times; the admin pages sync single tiers on save, so this
 * is for a new Stripe account, a new database, or a save whose sync failed.
 */
import { ConfigError, isTestMode, loadConfig } from '../config'
import { connectPostgres, describePostgresUrl } from '../db/client'
import { describeErrorText } from '../http/log'
import { systemClock } from '../services'
import { createStripe } from '../billing/stripe'
import { syncAllToStripe } from '../billing/tiers/stripe-sync'

const missing = (
  [
    ['DATABASE_URL', 'postgres://user:password@host:5432/masthead'],
    ['STRIPE_SECRET_KEY', 'sk_test_…'],
  ] as const
).filter(([name]) => !process.env[name]?.trim())
if (missing.length > 0) {
  console.error(`stripe:sync needs ${missing.map(([name, example]) => `${name} (e.g. ${example})`).join(' and ')}.`)
  process.exit(1)
}

let config
try {
  config = loadConfig(process.env)
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : String(error))
  process.exit(1)
}

const url = config.DATABASE_URL!
const stripe = createStripe(config)!
const handle = connectPostgres(url, { max: 2 })
try {
  const result = await syncAllToStripe({ db: handle.db, clock: systemClock, stripe })
  const mode = isTestMode(config) ? 'test mode' : 'LIVE mode'
  console.log(
    `Synced ${result.tiers} tier${result.tiers === 1 ? '' : 's'} and the pledge product from ` +
      `${describePostgresUrl(url)} to Stripe (${mode}): ` +
      `${result.created} created, ${result.updated} updated, ${result.unchanged} unchanged.`,
  )
} catch (error) {
  // Stripe's and PostgreSQL's messages name the object or setting at fault; no bound value or credential is printed.
  console.error(`Stripe sync failed (from ${describePostgresUrl(url)}): ${describeErrorText(error)}`)
  process.exitCode = 1
} finally {
  await handle.close()
}
