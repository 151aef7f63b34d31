import { Hono } from 'hono'
import type Stripe from 'stripe'
import { AppError } from '../../http/errors'
import { describeError, log } from '../../http/log'
import { rawBodyText } from '../../http/input'
import { bodyLimit } from '../../http/middleware'
import type { AppEnv } from '../../services'
import { isMalformed, processEvent, recordFailedEvent, type EventOutcome } from './process-event'

/**
 * POST /webhooks/stripe. The signature is checked on the raw body (with Web
 * Crypto, so it works on Workers); nothing is stored for a missing or bad one.
 * Mounted for machines, before the session and the same-origin check: Stripe
 * sends no cookies, and its signature is the proof of where it comes from.
 */
export const stripeWebhooks = new Hono<AppEnv>().use(bodyLimit()).post('/stripe', async (c) => {
  const services = c.get('services')
  const { stripe, config } = services
  if (!stripe || !config.STRIPE_WEBHOOK_SECRET) {
    throw new AppError('misconfigured', 'Stripe is not configured on this server.')
  }
  const signature = c.req.header('stripe-signature')
  if (!signature) throw new AppError('bad_request', 'The Stripe-Signature header is missing.')
  const payload = await rawBodyText(c)
  let event: Stripe.Event
  try {
    event = await stripe.webhooks.constructEventAsync(
      payload,
      signature,
      config.STRIPE_WEBHOOK_SECRET,
      undefined,
      services.webhookCrypto,
      // The injected clock (in milliseconds), so that the signature's age is checked against the app's time.
      services.clock.now().getTime(),
    )
  } catch {
    log('warn', 'stripe_webhook_rejected', { requestId: c.get('requestId'), reason: 'signature' })
    throw new AppError('bad_request', 'The Stripe signature does not match this request.')
  }
  let outcome: EventOutcome
  try {
    outcome = await processEvent({ ...services, stripe }, event)
  } catch (error) {
    // A signed event that fails the same way every time (its objects not what Stripe documents):
    // kept as failed and logged, and 200, so that Stripe stops retrying; it is processed again when
    // it comes again. Anything else (the database or Stripe unreachable): 500, and Stripe retries.
    if (!isMalformed(error)) throw error
    await recordFailedEvent(services.db, event, services.clock.now())
    log('error', 'stripe_event_failed', {
      requestId: c.get('requestId'),
      stripeEvent: event.id,
      type: event.type,
      ...describeError(error),
    })
    outcome = 'failed'
  }
  c.set('logFields', { stripeEvent: event.id, type: event.type, outcome })
  return c.json({ received: true, outcome })
})
