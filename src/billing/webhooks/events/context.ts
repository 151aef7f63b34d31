import { sql, type SQL } from 'drizzle-orm'
import type Stripe from 'stripe'
import type { Config } from '../../../config'
import type { Database } from '../../../db/client'
import type { MailMessage } from '../../../mail/mailer'
import type { Keyring } from '../../../privacy/keys'
import type { Clock } from '../../../services'

/** What every handler step reads: the services for this event (no handler keeps its own), and its time. */
export interface EventContext {
  db: Database
  /** For the reads every delivery of a kind makes (services.lookupDb): the account's memberships. */
  lookupDb: Database
  stripe: Stripe
  config: Config
  /** To seal the address of an account a checkout creates, and open the addresses mail goes to. */
  keyring: Keyring
  /** When the event was taken up; `clock` for readings taken later (the time of a re-fetch). */
  now: Date
  clock: Clock
  /**
   * Places the accounts created without a place in the name order (`placeWaitingAccounts`,
   * src/accounts/name-order.ts): on the Node server by waking its job loop, which places them
   * before its jobs, so that the event's answer waits for no lock; elsewhere here and now. Never
   * throws: an account it could not place is placed by the next run of the jobs.
   */
  placeNewAccounts(): Promise<void>
}

/** Side effects that must wait until the event has been stored. */
export interface Effects {
  mail?: MailMessage[]
}

/**
 * One data-modifying step of an event's statement, as `name as (query)`.
 * The query must write only `when(STORED)`: if the event id was already
 * stored (a concurrent duplicate), the statement writes nothing at all.
 */
export type Write = BuiltWrite | FixedWrite

/** A write built for this event (Drizzle composes and serialises it each time). */
export interface BuiltWrite {
  name: string
  query: SQL
}

/**
 * A write of fixed text (`fixedWrite`), its values given per event: the statement of a
 * list of fixed writes is serialised once and kept, and an event only fills in the values.
 * For the writes nearly every event makes (a subscription's upsert, a payment, a link), where
 * Drizzle's building cost about 60 µs of the server's CPU per event (BENCHMARKS.md, webhooks).
 */
export interface FixedWrite {
  name: string
  fixed: FixedQuery
  /** The values of its slots (`slot`), by name. */
  values: Record<string, unknown>
}

/** A query whose values are slots, made once (module-level constants): `key` tells it from others. */
export interface FixedQuery {
  key: string
  query: SQL
  /**
   * The query returns a boolean `changed` column: true when it changed something a handler's
   * `finish` depends on (a subscription's paying state, an account's customers). The statement
   * reports whether any of its writes did (`Stored.changed`).
   */
  tellsChange?: boolean
}

export const fixedWrite = (key: string, query: SQL, { tellsChange = false } = {}): FixedQuery => ({
  key,
  query,
  tellsChange,
})

/** What the statement that stored an event reports, for the handler's `finish`. */
export interface Stored {
  /** A write that tells change (`tellsChange`) changed something; false when none did, or none tells. */
  changed: boolean
}

/**
 * A value of a fixed write, typed for Postgres as `text`, `ts` and the rest type the values of
 * a built one. Slot names are unique across the writes of one statement: each write's start
 * with its name (`subscription.id`).
 */
export const slot = {
  text: (name: string) => sql`${sql.placeholder(name)}::text`,
  ts: (name: string) => sql`${sql.placeholder(name)}::timestamptz`,
  int: (name: string) => sql`${sql.placeholder(name)}::integer`,
  bool: (name: string) => sql`${sql.placeholder(name)}::boolean`,
}

/** A timestamp as a slot's value, as `ts` gives it to a built write. */
export const iso = (value: Date | null) => (value ? value.toISOString() : null)

/**
 * One kind of event. `prepare` decides from the signed event (and, only
 * where the event cannot say, from Stripe: `asksStripe`) what the event means,
 * and returns null to ignore it. `writes` are the event's effects, run as a
 * single statement together with the insert of the event id, so they commit
 * or fail together (see process-event.ts). If that statement fails because
 * the event's subscription snapshot shares a second with the stored one,
 * `settle` re-reads the subscription from Stripe and the statement runs once
 * more with that. `after` runs once the statement has committed, only for
 * the delivery that stored it. `finish` is work in Stripe that must get done
 * however many deliveries it takes (settling a duplicate membership).
 */
export interface EventHandler<Prepared = unknown> {
  /** prepare calls Stripe: duplicates are turned away before it, not after. */
  asksStripe?: boolean
  prepare(ctx: EventContext, event: Stripe.Event): Promise<Prepared | null>
  writes(ctx: EventContext, event: Stripe.Event, prepared: Prepared): Write[] | Promise<Write[]>
  settle?(ctx: EventContext, event: Stripe.Event, prepared: Prepared): Promise<Prepared | null>
  after?(ctx: EventContext, event: Stripe.Event, prepared: Prepared): Promise<Effects | void>
  /**
   * Runs after `after` for the delivery that stored the event, and again for
   * every later delivery of it: if it throws, the event is answered 500,
   * Stripe delivers it again, and that delivery, though a duplicate, runs it
   * once more. So it must be idempotent, and claim whatever must happen once.
   * `stored`: what the statement reported, for the delivery that stored the
   * event; undefined for a duplicate, which knows nothing of what changed.
   */
  finish?(ctx: EventContext, event: Stripe.Event, prepared: Prepared, stored?: Stored): Promise<Effects | void>
}

export const handler = <P>(h: EventHandler<P>) => h as EventHandler<unknown>

/** The CTE holding the event's id when this delivery stored it, and nothing when it was already there. */
export const STORED_EVENT = sql.raw('stored_event')

/** The guard every write carries: only if this delivery stored the event. */
export const whenStored = sql`exists (select 1 from ${STORED_EVENT})`

/** Parameters typed for Postgres: in `insert … select`, an untyped parameter would be text. */
export const ts = (value: Date | null) => sql`${value ? value.toISOString() : null}::timestamptz`
export const int = (value: number | null) => sql`${value}::integer`
export const bool = (value: boolean) => sql`${value}::boolean`
export const text = (value: string | null | undefined) => sql`${value ?? null}::text`

/** The id of an expandable field, whether Stripe sent the id or the object. */
export const idOf = (value: string | { id: string } | null | undefined): string | null =>
  value == null ? null : typeof value === 'string' ? value : value.id

/**
 * The fee-cover part of an amount, from the `fee_cover` metadata Masthead sets at checkout
 * (checkout-routes.tsx), never more than the amount itself (a discount may have lowered it); 0 without.
 */
export const feeCoverOf = (metadata: Record<string, string> | null | undefined, amount: number): number => {
  const fee = Number(metadata?.fee_cover ?? 0)
  return Number.isSafeInteger(fee) && fee > 0 ? Math.min(fee, Math.max(amount, 0)) : 0
}
