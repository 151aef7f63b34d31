import Stripe from 'stripe'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startStripeStandIn, type StripeStandIn } from '../../src/dev/stripe-stand-in'

// The stand-in charges in Stripe's currencies by Stripe's rules (src/util/currencies.ts), through the real SDK.

let standIn: StripeStandIn
let stripe: Stripe

beforeAll(async () => {
  standIn = await startStripeStandIn({ deliver: null })
  stripe = new Stripe(standIn.secretKey, standIn.sdkOptions)
})
afterAll(() => standIn.close())

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => null,
    (error: unknown) => error as Stripe.errors.StripeError,
  )

const pay = (currency: string, unit_amount: number) =>
  stripe.checkout.sessions.create({
    mode: 'payment',
    line_items: [{ price_data: { currency, unit_amount, product_data: { name: 'Gift' } }, quantity: 1 }],
    success_url: 'http://localhost/ok',
    cancel_url: 'http://localhost/no',
  })

describe("the stand-in's currencies", () => {
  it('refuses a currency Stripe does not charge in', async () => {
    const product = await stripe.products.create({ name: 'Tier' })
    const error = await refusal(stripe.prices.create({ product: product.id, currency: 'xyz', unit_amount: 100 }))
    expect(error).toMatchObject({ statusCode: 400, param: 'currency', message: 'Invalid currency: xyz.' })
    expect(await refusal(pay('abc', 500))).toMatchObject({ statusCode: 400 })
  })

  it('charges yen whole and shows them so on its page', async () => {
    const session = await pay('jpy', 1000)
    expect(session).toMatchObject({ currency: 'jpy', amount_total: 1000 })
    const page = await (await fetch(session.url!)).text()
    expect(page).toContain('¥1,000')
  })

  it('refuses three-decimal amounts whose last digit is not 0, and ISK with decimals, as Stripe does', async () => {
    expect(await pay('kwd', 5120)).toMatchObject({ currency: 'kwd', amount_total: 5120 })
    expect(await refusal(pay('kwd', 5125))).toMatchObject({
      statusCode: 400,
      code: 'invalid_charge_amount',
      message: 'Invalid amount. Amounts in KWD must be rounded to the nearest ten: the last digit must be 0.',
    })
    expect(await pay('isk', 50000)).toMatchObject({ amount_total: 50000 })
    const page = await (await fetch((await pay('isk', 50000)).url!)).text()
    expect(page).toContain('ISK\u00a0500')
    expect(await refusal(pay('isk', 50050))).toMatchObject({
      statusCode: 400,
      code: 'invalid_charge_amount_no_decimal_compatible',
    })
    // HUF and TWD charges may have decimals (their whole-unit rule is for payouts).
    expect(await pay('huf', 123456)).toMatchObject({ amount_total: 123456 })
  })
})
