import { createHmac } from 'node:crypto'
import type Stripe from 'stripe'
import { newId } from './store'
import type { AnyObject, StandInEvent } from './types'

export const API_VERSION = '2026-10-28.endive'

export type Deliver = string | ((payload: string, signatureHeader: string) => Promise<{ status: number }>) | null

/** Stripe's scheme: `t=<unix seconds>,v1=<hex HMAC-SHA256("<t>.<payload>", secret)>`. */
export function signPayload(payload: string, secret: string, timestamp: number): string {
  const v1 = createHmac('sha256', secret).update(`${timestamp}.${payload}`, 'utf8').digest('hex')
  return `t=${timestamp},v1=${v1}`
}

/**
 * Records events and delivers them one at a time, in creation order, like a single webhook endpoint.
 * Failures are recorded, never retried, never thrown: a broken receiver must not break the stand-in.
 */
export class EventLog {
  private readonly all: StandInEvent[] = []
  private readonly results: { eventId: string; status: number }[] = []
  private queue: Promise<void> = Promise.resolve()

  constructor(
    private readonly secret: string,
    private readonly deliver: Deliver,
    private readonly unix: () => number,
    private readonly log: (line: string) => void,
  ) {}

  /** Snapshots `object` now (later changes must not alter this event) and queues delivery. */
  emit(type: Stripe.Event.Type, object: AnyObject, previous?: Record<string, unknown>): StandInEvent {
    const event: StandInEvent = {
      id: newId('evt_'),
      object: 'event',
      api_version: API_VERSION,
      created: this.unix(),
      data: previous
        ? { object: structuredClone(object), previous_attributes: structuredClone(previous) }
        : { object: structuredClone(object) },
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type,
    }
    this.all.push(event)
    if (this.deliver) {
      const payload = JSON.stringify(event)
      this.queue = this.queue.then(() => this.send(event, payload))
    }
    return event
  }

  /** Resolves once every event queued so far has been delivered (or has failed). */
  idle(): Promise<void> {
    return this.queue
  }

  list(): StandInEvent[] {
    return [...this.all]
  }

  get(id: string): StandInEvent | undefined {
    return this.all.find((e) => e.id === id)
  }

  deliveries(): { eventId: string; status: number }[] {
    return this.results.map((r) => ({ ...r }))
  }

  private async send(event: StandInEvent, payload: string): Promise<void> {
    const header = signPayload(payload, this.secret, this.unix())
    let status = 0
    try {
      if (typeof this.deliver === 'function') {
        status = (await this.deliver(payload, header)).status
      } else if (this.deliver) {
        const res = await fetch(this.deliver, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json; charset=utf-8', 'Stripe-Signature': header },
          body: payload,
          signal: AbortSignal.timeout(15_000),
        })
        status = res.status
        await res.body?.cancel()
      }
    } catch (err) {
      // Only the error's class/message: payloads carry e-mail addresses and must not reach logs.
      this.log(`webhook ${event.type} ${event.id} failed: ${err instanceof Error ? err.name : 'error'}`)
      status = 0
    }
    this.results.push({ eventId: event.id, status })
    if (status < 200 || status > 299) this.log(`webhook ${event.type} ${event.id} -> ${status}`)
  }
}
