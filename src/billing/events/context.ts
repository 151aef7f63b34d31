import type Stripe from 'stripe'
import type { Config } from '../../config'
import type { Database } from '../../db/client'
import type { MailMessage } from '../../mail/mailer'
import type { Clock } from '../../services'

export interface EventContext {
  stripe: Stripe
  config: Config
  /** When the event was taken up; `clock` for readings taken later (the time of a re-fetch). */
  now: Date
  clock: Clock
}

/** Side effects that must wait until the event's transaction has committed. */
export interface Effects {
  mail?: MailMessage[]
}

/**
 * One kind of event. `prepare` reads what it needs from Stripe before any
 * transaction opens (it re-fetches rather than trusting the payload's
 * snapshot) and returns null to ignore the event; `apply` writes, inside the
 * transaction that also stores the event id.
 */
export interface EventHandler<Prepared = unknown> {
  prepare(ctx: EventContext, event: Stripe.Event): Promise<Prepared | null>
  apply(tx: Database, ctx: EventContext, event: Stripe.Event, prepared: Prepared): Promise<Effects | void>
}

export const handler = <P>(h: EventHandler<P>) => h as EventHandler<unknown>

/** The id of an expandable field, whether Stripe sent the id or the object. */
export const idOf = (value: string | { id: string } | null | undefined): string | null =>
  value == null ? null : typeof value === 'string' ? value : value.id
