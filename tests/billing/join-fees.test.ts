import { eq } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { payments, subscriptions } from '../../src/db/schema'
import { feeCoverFor } from '../../src/billing/fee-cover'
import { loadConfig } from '../../src/config'
import { nextClientIp } from '../helpers/auth'
import { sessionIdOf, useBillingWorld } from '../helpers/billing'

// Donors cover the fees (issue #19 part 1): 2.9% rounded up to the cent, plus 0.30 in USD and 0.25 in EUR.
const w = useBillingWorld({
  live: true,
  env: {
    FEE_COVER_PERCENT: '2.9',
    FEE_COVER_FIXED: 'usd:0.30,eur:0.25',
    FEE_COVER_WORDING: 'Add the fees for {publication}',
  },
})

const post = (path: string, body: Record<string, string>) =>
  w.t.app.request(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'CF-Connecting-IP': nextClientIp() },
    body: new URLSearchParams(body),
  })

async function pay(res: Response) {
  expect(res.status).toBe(303)
  const id = sessionIdOf(res.headers.get('location')!)
  await w.standIn.completeCheckout(id)
  return w.stripe.checkout.sessions.retrieve(id, { expand: ['line_items'] })
}

describe('the fee cover', () => {
  it('is computed in integers, rounded up, and to what Stripe charges in', () => {
    const config = loadConfig({
      FEE_COVER_PERCENT: '2.9',
      FEE_COVER_FIXED: '0.30',
      SUPPORTED_CURRENCIES: 'usd,isk,kwd',
    })
    expect(feeCoverFor(config, 1000, 'usd')).toBe(59) // 29 + 30
    expect(feeCoverFor(config, 1001, 'usd')).toBe(60) // 29.029 → 30, + 30
    const off = loadConfig({})
    expect(feeCoverFor(off, 1000, 'usd')).toBe(0)
    const iceland = loadConfig({ FEE_COVER_PERCENT: '2.9', SUPPORTED_CURRENCIES: 'isk,kwd' })
    expect(feeCoverFor(iceland, 50000, 'isk')).toBe(1500) // 1450 → whole krónur: 1500
    expect(feeCoverFor(iceland, 5120, 'kwd')).toBe(150) // 148.48 → 149 → steps of 10: 150
  })

  it('is offered on the page, ticked, with its rule in words and the amount each tier adds', async () => {
    const html = await (await w.t.app.request('/join')).text()
    expect(html).toContain('<input type="checkbox" name="cover_fees" value="on" checked=""')
    expect(html).toContain('Add the fees for Masthead (adds 2.9% + $0.30 to the amount, rounded up)')
    const reader = html.match(/<section aria-labelledby="tier-reader".*?<\/section>/s)![0]
    expect(reader).toContain('(adds $0.45 a month)') // 14.5 → 15, + 30
    expect(reader).toContain('(adds $1.75 a year)') // 145 + 30
    expect(html).toContain('data-fee-bp="290"')
  })

  it('a one-time gift shows the fees as their own line, and the ledger records them as their own part', async () => {
    const session = await pay(
      await post('/billing/donate', { frequency: 'once', amount: '10', currency: 'usd', cover_fees: 'on' }),
    )
    expect(session.line_items!.data.map((li) => [li.description, li.amount_total])).toEqual([
      ['Donation to Masthead', 1000],
      ['Card fees, covered by you', 59],
    ])
    const [row] = await w.t.services.db
      .select()
      .from(payments)
      .where(eq(payments.paymentIntentId, session.payment_intent as string))
    expect(row).toMatchObject({ kind: 'donation', amount: 1059, feeCoverAmount: 59, currency: 'usd' })
  })

  it('unticked, adds nothing', async () => {
    const session = await pay(await post('/billing/donate', { frequency: 'once', amount: '10', currency: 'usd' }))
    expect(session.amount_total).toBe(1000)
    const [row] = await w.t.services.db
      .select()
      .from(payments)
      .where(eq(payments.paymentIntentId, session.payment_intent as string))
    expect(row).toMatchObject({ amount: 1000, feeCoverAmount: 0 })
  })

  it('a membership and a yearly gift carry it in the subscription and each payment', async () => {
    const tier = await pay(
      await post('/billing/checkout', {
        tier: 'reader',
        interval: 'month',
        email: 'fees@example.org',
        cover_fees: 'on',
      }),
    )
    expect(tier.line_items!.data[0]!.price!.unit_amount).toBe(545)
    const gift = await pay(
      await post('/billing/donate', {
        frequency: 'yearly',
        amount: '50',
        currency: 'eur',
        email: 'fees-eur@example.org',
        cover_fees: 'on',
      }),
    )
    expect(gift.line_items!.data[0]!.price).toMatchObject({ unit_amount: 5000 + 145 + 25, currency: 'eur' })
    for (const [session, fee, amount] of [
      [tier, 45, 545],
      [gift, 170, 5170],
    ] as const) {
      const id = session.subscription as string
      const [sub] = await w.t.services.db.select().from(subscriptions).where(eq(subscriptions.id, id))
      expect(sub).toMatchObject({ amount, feeCoverAmount: fee })
      const ledger = await w.t.services.db.select().from(payments).where(eq(payments.subscriptionId, id))
      expect(ledger).toEqual([expect.objectContaining({ amount, feeCoverAmount: fee })])
    }
    // The tier is still known from the metadata, though the price is the sum's own.
    const [sub] = await w.t.services.db
      .select()
      .from(subscriptions)
      .where(eq(subscriptions.id, tier.subscription as string))
    expect(sub?.tierId).toBe('reader')
  })
})
