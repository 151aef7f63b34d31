import { describe, expect, it } from 'vitest'
import { goalProgress, GOAL_CACHE_MS } from '../../src/billing/goal'
import { loadConfig } from '../../src/config'
import { grants } from '../../src/db/schema'
import { formatMoney } from '../../src/util/money'
import { metricsAt } from '../../src/supporters/metrics'
import { nextClientIp, signIn } from '../helpers/auth'
import { sessionIdOf, useBillingWorld } from '../helpers/billing'

// The goal meter is computed from the dashboard's figures (src/supporters/metrics.ts) and cached (issue #20 part 3).
const w = useBillingWorld({ live: true, env: { GOAL_SUPPORTERS: '500' } })

async function join(email: string, body: Record<string, string>) {
  const res = await w.t.app.request(body.tier ? '/billing/checkout' : '/billing/donate', {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'CF-Connecting-IP': nextClientIp() },
    body: new URLSearchParams({ ...body, email }),
  })
  const id = sessionIdOf(res.headers.get('location')!)
  await w.standIn.completeCheckout(id)
  return (await w.stripe.checkout.sessions.retrieve(id)).subscription as string
}

const meterOn = async (path: string) => {
  const html = await (await w.t.app.request(path)).text()
  return {
    words: html.match(/<p id="goal-words" class="goal-words"><strong>([^<]*)<\/strong>/)?.[1],
    meter: html
      .match(/<progress max="(\d+)" value="(\d+)"/)
      ?.slice(1)
      .map(Number),
  }
}

describe('the goal', () => {
  it('counts supporters as the dashboard does, in every status, and shows on the join page and in prompts', async () => {
    expect((await meterOn('/join')).words).toBe('0 of 500 supporters')

    await join('monthly@example.org', { tier: 'reader', interval: 'month' })
    await join('yearly@example.org', { tier: 'patron', interval: 'year' })
    await join('pledge@example.org', { frequency: 'yearly', amount: '30', currency: 'usd' })
    const waverer = await join('waverer@example.org', { tier: 'reader', interval: 'month' })
    await w.standIn.setCancelAtPeriodEnd(waverer, true)
    const late = await join('late@example.org', { tier: 'reader', interval: 'year' })
    await w.standIn.failPayment(late)
    const gone = await join('gone@example.org', { tier: 'reader', interval: 'month' })
    await w.standIn.endSubscription(gone)
    await join('once@example.org', { frequency: 'once', amount: '20', currency: 'usd' })
    const comped = await signIn(w.t.app, 'comped@example.org')
    const me = (await (await w.t.app.request('/api/account', { headers: { Cookie: comped } })).json()) as {
      user: { id: string }
    }
    const now = w.clock.now()
    await w.t.services.db.insert(grants).values({
      id: 'comp-goal',
      userId: me.user.id,
      source: 'comp',
      tierId: 'reader',
      startsAt: now,
      createdAt: now,
      updatedAt: now,
    })

    // Still the reading of a minute ago: the page costs no query while it is fresh.
    expect((await meterOn('/join')).words).toBe('0 of 500 supporters')
    w.clock.advance(GOAL_CACHE_MS + 1000)
    const metrics = await metricsAt(w.t.services.db, w.clock.now())
    expect(metrics.activeSupporters).toBe(6)
    const shown = await meterOn('/join')
    expect(shown.words).toBe(`${metrics.activeSupporters} of 500 supporters`)
    expect(shown.meter).toEqual([500, metrics.activeSupporters])
    // The support prompt on the front page (shown to anonymous readers) carries the same meter.
    expect((await meterOn('/')).words).toBe(`${metrics.activeSupporters} of 500 supporters`)

    // A month on: the one cancelled at period end has ended, for the dashboard and the goal alike.
    w.clock.advance(40 * 86_400_000)
    const later = await metricsAt(w.t.services.db, w.clock.now())
    expect((await meterOn('/join')).words).toBe(`${later.activeSupporters} of 500 supporters`)
    expect(later.activeSupporters).toBeLessThan(metrics.activeSupporters)
  })

  it('an amount a month is the dashboard’s monthly revenue in the main currency', async () => {
    const config = loadConfig({ ...w.t.services.config, GOAL_MONTHLY_AMOUNT: '1000' } as unknown as Record<
      string,
      unknown
    >)
    const services = { config, db: w.t.services.db, clock: w.clock }
    const progress = await goalProgress(services)
    const mrr = (await metricsAt(w.t.services.db, w.clock.now())).mrr.find((m) => m.currency === 'usd')!.amount
    expect(mrr).toBeGreaterThan(0)
    expect(progress).toMatchObject({ kind: 'monthly', current: mrr, target: 100000 })
    expect(progress?.words).toBe(`${formatMoney(mrr, 'usd')} of $1,000.00 a month`)
  })

  it('is absent without a goal', async () => {
    expect(await goalProgress({ config: loadConfig({}), db: w.t.services.db, clock: w.clock })).toBeNull()
  })
})
