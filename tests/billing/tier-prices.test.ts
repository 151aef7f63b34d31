import { parse } from 'csv-parse/sync'
import { and, eq } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { priceLookupKey } from '../../src/billing/tiers/stripe-sync'
import { listTierOffers, tierPriceFor } from '../../src/billing/tiers/tiers'
import { auditLog, payments, tierPrices, tiers } from '../../src/db/schema'
import { nextClientIp, signIn } from '../helpers/auth'
import { sessionIdOf, useBillingWorld } from '../helpers/billing'

// A tier priced in euros and in yen, sold through the app and the Stripe stand-in.
const w = useBillingWorld({
  live: true,
  env: { ADMIN_EMAILS: 'admin@ledger.example', SUPPORTED_CURRENCIES: 'eur,usd,jpy,kwd,isk' },
})

let adminCookie: string | undefined
const admin = async () => (adminCookie ??= await signIn(w.t.app, 'admin@ledger.example'))

const api = async (method: string, path: string, body?: unknown) =>
  w.t.app.request(path, {
    method,
    headers: { Cookie: await admin(), 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })

const form = async (path: string, fields: Record<string, string>) =>
  w.t.app.request(path, {
    method: 'POST',
    headers: { Cookie: await admin(), 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields),
  })

const page = async (path: string) => (await w.t.app.request(path, { headers: { Cookie: await admin() } })).text()

const pricesOf = (tierId: string) =>
  w.t.services.db.select().from(tierPrices).where(eq(tierPrices.tierId, tierId)).orderBy(tierPrices.currency)

const stripePrice = async (key: string) => {
  const { data } = await w.stripe.prices.list({ lookup_keys: [key] })
  return data[0]
}

describe("a tier's prices in other currencies, through the API", () => {
  it('creates a tier in euros with a free trial, then adds yen prices, which the sync makes in Stripe', async () => {
    const created = await api('POST', '/api/admin/tiers', {
      id: 'europe',
      name: 'Europe',
      currency: 'eur',
      monthlyAmount: 800,
      yearlyAmount: 8000,
      trialDays: 14,
    })
    expect(created.status).toBe(201)
    expect((await created.json()).tier).toMatchObject({ id: 'europe', trialDays: 14, prices: [] })

    const added = await api('PUT', '/api/admin/tiers/europe/prices/JPY', { monthlyAmount: 1000, yearlyAmount: 10000 })
    expect(added.status).toBe(201)
    const body = await added.json()
    expect(body.stripeSync).toBe('synced')
    const [jpy] = await pricesOf('europe')
    expect(jpy).toMatchObject({ currency: 'jpy', monthlyAmount: 1000, yearlyAmount: 10000 })
    expect(body.tier.prices).toEqual([expect.objectContaining({ currency: 'jpy', monthlyAmount: 1000 })])

    const monthly = await stripePrice(priceLookupKey('europe', 'month', 'jpy'))
    const yearly = await stripePrice(priceLookupKey('europe', 'year', 'jpy'))
    const tier = (await w.t.services.db.select().from(tiers).where(eq(tiers.id, 'europe')))[0]!
    expect(monthly).toMatchObject({
      id: jpy!.stripeMonthlyPriceId,
      currency: 'jpy',
      unit_amount: 1000,
      active: true,
      product: tier.stripeProductId,
      recurring: expect.objectContaining({ interval: 'month' }),
      metadata: { masthead: '1', tier_id: 'europe', interval: 'month' },
    })
    expect(yearly).toMatchObject({ id: jpy!.stripeYearlyPriceId, currency: 'jpy', unit_amount: 10000 })
    // The tier's own prices keep their keys and currency.
    expect(await stripePrice(priceLookupKey('europe', 'month'))).toMatchObject({ currency: 'eur', unit_amount: 800 })

    const listed = await (await api('GET', '/api/admin/tiers/europe')).json()
    expect(listed.tier.prices).toEqual([
      expect.objectContaining({ currency: 'jpy', monthlyAmount: 1000, yearlyAmount: 10000 }),
    ])
    const [entry] = await w.t.services.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.action, 'tier.updated')))
    expect(entry?.details).toMatchObject({ tierId: 'europe', price: { currency: 'jpy', monthlyAmount: 1000 } })
  })

  it('changes an amount: a new Stripe price takes over, the old one is retired', async () => {
    const before = (await pricesOf('europe'))[0]!
    const res = await api('PUT', '/api/admin/tiers/europe/prices/jpy', { monthlyAmount: 1200, yearlyAmount: 10000 })
    expect(res.status).toBe(200)
    const after = (await pricesOf('europe'))[0]!
    expect(after.monthlyAmount).toBe(1200)
    expect(after.stripeMonthlyPriceId).not.toBe(before.stripeMonthlyPriceId)
    expect(after.stripeYearlyPriceId).toBe(before.stripeYearlyPriceId)
    expect(await w.stripe.prices.retrieve(after.stripeMonthlyPriceId!)).toMatchObject({
      unit_amount: 1200,
      currency: 'jpy',
      active: true,
    })
    expect((await w.stripe.prices.retrieve(before.stripeMonthlyPriceId!)).active).toBe(false)
    await api('PUT', '/api/admin/tiers/europe/prices/jpy', { monthlyAmount: 1000, yearlyAmount: 10000 })
  })

  const refused: [string, string, unknown, number, string][] = [
    ['a currency not sold here', 'gbp', { monthlyAmount: 500, yearlyAmount: 5000 }, 422, 'must be one of eur, usd'],
    ['a code that is no currency', 'x%20y', { monthlyAmount: 500, yearlyAmount: 5000 }, 422, 'must be one of'],
    ["the tier's own currency", 'eur', { monthlyAmount: 500, yearlyAmount: 5000 }, 422, "EUR is this tier's own"],
    ['a fractional amount', 'usd', { monthlyAmount: 5.5, yearlyAmount: 5000 }, 422, 'not whole minor units'],
    ['a missing amount', 'usd', { monthlyAmount: 500 }, 422, 'The yearly amount must be a number'],
    ['a zero amount', 'usd', { monthlyAmount: 0, yearlyAmount: 5000 }, 422, 'must be more than zero'],
    ['a misspelt field', 'usd', { monthlyAmount: 500, yearlyAmount: 5000, monthly: 5 }, 422, 'Unknown field monthly'],
    [
      'dinars Stripe cannot charge',
      'kwd',
      { monthlyAmount: 5125, yearlyAmount: 51200 },
      422,
      'KWD is charged in steps of 10 minor units: the last digit must be 0, such as 5120 for KWD 5.120.',
    ],
    [
      'krónur with decimals',
      'isk',
      { monthlyAmount: 50000, yearlyAmount: 500050 },
      422,
      'The yearly amount cannot be charged: ISK is charged in whole units only',
    ],
  ]
  for (const [what, currency, body, status, message] of refused) {
    it(`refuses ${what}, and writes nothing`, async () => {
      const before = await pricesOf('europe')
      const res = await api('PUT', `/api/admin/tiers/europe/prices/${currency}`, body)
      expect(res.status).toBe(status)
      expect((await res.json()).error.message).toContain(message)
      expect(await pricesOf('europe')).toEqual(before)
    })
  }

  it('answers 404 for prices of a tier that does not exist, and for removing a currency the tier lacks', async () => {
    const put = await api('PUT', '/api/admin/tiers/nowhere/prices/jpy', { monthlyAmount: 1, yearlyAmount: 1 })
    expect(put.status).toBe(404)
    const del = await api('DELETE', '/api/admin/tiers/europe/prices/usd')
    expect(del.status).toBe(404)
    expect((await del.json()).error.message).toBe('Europe has no prices in USD.')
  })

  it("refuses to move the tier's own currency onto one it has other prices in (409), changing nothing", async () => {
    const res = await api('PATCH', '/api/admin/tiers/europe', { currency: 'jpy', monthlyAmount: 900 })
    expect(res.status).toBe(409)
    expect((await res.json()).error.message).toContain('already has prices in JPY')
    const [tier] = await w.t.services.db.select().from(tiers).where(eq(tiers.id, 'europe'))
    expect(tier).toMatchObject({ currency: 'eur', monthlyAmount: 800 })
  })

  it("refuses a tier's own amounts that Stripe cannot charge in its currency", async () => {
    const res = await api('POST', '/api/admin/tiers', {
      id: 'gulf',
      name: 'Gulf',
      currency: 'kwd',
      monthlyAmount: 1005,
      yearlyAmount: 10050,
    })
    expect(res.status).toBe(422)
    expect((await res.json()).error.message).toContain(
      'The monthly amount cannot be charged: KWD is charged in steps of 10',
    )
    // Moving a tier to dinars checks the amounts it keeps, too: 505 (5.05 USD) is no amount of KWD.
    await api('POST', '/api/admin/tiers', {
      id: 'odd',
      name: 'Odd',
      currency: 'usd',
      monthlyAmount: 505,
      yearlyAmount: 5050,
    })
    const moved = await api('PATCH', '/api/admin/tiers/odd', { currency: 'kwd' })
    expect(moved.status).toBe(422)
    expect((await moved.json()).error.message).toContain('KWD is charged in steps of 10')
  })

  it('validates the free trial: 0 to 730 whole days', async () => {
    for (const [trialDays, status] of [
      [731, 422],
      [-1, 422],
      [1.5, 422],
      ['7', 422],
      [730, 200],
      [0, 200],
    ] as const) {
      const res = await api('PATCH', '/api/admin/tiers/odd', { trialDays })
      expect([trialDays, res.status]).toEqual([trialDays, status])
      if (status === 422)
        expect((await res.json()).error.message).toBe('The free trial must be a whole number of days from 0 to 730.')
    }
  })
})

describe('reaching Checkout in the currency the reader chose', () => {
  const start = (body: Record<string, unknown>) =>
    w.t.app.request('/billing/checkout', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'CF-Connecting-IP': nextClientIp() },
      body: JSON.stringify({ email: 'reader@ledger.example', cover_fees: false, ...body }),
    })

  it('offers the tier in each of its currencies', async () => {
    const offer = (await listTierOffers(w.t.services.db)).find((tier) => tier.id === 'europe')!
    expect(offer.prices).toEqual([
      { currency: 'eur', monthlyAmount: 800, yearlyAmount: 8000, onSale: true },
      { currency: 'jpy', monthlyAmount: 1000, yearlyAmount: 10000, onSale: true },
    ])
  })

  it('reaches Checkout at ¥1,000 a month in yen, and €80.00 a year in euros', async () => {
    const yen = await start({ tier: 'europe', interval: 'month', currency: 'jpy' })
    expect(yen.status).toBe(200)
    const yenSession = await w.stripe.checkout.sessions.retrieve(sessionIdOf((await yen.json()).url), {
      expand: ['line_items'],
    })
    const [jpy] = await pricesOf('europe')
    expect(yenSession).toMatchObject({ currency: 'jpy', amount_total: 1000, mode: 'subscription' })
    expect(yenSession.line_items?.data[0]?.price?.id).toBe(jpy!.stripeMonthlyPriceId)
    // Stripe's page (the stand-in's) shows yen whole.
    const hosted = await (await fetch(`${w.standIn.url}/checkout/${yenSession.id}`)).text()
    expect(hosted).toContain('¥1,000')
    expect(hosted).not.toContain('¥10.00')

    const euro = await start({ tier: 'europe', interval: 'year' })
    const euroSession = await w.stripe.checkout.sessions.retrieve(sessionIdOf((await euro.json()).url))
    expect(euroSession).toMatchObject({ currency: 'eur', amount_total: 8000 })
    const named = await start({ tier: 'europe', interval: 'year', currency: 'EUR' })
    expect((await w.stripe.checkout.sessions.retrieve(sessionIdOf((await named.json()).url))).amount_total).toBe(8000)
  })

  it('refuses a currency the tier is not sold in with a 400 that names those it is', async () => {
    const res = await start({ tier: 'europe', interval: 'month', currency: 'usd' })
    expect(res.status).toBe(400)
    expect((await res.json()).error.message).toBe('Europe is not sold in USD: choose one of EUR, JPY.')
    const nonsense = await start({ tier: 'europe', interval: 'month', currency: '<b>' })
    expect(nonsense.status).toBe(400)
    expect((await nonsense.json()).error.message).toBe('Europe is not sold in that currency: choose one of EUR, JPY.')
    expect(await tierPriceFor(w.t.services.db, 'nowhere', 'jpy', 'month')).toMatchObject({ ok: false })
  })

  it('shows a yen membership as ¥1,000 in the supporters list, the metrics and the export', async () => {
    // Paid from the first day (a free trial's first invoice is of nothing, which the ledger skips).
    expect((await api('PATCH', '/api/admin/tiers/europe', { trialDays: 0 })).status).toBe(200)
    const cookie = await signIn(w.t.app, 'yen@ledger.example')
    const res = await w.t.app.request('/billing/checkout', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', Cookie: cookie },
      body: JSON.stringify({ tier: 'europe', interval: 'month', currency: 'jpy', cover_fees: false }),
    })
    await w.standIn.completeCheckout(sessionIdOf((await res.json()).url))
    const ledger = await w.t.services.db.select().from(payments).where(eq(payments.currency, 'jpy'))
    expect(ledger).toEqual([expect.objectContaining({ amount: 1000, currency: 'jpy', kind: 'subscription' })])

    const list = await page('/admin/supporters?q=yen')
    expect(list).toContain('¥1,000')
    expect(list).not.toContain('¥10.00')
    const metrics = await page('/admin/metrics')
    expect(metrics).toContain('¥1,000')
    const csv = parse(await page('/api/admin/supporters.csv?q=yen'), { columns: true, bom: true }) as Record<
      string,
      string
    >[]
    expect(csv).toEqual([expect.objectContaining({ amount: '1000', currency: 'jpy', lifetime_amount: '1000' })])
    const account = await (await w.t.app.request('/account', { headers: { Cookie: cookie } })).text()
    expect(account).toContain('Europe, ¥1,000 a month')
  })

  it('retires the Stripe prices of a currency removed, and stops selling it', async () => {
    const [jpy] = await pricesOf('europe')
    const res = await api('DELETE', '/api/admin/tiers/europe/prices/jpy')
    expect(res.status).toBe(200)
    expect((await res.json()).tier.prices).toEqual([])
    expect(await pricesOf('europe')).toEqual([])
    expect((await w.stripe.prices.retrieve(jpy!.stripeMonthlyPriceId!)).active).toBe(false)
    expect((await w.stripe.prices.retrieve(jpy!.stripeYearlyPriceId!)).active).toBe(false)
    const again = await start({ tier: 'europe', interval: 'month', currency: 'jpy' })
    expect(again.status).toBe(400)
  })
})

describe("a tier's prices in other currencies, through the forms", () => {
  it('adds yen prices typed in whole yen, and shows them as ¥', async () => {
    const res = await form('/admin/tiers/europe/prices', {
      currency: 'jpy',
      monthlyAmount: '1000',
      yearlyAmount: '10000',
    })
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe('/admin/tiers/europe?notice=price-saved')
    expect(await pricesOf('europe')).toEqual([
      expect.objectContaining({ currency: 'jpy', monthlyAmount: 1000, yearlyAmount: 10000 }),
    ])
    const html = await page('/admin/tiers/europe?notice=price-saved')
    expect(html).toContain('The price was saved.')
    expect(html).toContain('JPY: ¥1,000 a month, ¥10,000 a year')
    expect(html).toContain('value="1000"')
    expect(await page('/admin/tiers')).toContain('¥1,000 / month')
  })

  it('shows every error of a price form at once, keeps what was typed, and writes nothing', async () => {
    const before = await pricesOf('europe')
    const res = await form('/admin/tiers/europe/prices', { currency: 'kwd', monthlyAmount: '5.125', yearlyAmount: 'x' })
    expect(res.status).toBe(422)
    const html = await res.text()
    expect(html).toContain('The monthly amount cannot be charged: KWD is charged in steps of 0.010')
    expect(html).toContain('Enter the amount as a number, like 5.000.')
    expect(html).toContain('value="5.125"')
    const yen = await form('/admin/tiers/europe/prices/jpy', { monthlyAmount: '1000.5', yearlyAmount: '10000' })
    expect(yen.status).toBe(422)
    expect(await yen.text()).toContain('JPY has no decimal places: write a whole number, like 500.')
    const own = await form('/admin/tiers/europe/prices', { currency: 'eur', monthlyAmount: '1', yearlyAmount: '10' })
    expect(own.status).toBe(422)
    expect(await own.text()).toContain('EUR is this tier&#39;s own currency')
    const unsold = await form('/admin/tiers/europe/prices/gbp', { monthlyAmount: '1', yearlyAmount: '10' })
    expect(unsold.status).toBe(422)
    expect(await unsold.text()).toContain('The currency must be one of eur, usd, jpy, kwd, isk')
    expect(await pricesOf('europe')).toEqual(before)
  })

  it('edits and removes a currency from its own form', async () => {
    const edited = await form('/admin/tiers/europe/prices/jpy', { monthlyAmount: '1100', yearlyAmount: '11000' })
    expect(edited.status).toBe(303)
    expect(await pricesOf('europe')).toEqual([expect.objectContaining({ monthlyAmount: 1100, yearlyAmount: 11000 })])
    const removed = await form('/admin/tiers/europe/prices/jpy/remove', {})
    expect(removed.status).toBe(303)
    expect(removed.headers.get('location')).toBe('/admin/tiers/europe?notice=price-removed')
    expect(await pricesOf('europe')).toEqual([])
    expect((await form('/admin/tiers/europe/prices/jpy/remove', {})).status).toBe(404)
  })

  it('sets the free trial from the tier form, and refuses one out of range', async () => {
    const fields = {
      name: 'Europe',
      description: '',
      currency: 'eur',
      monthlyAmount: '8.00',
      yearlyAmount: '80',
      position: '0',
      active: 'on',
    }
    const bad = await form('/admin/tiers/europe', { ...fields, trialDays: '1000' })
    expect(bad.status).toBe(422)
    expect(await bad.text()).toContain('The free trial must be a whole number of days from 0 to 730.')
    const ok = await form('/admin/tiers/europe', { ...fields, trialDays: '30' })
    expect(ok.status).toBe(303)
    const [tier] = await w.t.services.db.select().from(tiers).where(eq(tiers.id, 'europe'))
    expect(tier).toMatchObject({ trialDays: 30, monthlyAmount: 800, yearlyAmount: 8000 })
    expect(await page('/admin/tiers/europe')).toContain('value="30"')
  })

  it("reads a yen tier's own prices in whole yen on the tier form", async () => {
    const res = await form('/admin/tiers', {
      id: 'tokyo',
      name: 'Tokyo',
      currency: 'jpy',
      monthlyAmount: '500',
      yearlyAmount: '5000',
      active: 'on',
    })
    expect(res.status).toBe(303)
    const [tier] = await w.t.services.db.select().from(tiers).where(eq(tiers.id, 'tokyo'))
    expect(tier).toMatchObject({ currency: 'jpy', monthlyAmount: 500, yearlyAmount: 5000, trialDays: 0 })
    expect(await page('/admin/tiers')).toContain('¥500 / month')
  })
})

describe('donations in the currency the reader chose', () => {
  const donate = (body: Record<string, string>, json = false) =>
    w.t.app.request('/billing/donate', {
      method: 'POST',
      headers: {
        'Content-Type': json ? 'application/json' : 'application/x-www-form-urlencoded',
        ...(json ? { Accept: 'application/json' } : {}),
        'CF-Connecting-IP': nextClientIp(),
      },
      body: json
        ? JSON.stringify({ ...body, amount: Number(body.amount) })
        : new URLSearchParams({ email: 'giver@ledger.example', ...body }),
    })

  it('reads "1000" typed for yen as ¥1,000, not ¥100,000', async () => {
    const res = await donate({ amount: '1000', currency: 'jpy' })
    expect(res.status).toBe(303)
    const session = await w.stripe.checkout.sessions.retrieve(sessionIdOf(res.headers.get('location')!))
    expect(session).toMatchObject({ currency: 'jpy', amount_total: 1000 })
  })

  it("refuses amounts in terms of the currency's decimals and Stripe's rules", async () => {
    const yen = await donate({ amount: '1000.5', currency: 'jpy' })
    expect(yen.status).toBe(422)
    expect(await yen.text()).toContain('JPY has no decimal places: write a whole number, like 500.')
    const dinars = await donate({ amount: '5125', currency: 'kwd', email: 'giver@ledger.example' }, true)
    expect(dinars.status).toBe(422)
    expect((await dinars.json()).error.message).toBe(
      'KWD is charged in steps of 10 minor units: the last digit must be 0, such as 5120 for KWD 5.120.',
    )
    const few = await donate({ amount: '50', currency: 'jpy' })
    expect(few.status).toBe(422)
    expect(await few.text()).toContain('The amount must be between 100 and 1000000 JPY.')
  })
})
