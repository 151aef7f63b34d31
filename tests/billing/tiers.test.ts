import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startStripeStandIn, type StripeStandIn } from '../../src/dev/stripe-stand-in'
import type { Stripe } from '../../src/billing/stripe'
import {
  pledgeProductId,
  PLEDGE_PRODUCT_NAME,
  priceLookupKey,
  syncAllToStripe,
  syncTierToStripe,
} from '../../src/billing/tiers/stripe-sync'
import { createTier, getTier, listTiers, updateTier } from '../../src/billing/tiers/tiers'
import { DEMO_TIERS, seedDemoTiers } from '../../src/dev/demo-tiers'
import { parseMajorUnits, toMajorUnits } from '../../src/util/money'
import { stripeObjects, tiers } from '../../src/db/schema'
import { AppError } from '../../src/http/errors'
import { createTestApp, type TestApp } from '../helpers/app'

describe('amounts typed in major units', () => {
  const exact: [string, number][] = [
    ['5', 500],
    ['5.5', 550],
    ['5.00', 500],
    [' 12.34 ', 1234],
    ['0.01', 1],
    ['.5', 50],
    // 19.99 * 100 is 1998.9999999999998 in floating point; the digits are read instead.
    ['19.99', 1999],
    ['1.10', 110],
    ['100000.00', 10_000_000],
  ]
  for (const [typed, minor] of exact) {
    it(`reads "${typed}" as ${minor} minor units`, () => {
      expect(parseMajorUnits(typed, 'usd')).toEqual({ ok: true, amount: minor })
    })
  }

  const refused: [string, string][] = [
    ['5.555', 'Use at most two decimal places, like 5.55.'],
    ['0.001', 'Use at most two decimal places, like 5.55.'],
    ['-1', 'The amount must be more than zero.'],
    ['-0.50', 'The amount must be more than zero.'],
    ['abc', 'Enter the amount as a number, like 5.00.'],
    ['5.', 'Enter the amount as a number, like 5.00.'],
    ['1e3', 'Enter the amount as a number, like 5.00.'],
    ['$5', 'Enter the amount as a number, like 5.00.'],
    ['5,50', 'Write the amount with a dot for decimals and no thousands separators, like 1500.00.'],
    ['', 'Enter an amount, like 5.00.'],
    ['   ', 'Enter an amount, like 5.00.'],
  ]
  for (const [typed, message] of refused) {
    it(`refuses "${typed}"`, () => {
      expect(parseMajorUnits(typed, 'usd')).toEqual({ ok: false, message })
    })
  }

  it('writes minor units back as the form shows them', () => {
    expect([500, 550, 1, 1999, 10_000_000].map((amount) => toMajorUnits(amount, 'usd'))).toEqual([
      '5.00',
      '5.50',
      '0.01',
      '19.99',
      '100000.00',
    ])
  })
})

describe('tier data', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp()
  })
  afterAll(() => t.close())

  it('seeds the demo tiers into an empty table, once', async () => {
    const now = new Date('2026-11-25T12:00:00Z')
    expect(await seedDemoTiers(t.services.db, now)).toBe(2)
    expect(await seedDemoTiers(t.services.db, now)).toBe(0)
    const seeded = await listTiers(t.services.db)
    expect(seeded.map((tier) => tier.id)).toEqual(['reader', 'patron'])
    expect(seeded[0]).toMatchObject({
      name: 'Reader',
      currency: 'usd',
      monthlyAmount: 500,
      yearlyAmount: 5000,
      position: 0,
      active: true,
      benefits: ['hideSupportPrompts', 'supportersOnlyContent'],
    })
    expect(seeded[1]).toMatchObject({
      name: 'Patron',
      currency: 'usd',
      monthlyAmount: 1500,
      yearlyAmount: 15000,
      position: 1,
      benefits: ['adFree', 'hideSupportPrompts', 'supportersOnlyContent', 'earlyAccess'],
    })
  })

  it('never re-seeds once an admin has changed the tiers', async () => {
    await t.services.db.delete(tiers).where(eq(tiers.id, 'patron'))
    expect(await seedDemoTiers(t.services.db, new Date())).toBe(0)
    expect((await listTiers(t.services.db)).map((tier) => tier.id)).toEqual(['reader'])
  })

  it('forgets a stored Stripe price once its amount or currency changes, and only then', async () => {
    const ids = { stripeProductId: 'prod_1', stripeMonthlyPriceId: 'price_m', stripeYearlyPriceId: 'price_y' }
    const reset = () => t.services.db.update(tiers).set(ids).where(eq(tiers.id, 'reader'))
    const update = (patch: Parameters<typeof updateTier>[3]) => updateTier(t.services.db, new Date(), 'reader', patch)

    await reset()
    expect(await update({ name: 'Reader', description: 'New words', benefits: ['adFree'] })).toMatchObject(ids)
    expect(await update({ monthlyAmount: 500, yearlyAmount: 5000, currency: 'usd' })).toMatchObject(ids)
    expect(await update({ monthlyAmount: 650 })).toMatchObject({
      ...ids,
      stripeMonthlyPriceId: null,
      monthlyAmount: 650,
    })
    await reset()
    expect(await update({ yearlyAmount: 6500 })).toMatchObject({ ...ids, stripeYearlyPriceId: null })
    await reset()
    expect(await update({ currency: 'eur' })).toMatchObject({
      stripeProductId: 'prod_1',
      stripeMonthlyPriceId: null,
      stripeYearlyPriceId: null,
      currency: 'eur',
    })
  })

  it('refuses a duplicate id as a conflict, and updates nothing that does not exist', async () => {
    const error = await createTier(t.services.db, new Date(), { ...DEMO_TIERS[0]! }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(AppError)
    expect((error as AppError).status).toBe(409)
    expect(await updateTier(t.services.db, new Date(), 'nobody', { name: 'X' })).toBeNull()
    expect(await getTier(t.services.db, 'nobody')).toBeNull()
  })
})

describe('syncing tiers to Stripe (through the local stand-in)', () => {
  let standIn: StripeStandIn
  let t: TestApp
  let stripe: Stripe

  beforeAll(async () => {
    standIn = await startStripeStandIn({ deliver: null })
    t = await createTestApp({
      env: {
        ...standIn.env,
      },
    })
    stripe = t.services.stripe!
    await seedDemoTiers(t.services.db, new Date())
  })
  afterAll(async () => {
    await t.close()
    await standIn.close()
  })

  const allProducts = async () => {
    const out: Stripe.Product[] = []
    for await (const product of stripe.products.list({ limit: 100 })) out.push(product)
    return out
  }
  const allPrices = async () => {
    const out: Stripe.Price[] = []
    for await (const price of stripe.prices.list({ limit: 100 })) out.push(price)
    return out
  }
  const priceByKey = async (key: string) => {
    const { data } = await stripe.prices.list({ lookup_keys: [key] })
    expect(data).toHaveLength(1)
    return data[0]!
  }

  it('creates a product and two prices per tier, and the pledge product, and stores their ids', async () => {
    expect(t.services.stripe).not.toBeNull()
    const result = await syncAllToStripe(t.services)
    expect(result).toEqual({ created: 7, updated: 0, unchanged: 0, tiers: 2 })

    const products = await allProducts()
    const prices = await allPrices()
    expect(products).toHaveLength(3)
    expect(prices).toHaveLength(4)
    for (const object of [...products, ...prices]) expect(object.metadata.masthead).toBe('1')

    for (const tier of await listTiers(t.services.db)) {
      const product = products.find((p) => p.metadata.tier_id === tier.id)!
      expect(product).toMatchObject({ name: tier.name, description: tier.description, active: true })
      expect(tier.stripeProductId).toBe(product.id)
      const monthly = await priceByKey(priceLookupKey(tier.id, 'month'))
      const yearly = await priceByKey(priceLookupKey(tier.id, 'year'))
      expect(monthly).toMatchObject({
        id: tier.stripeMonthlyPriceId,
        product: product.id,
        currency: 'usd',
        unit_amount: tier.monthlyAmount,
        recurring: expect.objectContaining({ interval: 'month' }),
        lookup_key: `masthead_${tier.id}_month`,
        metadata: { masthead: '1', tier_id: tier.id, interval: 'month' },
      })
      expect(yearly).toMatchObject({
        id: tier.stripeYearlyPriceId,
        unit_amount: tier.yearlyAmount,
        recurring: expect.objectContaining({ interval: 'year' }),
      })
    }

    const pledge = products.find((p) => p.metadata.kind === 'pledge')!
    expect(pledge).toMatchObject({
      name: PLEDGE_PRODUCT_NAME,
      active: true,
      metadata: { masthead: '1', kind: 'pledge' },
    })
    expect(await pledgeProductId(t.services.db)).toBe(pledge.id)
  })

  it('creates nothing when run again', async () => {
    const before = { products: await allProducts(), prices: await allPrices() }
    const tiersBefore = await listTiers(t.services.db)
    expect(await syncAllToStripe(t.services)).toEqual({ created: 0, updated: 0, unchanged: 7, tiers: 2 })
    expect((await allProducts()).map((p) => p.id)).toEqual(before.products.map((p) => p.id))
    expect((await allPrices()).map((p) => p.id)).toEqual(before.prices.map((p) => p.id))
    expect(await listTiers(t.services.db)).toEqual(tiersBefore)
  })

  it('replaces a changed price: the new one takes the lookup key, the old one is deactivated', async () => {
    const before = (await getTier(t.services.db, 'reader'))!
    const changed = (await updateTier(t.services.db, new Date(), 'reader', { monthlyAmount: 600 }))!
    expect(await syncTierToStripe(stripe, t.services.db, new Date(), changed)).toEqual({
      created: 1,
      updated: 0,
      unchanged: 2,
    })

    const current = await priceByKey('masthead_reader_month')
    expect(current.id).not.toBe(before.stripeMonthlyPriceId)
    expect(current).toMatchObject({ unit_amount: 600, currency: 'usd', active: true, product: before.stripeProductId })
    expect(current.metadata).toMatchObject({ masthead: '1', tier_id: 'reader', interval: 'month' })
    const old = await stripe.prices.retrieve(before.stripeMonthlyPriceId!)
    expect(old).toMatchObject({ active: false, lookup_key: null, unit_amount: 500 })

    const after = (await getTier(t.services.db, 'reader'))!
    expect(after.stripeMonthlyPriceId).toBe(current.id)
    expect(after.stripeYearlyPriceId).toBe(before.stripeYearlyPriceId)
    expect(after.stripeProductId).toBe(before.stripeProductId)
    expect(await allPrices()).toHaveLength(5)
  })

  it('replaces both prices when the currency changes', async () => {
    const changed = (await updateTier(t.services.db, new Date(), 'patron', { currency: 'eur' }))!
    expect(await syncTierToStripe(stripe, t.services.db, new Date(), changed)).toMatchObject({ created: 2 })
    expect(await priceByKey('masthead_patron_month')).toMatchObject({ currency: 'eur', unit_amount: 1500 })
    expect(await priceByKey('masthead_patron_year')).toMatchObject({ currency: 'eur', unit_amount: 15000 })
    expect((await allPrices()).filter((p) => p.active)).toHaveLength(4)
  })

  it('updates the product in place for a new name, description or active flag', async () => {
    const changed = (await updateTier(t.services.db, new Date(), 'reader', {
      name: 'Regular reader',
      description: '',
      active: false,
    }))!
    expect(await syncTierToStripe(stripe, t.services.db, new Date(), changed)).toEqual({
      created: 0,
      updated: 1,
      unchanged: 2,
    })
    const product = await stripe.products.retrieve(changed.stripeProductId!)
    expect(product).toMatchObject({ name: 'Regular reader', active: false })
    expect(product.description ?? '').toBe('')
    expect(await allProducts()).toHaveLength(3)
    expect(await syncTierToStripe(stripe, t.services.db, new Date(), changed)).toEqual({
      created: 0,
      updated: 0,
      unchanged: 3,
    })
  })

  it('finds its products by metadata when the database has lost the ids', async () => {
    const known = (await getTier(t.services.db, 'patron'))!
    await t.services.db
      .update(tiers)
      .set({ stripeProductId: null, stripeMonthlyPriceId: null, stripeYearlyPriceId: null })
      .where(eq(tiers.id, 'patron'))
    await t.services.db.delete(stripeObjects)
    // Someone else's product with the same name is not Masthead's.
    await stripe.products.create({ name: 'Patron', metadata: { tier_id: 'patron' } })

    expect(await syncAllToStripe(t.services)).toMatchObject({ created: 0, updated: 0 })
    const restored = (await getTier(t.services.db, 'patron'))!
    expect(restored.stripeProductId).toBe(known.stripeProductId)
    expect(restored.stripeMonthlyPriceId).toBe(known.stripeMonthlyPriceId)
    expect(restored.stripeYearlyPriceId).toBe(known.stripeYearlyPriceId)
    expect(await pledgeProductId(t.services.db)).not.toBeNull()
  })

  it('reactivates a current price that was archived in the dashboard', async () => {
    const tier = (await getTier(t.services.db, 'patron'))!
    await stripe.prices.update(tier.stripeYearlyPriceId!, { active: false })
    expect(await syncTierToStripe(stripe, t.services.db, new Date(), tier)).toEqual({
      created: 0,
      updated: 1,
      unchanged: 2,
    })
    expect((await stripe.prices.retrieve(tier.stripeYearlyPriceId!)).active).toBe(true)
  })

  it('syncs a new tier on its own', async () => {
    const tier = await createTier(t.services.db, new Date(), {
      id: 'sponsor',
      name: 'Sponsor',
      description: 'For those who can.',
      currency: 'gbp',
      monthlyAmount: 5000,
      yearlyAmount: 50000,
      position: 2,
      active: true,
      benefits: ['adFree'],
    })
    expect(await syncTierToStripe(stripe, t.services.db, new Date(), tier)).toEqual({
      created: 3,
      updated: 0,
      unchanged: 0,
    })
    const synced = (await getTier(t.services.db, 'sponsor'))!
    expect(synced.stripeProductId).toMatch(/^prod_/)
    expect(synced.stripeMonthlyPriceId).toMatch(/^price_/)
    expect(synced.stripeYearlyPriceId).toMatch(/^price_/)
    const mastheads = (await allProducts()).filter((p) => p.metadata.masthead === '1')
    expect(mastheads).toHaveLength(4)
  })
})
