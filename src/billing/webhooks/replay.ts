import { and, inArray, ne } from 'drizzle-orm'
import type Stripe from 'stripe'
import { stripeEvents } from '../../db/schema'
import type { Services } from '../../services'
import { isMalformed, processEvent, recordFailedEvent, type EventOutcome } from './process-event'

/** As the webhook does: a failure that trying again cannot cure keeps the event as failed and goes on. */
async function processOrKeepFailed(
  services: Services & { stripe: Stripe },
  event: Stripe.Event,
): Promise<EventOutcome> {
  try {
    return await processEvent(services, event)
  } catch (error) {
    if (!isMalformed(error)) throw error
    await recordFailedEvent(services.db, event, services.clock.now())
    return 'failed'
  }
}

/**
 * Recovery after downtime: lists Stripe's events since a time (Stripe keeps
 * 30 days) and processes, oldest first, those not stored yet. Safe to run
 * any number of times.
 */
export async function replayEvents(services: Services & { stripe: Stripe }, since: Date) {
  const events: Stripe.Event[] = []
  const created = { gte: Math.floor(since.getTime() / 1000) }
  for await (const event of services.stripe.events.list({ created, limit: 100 })) events.push(event)
  events.reverse() // Stripe lists newest first

  const counts: Record<EventOutcome | 'alreadyStored', number> = {
    processed: 0,
    ignored: 0,
    duplicate: 0,
    failed: 0,
    alreadyStored: 0,
  }
  const stored = new Set<string>()
  for (let i = 0; i < events.length; i += 500) {
    const ids = events.slice(i, i + 500).map((e) => e.id)
    const rows = await services.db
      .select({ id: stripeEvents.id })
      .from(stripeEvents)
      // A failed event counts as not stored: replaying processes it again.
      .where(and(inArray(stripeEvents.id, ids), ne(stripeEvents.outcome, 'failed')))
    for (const row of rows) stored.add(row.id)
  }
  for (const event of events) {
    if (stored.has(event.id)) counts.alreadyStored += 1
    else counts[await processOrKeepFailed(services, event)] += 1
  }
  return { listed: events.length, ...counts }
}
