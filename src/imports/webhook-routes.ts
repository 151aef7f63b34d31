import { Hono } from 'hono'
import { AppError } from '../http/errors'
import { log } from '../http/log'
import { rawBody } from '../http/input'
import { bodyLimit } from '../http/middleware'
import type { AppEnv } from '../services'
import {
  applyDelivery,
  isPatreonEvent,
  PatreonPayloadError,
  readDelivery,
  verifyPatreonSignature,
} from './patreon-webhooks'

/**
 * POST /webhooks/patreon: Patreon's member events (src/imports/patreon-webhooks.ts). Mounted for
 * machines, like Stripe's, before the session and the same-origin check: the signature
 * (X-Patreon-Signature, HMAC-MD5 of the raw body under PATREON_WEBHOOK_SECRET) is the proof of
 * where it comes from. Without the secret the route is not there (404, saying so). A missing or bad
 * signature is 401, an unknown X-Patreon-Event or a body that is not a member 400: nothing is written
 * for any of them. A signed member is applied, ignored (older than what is stored) or rejected (as the
 * import would reject the row), counted, and answered 200 with the outcome, so Patreon stops retrying.
 */
export const patreonWebhooks = new Hono<AppEnv>().use(bodyLimit()).post('/patreon', async (c) => {
  const { config, db, clock } = c.var.services
  const secret = config.PATREON_WEBHOOK_SECRET
  if (!secret) {
    throw new AppError('not_found', 'Patreon webhooks are not set up on this server (PATREON_WEBHOOK_SECRET is unset).')
  }
  const signature = c.req.header('x-patreon-signature')
  if (!signature) throw new AppError('unauthorized', 'The X-Patreon-Signature header is missing.')
  const body = await rawBody(c)
  if (!verifyPatreonSignature(secret, body, signature.trim())) {
    log('warn', 'patreon_webhook_rejected', { requestId: c.get('requestId'), reason: 'signature' })
    throw new AppError('unauthorized', 'The Patreon signature does not match this request.')
  }
  const event = c.req.header('x-patreon-event') ?? ''
  if (!isPatreonEvent(event)) {
    throw new AppError(
      'bad_request',
      'The X-Patreon-Event is not one Masthead handles (members:create, members:update, members:delete, ' +
        'members:pledge:create, members:pledge:update, members:pledge:delete).',
    )
  }
  let delivery
  try {
    delivery = readDelivery(event, new TextDecoder('utf-8', { fatal: true }).decode(body))
  } catch (error) {
    if (error instanceof PatreonPayloadError) throw new AppError('bad_request', error.message)
    if (error instanceof TypeError) throw new AppError('bad_request', 'The body is not UTF-8 text.')
    throw error
  }
  const { outcome } = await applyDelivery(db, await c.var.services.keyring, config, delivery, clock.now())
  c.set('logFields', { patreonEvent: event, outcome })
  return c.json({ received: true, outcome })
})
