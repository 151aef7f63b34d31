import { inArray } from 'drizzle-orm'
import type Stripe from 'stripe'
import { stripeEvents } from '../../db/schema'
import type { Services } from '../../services'
import { processEvent, type EventOutcome } from './process-event'

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
    alreadyStored: 0,
  }
  const stored = new Set<string>()
  for (let i = 0; i < events.length; i += 500) {
    const ids = events.slice(i, i + 500).map((e) => e.id)
    const rows = await services.db
      .select({ id: stripeEvents.id })
      .from(stripeEvents)
      .where(inArray(stripeEvents.id, ids))
    for (const row of rows) stored.add(row.id)
  }
  for (const event of events) {
    if (stored.has(event.id)) counts.alreadyStored += 1
    else counts[await processEvent(services, event)] += 1
  }
  return { listed: events.length, ...counts }
}
