import { eq } from 'drizzle-orm'
import type Stripe from 'stripe'
import { stripeEvents } from '../db/schema'
import { describeError, log } from '../http/log'
import type { Services } from '../services'
import { eventHandlers } from './events'
import type { Effects } from './events/context'

export type EventOutcome = 'processed' | 'ignored' | 'duplicate'

/**
 * Handles one verified Stripe event. The event id is stored in the same
 * transaction as its effects, so a duplicate changes nothing and a failure
 * leaves nothing behind (and the caller answers 500, so Stripe retries).
 * Mail goes out only after the commit; a mail failure is logged, not retried.
 */
export async function processEvent(
  services: Services & { stripe: Stripe },
  event: Stripe.Event,
): Promise<EventOutcome> {
  const { db, stripe, config, clock } = services
  const [seen] = await db.select({ id: stripeEvents.id }).from(stripeEvents).where(eq(stripeEvents.id, event.id))
  if (seen) return 'duplicate'

  const ctx = { stripe, config, now: clock.now(), clock }
  const handler = eventHandlers(db)[event.type]
  const prepared = handler ? await handler.prepare(ctx, event) : null
  const outcome = prepared === null ? 'ignored' : 'processed'

  const stored = await db.transaction(async (tx): Promise<{ effects: Effects | void } | null> => {
    const inserted = await tx
      .insert(stripeEvents)
      .values({
        id: event.id,
        type: event.type,
        stripeCreatedAt: new Date(event.created * 1000),
        outcome,
        receivedAt: ctx.now,
      })
      .onConflictDoNothing()
      .returning({ id: stripeEvents.id })
    if (inserted.length === 0) return null // a concurrent delivery of the same event won
    return { effects: handler && prepared !== null ? await handler.apply(tx, ctx, event, prepared) : undefined }
  })
  if (!stored) return 'duplicate'

  for (const message of stored.effects?.mail ?? []) {
    await services.mailer
      .send(message)
      .catch((error) => log('warn', 'mail_send_failed', { stripeEvent: event.id, ...describeError(error) }))
  }
  return outcome
}
