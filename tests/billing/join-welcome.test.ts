import { sql } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { welcomeMails } from '../../src/db/schema'
import { lastMailTo, nextClientIp } from '../helpers/auth'
import { sessionIdOf, useBillingWorld } from '../helpers/billing'

// A first payment sends one welcome, never twice for the same membership, whatever the webhook order (issue #20 part 4).
const w = useBillingWorld()

/** A small seeded generator, so a failing order can be run again. */
function random(seed: number) {
  let state = seed >>> 0
  return () => {
    state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0
    return state / 2 ** 32
  }
}

/** Checks out through the app (signed out) and pays in the stand-in; returns the events Stripe would send. */
async function checkOut(email: string, body: Record<string, string> = { tier: 'patron', interval: 'year' }) {
  const since = w.standIn.events().length
  const path = 'tier' in body ? '/billing/checkout' : '/billing/donate'
  const res = await w.t.app.request(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'CF-Connecting-IP': nextClientIp() },
    body: new URLSearchParams({ ...body, email }),
  })
  expect(res.status).toBe(303)
  await w.standIn.completeCheckout(sessionIdOf(res.headers.get('location')!))
  return w.standIn.events().slice(since)
}

const welcomesTo = async (email: string) => {
  const { count, message } = await lastMailTo(w.t.app, email)
  return { count, message, subjects: message?.subject }
}

describe('the welcome e-mail', () => {
  it('is sent once per membership under shuffled, duplicated deliveries', async () => {
    for (let run = 0; run < 12; run++) {
      const next = random(run + 1)
      const email = `shuffled-${run}@example.org`
      const events = await checkOut(
        email,
        run % 3 === 2 ? { frequency: 'yearly', amount: '60', currency: 'usd' } : undefined,
      )
      expect(events.map((e) => e.type)).toContain('checkout.session.completed')
      // Every event one to three times, in a random order.
      const deliveries = events.flatMap((event) => Array.from({ length: 1 + Math.floor(next() * 3) }, () => event))
      for (let i = deliveries.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1))
        ;[deliveries[i], deliveries[j]] = [deliveries[j]!, deliveries[i]!]
      }
      for (const event of deliveries) expect((await w.deliver(event)).status).toBe(200)
      const { count, message } = await welcomesTo(email)
      expect(count, `run ${run}: ${deliveries.map((e) => e.type).join(', ')}`).toBe(1)
      expect(message?.subject).toBe('Welcome to Masthead')
      if (run % 3 === 2) {
        expect(message?.text).toContain('your yearly gift of $60.00 has begun')
      } else {
        expect(message?.text).toContain('your Patron membership has begun')
        expect(message?.text).toContain(
          '- No ads\n- Supporters-only articles\n- Read new stories first\n- No more asking',
        )
      }
      expect(message?.text).toContain('To sign in, open http://localhost:8787/auth/sign-in')
      expect(message?.text).toContain('choose "Manage billing": http://localhost:8787/account')
    }
    const [claimed] = await w.t.services.db.select({ n: sql<number>`count(*)::int` }).from(welcomeMails)
    expect(claimed?.n).toBe(12)
  })

  it('a one-time gift sends no welcome', async () => {
    const events = await checkOut('once@example.org', { frequency: 'once', amount: '5', currency: 'usd' })
    for (const event of events) await w.deliver(event)
    const { message } = await welcomesTo('once@example.org')
    expect(message?.subject ?? '').not.toBe('Welcome to Masthead')
  })

  it('a second membership bought for an address that already has one is not welcomed', async () => {
    const email = 'twice@example.org'
    for (const event of await checkOut(email)) await w.deliver(event)
    expect((await welcomesTo(email)).count).toBe(1)
    for (const event of await checkOut(email, { tier: 'reader', interval: 'month' })) await w.deliver(event)
    const { message } = await lastMailTo(w.t.app, email)
    expect(message?.subject).toContain('the second one was refunded')
    const all = await w.t.app.request(`/dev/mailbox.json?to=${encodeURIComponent(email)}`)
    const { messages } = (await all.json()) as { messages: { subject: string }[] }
    expect(messages.filter((m) => m.subject === 'Welcome to Masthead')).toHaveLength(1)
  })
})
