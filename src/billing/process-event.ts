import { sql } from 'drizzle-orm'
import type Stripe from 'stripe'
import { rowsOf } from '../db/client'
import { stripeEvents } from '../db/schema'
import { describeError, log } from '../http/log'
import type { Services } from '../services'
import { eventHandlers } from './events'
import { idOf, STORED_EVENT, text, ts, type Effects, type EventHandler, type Write } from './events/context'

export type EventOutcome = 'processed' | 'ignored' | 'duplicate'

/**
 * Handles one verified Stripe event. The event id and its effects are
 * written by one statement (data-modifying CTEs, every write guarded on the
 * event's insert), which Postgres runs atomically: a duplicate changes
 * nothing, a failure leaves nothing behind (and the caller answers 500, so
 * Stripe retries), and it costs one round trip instead of a transaction's
 * five or more. Mail goes out only after that; a mail failure is logged, not
 * retried.
 */
export async function processEvent(
  services: Services & { stripe: Stripe },
  event: Stripe.Event,
): Promise<EventOutcome> {
  const { db, stripe, config, clock } = services
  const [seen] = await rowsOf(db, sql`select 1 from ${stripeEvents} where id = ${text(event.id)}`)
  if (seen) return 'duplicate' // before asking Stripe anything

  const ctx = { stripe, config, now: clock.now(), clock }
  const handler: EventHandler | undefined = eventHandlers(db)[event.type]
  const prepared = handler ? await handler.prepare(ctx, event) : null
  const outcome = prepared === null ? 'ignored' : 'processed'
  const writes = handler && prepared !== null ? handler.writes(ctx, event, prepared) : []

  const [stored] = await rowsOf<{ id: string }>(
    db,
    sql`with ${STORED_EVENT} as (
        insert into ${stripeEvents} (id, type, customer_id, stripe_created_at, outcome, received_at)
        values (${text(event.id)}, ${text(event.type)}, ${text(customerOf(event))},
          ${ts(new Date(event.created * 1000))}, ${text(outcome)}, ${ts(ctx.now)})
        on conflict do nothing returning id)${ctes(writes)}
      select id from ${STORED_EVENT}`,
  )
  if (!stored) return 'duplicate' // a concurrent delivery of the same event won

  let effects: Effects | void = undefined
  if (handler?.after && prepared !== null) effects = await handler.after(db, ctx, event, prepared)
  for (const message of effects?.mail ?? []) {
    await services.mailer
      .send(message)
      .catch((error) => log('warn', 'mail_send_failed', { stripeEvent: event.id, ...describeError(error) }))
  }
  return outcome
}

/** The customer an event is about, for the supporter's timeline. */
function customerOf(event: Stripe.Event): string | null {
  const object = event.data.object as { object?: string; id?: string; customer?: string | { id: string } | null }
  if (object.object === 'customer') return object.id ?? null
  return idOf(object.customer)
}

function ctes(writes: Write[]) {
  const names = new Set<string>()
  for (const { name } of writes) {
    if (!/^[a-z_]+$/.test(name) || names.has(name)) throw new Error(`bad or repeated write name: ${name}`)
    names.add(name)
  }
  return sql.join(
    writes.map((w) => sql`, ${sql.raw(w.name)} as (${w.query})`),
    sql``,
  )
}
