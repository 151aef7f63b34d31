import { describe, expect, it } from 'vitest'
import { replayEvents } from '../../src/billing/webhooks/replay'
import { stripeEvents } from '../../src/db/schema'
import { signIn } from '../helpers/auth'
import { startTierCheckout, useBillingWorld } from '../helpers/billing'

// Nothing is delivered: as if the webhook endpoint had been down.
const w = useBillingWorld()

describe('stripe:replay', () => {
  it('processes the events Masthead missed, once, reaching the state live delivery would have', async () => {
    const cookie = await signIn(w.t.app, 'missed@example.org')
    const sessionId = await startTierCheckout(w, cookie, 'reader', 'year')
    await w.standIn.completeCheckout(sessionId)
    const events = w.standIn.events()
    // One event did arrive before the outage.
    expect((await w.deliver(events[0]!)).status).toBe(200)

    const services = { ...w.t.services, stripe: w.t.services.stripe! }
    const first = await replayEvents(services, new Date(w.clock.now().getTime() - 3600_000))
    expect(first).toMatchObject({ listed: events.length, alreadyStored: 1 })
    expect(first.processed + first.ignored).toBe(events.length - 1)
    const me = await (await w.t.app.request('/api/account', { headers: { Cookie: cookie } })).json()
    expect(me.membership).toMatchObject({ status: 'active', tierId: 'reader', interval: 'year' })

    const stateAfterReplay = await w.snapshot()
    const second = await replayEvents(services, new Date(w.clock.now().getTime() - 3600_000))
    expect(second).toMatchObject({ listed: events.length, alreadyStored: events.length, processed: 0 })
    expect(await w.snapshot()).toEqual(stateAfterReplay)

    // Delivered live afterwards (Stripe's own retries), they are duplicates.
    await w.reset()
    for (const event of events) await w.deliver(event)
    expect(await w.snapshot()).toEqual(stateAfterReplay)
    expect((await w.t.services.db.select().from(stripeEvents)).length).toBe(events.length)
  })
})
