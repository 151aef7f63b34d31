import { afterAll, beforeAll } from 'vitest'
import type Stripe from 'stripe'
import { syncAllToStripe } from '../../src/billing/tiers/stripe-sync'
import { seedDemoTiers } from '../../src/dev/demo-tiers'
import { startStripeStandIn, type StripeStandIn } from '../../src/dev/stripe-stand-in'
import { payments, stripeEvents, subscriptions } from '../../src/db/schema'
import { createTestApp, fixedClock, type TestApp } from './app'

export interface BillingWorld {
  t: TestApp
  standIn: StripeStandIn
  clock: ReturnType<typeof fixedClock>
  stripe: Stripe
  /** Sends one event to the app the way Stripe would: signed, as JSON. */
  deliver(event: Stripe.Event | string, signature?: string): Promise<Response>
  /** Billing state as stored, for comparing runs. */
  snapshot(): Promise<unknown>
  /** Forgets every event and its effects (accounts and customer links stay). */
  reset(): Promise<void>
}

/**
 * The real app on a fresh database, its Stripe client pointed at the local
 * stand-in through STRIPE_API_URL, demo tiers synced. With `live`, events are
 * delivered to the app as they happen; otherwise only recorded, for tests to
 * deliver in whatever order they like.
 */
export function useBillingWorld(options: { live?: boolean; env?: Record<string, string> } = {}): BillingWorld {
  const world = {} as BillingWorld
  beforeAll(async () => {
    const clock = fixedClock('2026-11-25T12:00:00Z')
    let app: TestApp['app'] | undefined
    const standIn = await startStripeStandIn({
      now: clock.now,
      deliver: options.live
        ? async (payload, signature) => {
            const res = await app!.request('/webhooks/stripe', {
              method: 'POST',
              headers: { 'Content-Type': 'application/json', 'Stripe-Signature': signature },
              body: payload,
            })
            return { status: res.status }
          }
        : null,
    })
    const t = await createTestApp({
      clock,
      env: {
        ...standIn.env,
        ...options.env,
      },
    })
    app = t.app
    await seedDemoTiers(t.services.db, clock.now())
    await syncAllToStripe(t.services)
    Object.assign(world, {
      t,
      standIn,
      clock,
      stripe: t.services.stripe!,
      deliver: (event: Stripe.Event | string, signature?: string) => {
        const payload = typeof event === 'string' ? event : JSON.stringify(event)
        return t.app.request('/webhooks/stripe', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'Stripe-Signature': signature ?? standIn.sign(payload) },
          body: payload,
        })
      },
      snapshot: async () => {
        const db = t.services.db
        // Bookkeeping left out: when rows were written, which snapshot or read they came from, and which
        // failed invoice a member was told about (told when Masthead saw it past due, which depends on order).
        const subs = (await db.select().from(subscriptions)).map(
          ({ updatedAt: _u, pastDueSince: _p, snapshotAt: _s, fetchedAt: _f, notifiedInvoiceId: _n, ...rest }) => rest,
        )
        const ledger = await db.select().from(payments)
        const sort = <T extends { id: string }>(rows: T[]) => rows.sort((a, b) => a.id.localeCompare(b.id))
        return { subscriptions: sort(subs), payments: sort(ledger) }
      },
      reset: async () => {
        const db = t.services.db
        await db.delete(stripeEvents)
        await db.delete(subscriptions)
        await db.delete(payments)
      },
    })
  }, 60_000)
  afterAll(async () => {
    await world.standIn?.close()
    await world.t?.close()
  })
  return world
}

/** The session id in a stand-in checkout URL (…/checkout/cs_test_…). */
export const sessionIdOf = (url: string) => url.split('/').pop()!

/** A signed-in reader starts checkout for a tier through the app; returns the Checkout Session id. */
export async function startTierCheckout(world: BillingWorld, cookie: string, tier: string, interval: 'month' | 'year') {
  const res = await world.t.app.request('/billing/checkout', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Cookie: cookie },
    body: JSON.stringify({ tier, interval }),
  })
  const { url, kind } = (await res.json()) as { url: string; kind: string }
  if (kind !== 'checkout') throw new Error(`expected a checkout, got ${kind}`)
  return sessionIdOf(url)
}

/** A signed-in reader gives a one-time donation (minor units) through the app and pays; returns the Checkout Session id. */
export async function donate(world: BillingWorld, cookie: string, amount: number, currency = 'usd') {
  const res = await world.t.app.request('/billing/donate', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Cookie: cookie },
    body: JSON.stringify({ amount, currency }),
  })
  const sessionId = sessionIdOf(((await res.json()) as { url: string }).url)
  await world.standIn.completeCheckout(sessionId)
  return sessionId
}
