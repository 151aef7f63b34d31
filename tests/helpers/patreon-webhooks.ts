import { createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

/** The secret the webhook tests configure (PATREON_WEBHOOK_SECRET). */
export const PATREON_SECRET = 'patreon-webhook-test-secret-0123456789'

/** The Patreon tier names of the fixtures, and the demo tiers they map to. */
export const WEBHOOK_MAPPING = { Reader: 'reader', Patron: 'patron' }

/** Each event's fixture in tests/imports/fixtures/webhooks, a member payload as Patreon sends it. */
export const WEBHOOK_FIXTURES = {
  'members:create': 'members-create.json',
  'members:pledge:create': 'members-pledge-create.json',
  'members:update': 'members-update.json',
  'members:pledge:update': 'members-pledge-update.json',
  'members:pledge:delete': 'members-pledge-delete.json',
  'members:delete': 'members-delete.json',
} as const
export type WebhookEvent = keyof typeof WEBHOOK_FIXTURES

export const webhookFixture = (event: WebhookEvent): string =>
  readFileSync(join(import.meta.dirname, '..', 'imports', 'fixtures', 'webhooks', WEBHOOK_FIXTURES[event]), 'utf8')

/** Hex HMAC-MD5 of the body, as Patreon signs it. */
export const patreonSignature = (body: string, secret = PATREON_SECRET) =>
  createHmac('md5', secret).update(body).digest('hex')

/** A signed delivery's request. */
export const patreonDelivery = (event: string, body: string, signature = patreonSignature(body)): RequestInit => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/json', 'X-Patreon-Event': event, 'X-Patreon-Signature': signature },
  body,
})
