/**
 * Runs the stand-in on its own for local development: `npm run stripe:stand-in`.
 *   STANDIN_PORT           default 12111
 *   STANDIN_WEBHOOK_URL    where to POST events (e.g. http://localhost:8787/webhooks/stripe); unset = record only
 *   STANDIN_SECRET_KEY     default sk_test_standin
 *   STANDIN_WEBHOOK_SECRET default whsec_standin
 * State lives in memory and is gone when the process exits.
 */
import { startStripeStandIn } from '../dev/stripe-stand-in'

const standIn = await startStripeStandIn({
  port: Number(process.env.STANDIN_PORT ?? 12111),
  host: process.env.STANDIN_HOST ?? '127.0.0.1',
  secretKey: process.env.STANDIN_SECRET_KEY,
  webhookSecret: process.env.STANDIN_WEBHOOK_SECRET,
  deliver: process.env.STANDIN_WEBHOOK_URL || null,
  log: (line) => console.warn(`stripe stand-in: ${line}`),
})

console.log(`Stripe stand-in (TEST MODE, no real money moves) listening on ${standIn.url}
  STRIPE_API_URL=${standIn.url}
  STRIPE_SECRET_KEY=${standIn.secretKey}
  STRIPE_WEBHOOK_SECRET=${standIn.webhookSecret}
  webhooks -> ${process.env.STANDIN_WEBHOOK_URL || '(not delivered; set STANDIN_WEBHOOK_URL)'}`)

const stop = () => void standIn.close().then(() => process.exit(0))
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
