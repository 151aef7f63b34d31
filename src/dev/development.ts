/**
 * What `npm start` adds outside production, so that a newcomer's first start
 * has something to read and something to buy: the demo articles and, without
 * a Stripe key, the local Stripe stand-in with the demo tiers (it plays
 * Stripe: checkout and portal pages, and signed webhooks to this server).
 * Node only; src/node.ts loads it with a dynamic import, never in production.
 */
import { syncAllToStripe } from '../billing/tiers/stripe-sync'
import type { Config } from '../config'
import type { Database } from '../db/client'
import { createServices, systemClock } from '../services'
import { seedDemoArticles } from './demo-articles'
import { seedDemoTiers } from './demo-tiers'
import { startStripeStandIn } from './stripe-stand-in'

/** Where payments go, as the Node entry reports and runs them. */
export interface Payments {
  config: Config
  label: string
  afterListen(): Promise<void>
  close(): Promise<void>
}

/** Seeds the demo content; starts the stand-in unless a Stripe key is configured (then null: Stripe as configured). */
export async function startDevelopment(config: Config, db: Database): Promise<Payments | null> {
  await seedDemoArticles(db, systemClock.now())
  if (config.STRIPE_SECRET_KEY) return null
  const appHost = config.HOST === '0.0.0.0' || config.HOST === '::' ? '127.0.0.1' : config.HOST
  const standIn = await startStripeStandIn({
    deliver: `http://${appHost}:${config.PORT}${config.MASTHEAD_PATH}/webhooks/stripe`,
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
  return {
    config: withStripe,
    label: `TEST MODE, local Stripe stand-in at ${standIn.url}`,
    afterListen: async () => {
      await syncAllToStripe(createServices({ config: withStripe, db, clock: systemClock }))
    },
    close: () => standIn.close(),
  }
}
