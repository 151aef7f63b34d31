import { fillPlaceholders, sql } from 'drizzle-orm'
import { placeWaitingAccounts } from '../../accounts/name-order'
import type Stripe from 'stripe'
import { fixedStatement, runStatement, type Database } from '../../db/client'
import { statementOf, type CommitGroup, type Statement } from '../../db/commit-group'
import { isPgError } from '../../db/pg-errors'
import { stripeEvents } from '../../db/schema'
import { describeError, log } from '../../http/log'
import type { Keyring } from '../../privacy/keys'
import type { Services } from '../../services'
import { eventHandlers } from './events'
import {
  idOf,
  iso,
  slot,
  STORED_EVENT,
  text,
  ts,
  type Effects,
  type EventContext,
  type EventHandler,
  type Stored,
  type Write,
} from './events/context'

export type EventOutcome = 'processed' | 'ignored' | 'duplicate' | 'failed'

/**
 * Handles one verified Stripe event. The event id and its effects are
 * written by one statement (data-modifying CTEs, every write guarded on the
 * event's insert), which Postgres runs atomically: a duplicate (its insert
 * finds the id stored) changes nothing, a failure leaves nothing behind (and
 * the caller answers 500, so Stripe retries), and it costs one round trip
 * instead of a transaction's five or more. Effects come from the signed event itself; Stripe is asked
 * only when the event cannot be ordered against the stored state (a
 * subscription snapshot from the same second: the statement fails, the
 * handler re-reads the subscription, and the statement runs again) or does
 * not say enough (a refund). Mail goes out only after the statement has
 * committed; a mail failure is logged, not retried. A handler's `finish`
 * (work in Stripe that must get done) runs for duplicates too: a delivery
 * whose `finish` failed answered 500, and Stripe's next delivery finishes it.
 */
export async function processEvent(
  services: Services & { stripe: Stripe },
  event: Stripe.Event,
): Promise<EventOutcome> {
  const { db, stripe, config, clock } = services
  const handler: EventHandler | undefined = eventHandlers[event.type]
  const keyring = await services.keyring
  const ctx: EventContext = {
    db,
    lookupDb: services.lookupDb,
    stripe,
    config,
    keyring,
    now: clock.now(),
    clock,
    placeNewAccounts: () => placeNewAccounts(services, keyring),
  }
  // An event this process stored lately is a duplicate without asking the database (services.recentEvents,
  // on the Node server); it still finishes what a failed delivery left undone.
  if (handler && services.recentEvents?.has(event.id)) {
    if (handler.finish && !handler.asksStripe) {
      const prepared = await handler.prepare(ctx, event)
      if (prepared !== null) await send(services, event, await handler.finish(ctx, event, prepared))
    }
    return 'duplicate'
  }
  // Otherwise the event's statement tells a duplicate itself (its insert finds the id stored, and no write
  // runs), so a delivery makes no lookup first: one round trip fewer for every first delivery, for a statement
  // that costs a duplicate a little more than a lookup did (BENCHMARKS.md, webhooks). A handler that asks
  // Stripe to prepare is the exception: a duplicate is turned away by the lookup before Stripe is asked.
  if (handler?.asksStripe && (await isStored(services.lookupDb, event))) return 'duplicate'
  let prepared = handler ? await handler.prepare(ctx, event) : null
  let stored: Stored | null
  try {
    stored = await store(ctx, event, handler, prepared, services.commitGroup)
  } catch (error) {
    if (!handler?.settle || prepared === null || !isPgError(error, 'snapshotTie')) throw error
    if (await isStored(services.lookupDb, event)) return 'duplicate' // a concurrent delivery of the same event won
    prepared = await handler.settle(ctx, event, prepared)
    stored = await store(ctx, event, handler, prepared, services.commitGroup)
  }
  services.recentEvents?.add(event.id)
  if (!stored) {
    // A duplicate still finishes what a failed delivery left undone.
    if (handler?.finish && prepared !== null) await send(services, event, await handler.finish(ctx, event, prepared))
    return 'duplicate'
  }

  if (handler?.after && prepared !== null) await send(services, event, await handler.after(ctx, event, prepared))
  if (handler?.finish && prepared !== null) {
    await send(services, event, await handler.finish(ctx, event, prepared, stored))
  }
  return prepared === null ? 'ignored' : 'processed'
}

async function send(services: Services, event: Stripe.Event, effects: Effects | void): Promise<void> {
  for (const message of effects?.mail ?? []) {
    await services.mailer
      .send(message)
      .catch((error) => log('warn', 'mail_send_failed', { stripeEvent: event.id, ...describeError(error) }))
  }
}

/**
 * Stored, and not as failed: a failed event is processed again when it comes again (or is replayed).
 * Asked of every handled delivery, so a statement of fixed text (fixedStatement: nothing built per call), on
 * services.lookupDb: on the Node server one connection, where the lookups of the deliveries that arrive together
 * go in one socket write.
 */
const storedEvent = fixedStatement<{ one: number }>(
  `select 1 as one from stripe_events where id = $1 and outcome <> 'failed'`,
)
async function isStored(db: Database, event: Stripe.Event): Promise<boolean> {
  const [seen] = await storedEvent(db, [event.id])
  return seen !== undefined
}

/**
 * Whether a failure to process an event lies in the event itself, so that every delivery fails
 * the same way and Stripe's retries for three days would change nothing: reading an object that
 * is not what Stripe documents (a TypeError on a missing field, a RangeError on a bad date), a
 * schema refusing it, or the database refusing its data (class 22, a NOT NULL or CHECK
 * constraint). Anything else (the database or Stripe unreachable, a statement that failed for a
 * reason of its own) may pass on a later delivery, and answers 500 so that Stripe retries.
 */
export function isMalformed(error: unknown): boolean {
  const e = error as { name?: unknown; message?: unknown; code?: unknown; cause?: unknown } | null
  if (error instanceof RangeError || error instanceof SyntaxError || e?.name === 'ZodError') return true
  // fetch's own network failure is a TypeError too: not the event's fault.
  if (error instanceof TypeError) return e?.message !== 'fetch failed' && e?.cause === undefined
  const code = typeof e?.code === 'string' ? e.code : ''
  if (/^22[0-9A-Z]{3}$/.test(code) || code === '23502' || code === '23514') return true
  return e?.cause !== undefined && e.cause !== error && isMalformed(e.cause)
}

/**
 * Keeps an event that cannot be processed as failed, so that Stripe, answered 200, stops
 * retrying it, and the event can be processed again once what failed is fixed: Stripe delivering
 * it again (a resend from its dashboard) or `npm run stripe:replay` takes it as not stored yet.
 */
export async function recordFailedEvent(db: Database, event: Stripe.Event, now: Date): Promise<void> {
  let customer: string | null = null
  try {
    customer = customerOf(event)
  } catch {
    // A malformed object names no customer we can trust.
  }
  const created = Number.isFinite(event.created) ? new Date(event.created * 1000) : now
  await db.execute(sql`insert into ${stripeEvents} (id, type, customer_id, stripe_created_at, outcome, received_at)
    values (${text(String(event.id))}, ${text(String(event.type))}, ${text(customer)}, ${ts(created)}, 'failed',
      ${ts(now)})
    on conflict (id) do nothing`)
}

/**
 * Where a job loop runs (the Node server: `kickJobs`), it is woken to place the waiting accounts,
 * and the event's answer does not wait for the name order's lock; elsewhere (a Worker, whose Cron
 * Trigger runs the jobs a minute apart) they are placed before the answer. A failure is logged:
 * the next run of the jobs places them (src/scheduled.ts).
 */
async function placeNewAccounts(services: Services, keyring: Keyring): Promise<void> {
  if (services.kickJobs) return services.kickJobs()
  try {
    await placeWaitingAccounts(services.db, keyring)
  } catch (error) {
    log('error', 'name_order_placement_failed', describeError(error))
  }
}

/** The one statement: the event's id, then its writes. Null if the id was already stored. */
async function store(
  ctx: EventContext,
  event: Stripe.Event,
  handler: EventHandler | undefined,
  prepared: unknown,
  commitGroup: CommitGroup | undefined,
): Promise<Stored | null> {
  const writes = handler && prepared !== null ? await handler.writes(ctx, event, prepared) : []
  const values: Record<string, unknown> = {
    'event.id': event.id,
    'event.type': event.type,
    'event.customer': customerOf(event),
    'event.created': iso(new Date(event.created * 1000)),
    'event.outcome': prepared === null ? 'ignored' : 'processed',
    'event.now': iso(ctx.now),
  }
  for (const write of writes) if ('fixed' in write) Object.assign(values, write.values)
  const { text, params } = statementOfWrites(writes)
  const statement = { text, params: fillPlaceholders(params, values) }
  // On the Node server, committed together with the other events' statements of the moment (src/db/commit-group.ts).
  const [stored] = commitGroup
    ? await commitGroup.run<StoredRow>(statement)
    : await runStatement<StoredRow>(ctx.db, statement.text, statement.params)
  return stored === undefined ? null : { changed: stored.changed === true }
}

/** The statement's one row, when it stored the event. */
interface StoredRow {
  id: string
  changed: boolean | null
}

/** The insert of the event's id: nothing if it is stored already (but as failed, to be processed again). */
const STORE_EVENT = sql`insert into ${stripeEvents} (id, type, customer_id, stripe_created_at, outcome, received_at)
  values (${slot.text('event.id')}, ${slot.text('event.type')}, ${slot.text('event.customer')},
    ${slot.ts('event.created')}, ${slot.text('event.outcome')}, ${slot.ts('event.now')})
  on conflict (id) do update set outcome = excluded.outcome, customer_id = excluded.customer_id,
    received_at = excluded.received_at
    where ${stripeEvents}.outcome = 'failed'
  returning id`

/**
 * The statements of lists of fixed writes, serialised once each (a handful: one per kind of event and
 * path), by the writes' names and queries. Pure: text and parameter slots, no I/O.
 */
const fixedStatements = new Map<string, Statement>()

/** The event's statement, its values still slots (`fillPlaceholders` fills them). */
function statementOfWrites(writes: Write[]): Statement {
  const fixed = writes.every((write) => 'fixed' in write)
  const key = fixed ? writes.map((write) => `${write.name}=${write.fixed.key}`).join(',') : null
  const known = key === null ? undefined : fixedStatements.get(key)
  if (known) return known
  const statement = statementOf(sql`with ${STORED_EVENT} as (${STORE_EVENT})${ctes(writes)}
    select id, ${changedBy(writes)} as changed from ${STORED_EVENT}`)
  if (key !== null) fixedStatements.set(key, statement)
  return statement
}

/** The customer an event is about, for the supporter's timeline. */
function customerOf(event: Stripe.Event): string | null {
  const object = event.data.object as { object?: string; id?: string; customer?: string | { id: string } | null }
  if (object.object === 'customer') return object.id ?? null
  return idOf(object.customer)
}

/** Whether a write that tells change (`tellsChange`) changed something: false if none tells. */
function changedBy(writes: Write[]) {
  const telling = writes.filter((w) => 'fixed' in w && w.fixed.tellsChange)
  if (telling.length === 0) return sql`false`
  return sql.join(
    telling.map((w) => sql`coalesce((select bool_or(changed) from ${sql.raw(w.name)}), false)`),
    sql` or `,
  )
}

function ctes(writes: Write[]) {
  const names = new Set<string>()
  for (const { name } of writes) {
    if (!/^[a-z_]+$/.test(name) || names.has(name)) throw new Error(`bad or repeated write name: ${name}`)
    names.add(name)
  }
  return sql.join(
    writes.map((w) => sql`, ${sql.raw(w.name)} as (${'fixed' in w ? w.fixed.query : w.query})`),
    sql``,
  )
}
