import { eq } from 'drizzle-orm'
import type Stripe from 'stripe'
import { describe, expect, it, vi } from 'vitest'
import { subscriptions, tiers } from '../../src/db/schema'
import { lastMailTo, nextClientIp, signIn } from '../helpers/auth'
import { sessionIdOf, useBillingWorld } from '../helpers/billing'

// Suggested amounts, frequencies and offers reach Checkout as the right prices (issue #20 part 1, #19 part 4).
const w = useBillingWorld({
  live: true,
  env: {
    SUGGESTED_AMOUNTS_ONCE: '20,40*,80',
    SUGGESTED_AMOUNTS_MONTH: '4,8*,16',
    SUGGESTED_AMOUNTS_YEAR: '40,80*,160',
    ALLOW_PROMOTION_CODES: 'true',
  },
})

const form = (body: Record<string, string>, cookie?: string) => ({
  method: 'POST',
  headers: {
    'Content-Type': 'application/x-www-form-urlencoded',
    'CF-Connecting-IP': nextClientIp(),
    ...(cookie ? { Cookie: cookie } : {}),
  },
  body: new URLSearchParams(body),
})

/** Posts the join page's gift form; returns the Checkout Session it leads to, with its line items. */
async function give(body: Record<string, string>): Promise<Stripe.Checkout.Session> {
  const res = await w.t.app.request('/billing/donate', form({ currency: 'usd', email: 'giver@example.org', ...body }))
  expect(res.status).toBe(303)
  return w.stripe.checkout.sessions.retrieve(sessionIdOf(res.headers.get('location')!), { expand: ['line_items'] })
}

const linePrices = (session: Stripe.Checkout.Session) =>
  session.line_items!.data.map((li) => ({
    amount: li.price!.unit_amount,
    currency: li.price!.currency,
    interval: li.price!.recurring?.interval ?? null,
  }))

describe('the join page', () => {
  it('offers each frequency with the admin’s suggestions, the default chosen, and another amount', async () => {
    const html = await (await w.t.app.request('/join')).text()
    for (const [frequency, amounts, chosen] of [
      ['once', ['20', '40', '80'], '40'],
      ['monthly', ['4', '8', '16'], '8'],
      ['yearly', ['40', '80', '160'], '80'],
    ] as const) {
      const set = html.match(
        new RegExp(`<fieldset class="amounts" data-frequency="${frequency}">(.*?)</fieldset>`, 's'),
      )?.[1]
      expect(set, frequency).toBeDefined()
      expect([...set!.matchAll(/name="suggested_\w+" value="([\d.]+)"/g)].map((m) => m[1])).toEqual(amounts)
      expect(set).toMatch(new RegExp(`value="${chosen}" checked`))
    }
    expect(html).toContain('<label for="donate-amount">Other amount</label>')
    expect(html).toMatch(/name="frequency" value="once" checked/)
    // The page's script comes from this origin; the page works without it.
    expect(html).toContain('<script src="/assets/join.js" defer="">')
    const script = await w.t.app.request('/assets/join.js')
    expect(script.status).toBe(200)
    expect(script.headers.get('content-type')).toContain('javascript')
  })

  it('shows each tier as a card with both prices, what yearly saves, and its benefits in plain words', async () => {
    const html = await (await w.t.app.request('/join?tier=patron')).text()
    const patron = html.match(/<section aria-labelledby="tier-patron" class="([^"]*)">(.*?)<\/section>/s)!
    expect(patron[1]).toContain('selected')
    expect(patron[2]).toContain('Chosen for you')
    expect(patron[2]).toContain('<strong>$15.00</strong> a month')
    expect(patron[2]).toContain('<strong>$150.00</strong> a year')
    expect(patron[2]).toContain('(you save $30.00)')
    for (const words of ['No ads', 'Supporters-only articles', 'Read new stories first', 'No more asking']) {
      expect(patron[2]).toContain(`<li>${words}</li>`)
    }
    // The invited tier comes first.
    expect(html.indexOf('tier-patron')).toBeLessThan(html.indexOf('tier-reader'))
    expect(html).toContain('Yearly (save up to 16%)')
  })
})

describe('gifts reach Checkout as the right prices', () => {
  it('a suggested yearly gift is a yearly subscription of that amount', async () => {
    const session = await give({
      frequency: 'yearly',
      suggested_once: '40',
      suggested_monthly: '8',
      suggested_yearly: '160',
    })
    expect(session.mode).toBe('subscription')
    expect(linePrices(session)).toEqual([{ amount: 16000, currency: 'usd', interval: 'year' }])
    expect(session.metadata).toMatchObject({ kind: 'pledge', interval: 'year' })
    expect(session.success_url).toContain('kind=pledge&interval=year')
  })

  it('a suggested monthly gift is monthly, and a one-time gift a payment', async () => {
    const monthly = await give({ frequency: 'monthly', suggested_monthly: '4', suggested_yearly: '80' })
    expect(linePrices(monthly)).toEqual([{ amount: 400, currency: 'usd', interval: 'month' }])
    const once = await give({ frequency: 'once', suggested_once: '80', suggested_monthly: '8' })
    expect(once.mode).toBe('payment')
    expect(linePrices(once)).toEqual([{ amount: 8000, currency: 'usd', interval: null }])
  })

  it('an amount typed in "Other amount" wins over the suggestion still chosen', async () => {
    const session = await give({ frequency: 'monthly', suggested_monthly: '8', amount: '12.50' })
    expect(linePrices(session)).toEqual([{ amount: 1250, currency: 'usd', interval: 'month' }])
  })

  it('refuses a gift with no amount, or an unknown frequency, and starts nothing', async () => {
    const before = (await w.stripe.checkout.sessions.list({ limit: 100 })).data.length
    const none = await w.t.app.request('/billing/donate', form({ currency: 'usd', frequency: 'once' }))
    expect(none.status).toBe(422)
    expect(await none.text()).toContain('Enter an amount')
    const odd = await w.t.app.request('/billing/donate', form({ currency: 'usd', frequency: 'weekly', amount: '5' }))
    expect(odd.status).toBe(422)
    expect(await odd.text()).toContain('The frequency must be once, monthly or yearly.')
    expect((await w.stripe.checkout.sessions.list({ limit: 100 })).data.length).toBe(before)
  })

  it('API clients give yearly in minor units', async () => {
    const res = await w.t.app.request('/billing/donate', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'CF-Connecting-IP': nextClientIp() },
      body: JSON.stringify({ amount: 2500, currency: 'usd', frequency: 'yearly', email: 'api@example.org' }),
    })
    const { url } = (await res.json()) as { url: string }
    const session = await w.stripe.checkout.sessions.retrieve(sessionIdOf(url), { expand: ['line_items'] })
    expect(linePrices(session)).toEqual([{ amount: 2500, currency: 'usd', interval: 'year' }])
  })
})

describe('offers', () => {
  it('accepts promotion codes on membership checkouts (ALLOW_PROMOTION_CODES)', async () => {
    const res = await w.t.app.request(
      '/billing/checkout',
      form({ tier: 'reader', interval: 'year', email: 'promo@example.org' }),
    )
    const session = await w.stripe.checkout.sessions.retrieve(sessionIdOf(res.headers.get('location')!))
    expect(session.allow_promotion_codes).toBe(true)
  })

  it('a tier with a free trial says so on its card, starts trialing, and the welcome and thanks page say so', async () => {
    await w.t.services.db.update(tiers).set({ trialDays: 14 }).where(eq(tiers.id, 'reader'))
    const html = await (await w.t.app.request('/join')).text()
    expect(html.match(/<section aria-labelledby="tier-reader".*?<\/section>/s)?.[0]).toContain('14-day free trial')
    expect(html.match(/<section aria-labelledby="tier-patron".*?<\/section>/s)?.[0]).not.toContain('free trial')

    const res = await w.t.app.request(
      '/billing/checkout',
      form({ tier: 'reader', interval: 'month', email: 'trial@example.org' }),
    )
    const sessionId = sessionIdOf(res.headers.get('location')!)
    await w.standIn.completeCheckout(sessionId)
    const session = await w.stripe.checkout.sessions.retrieve(sessionId)
    expect(session.payment_status).toBe('no_payment_required')
    const [stored] = await w.t.services.db
      .select()
      .from(subscriptions)
      .where(eq(subscriptions.id, session.subscription as string))
    expect(stored?.status).toBe('trialing')
    expect(stored?.tierId).toBe('reader')
    const { message } = await lastMailTo(w.t.app, 'trial@example.org')
    expect(message?.subject).toBe('Welcome to Masthead')
    expect(message?.text).toContain('Your 14-day free trial of your Reader membership has begun')

    const thanks = new URL(session.success_url!.replace('{CHECKOUT_SESSION_ID}', sessionId))
    const page = await (await w.t.app.request(`${thanks.pathname}${thanks.search}`)).text()
    expect(page).toContain('14-day free trial of your Reader membership has begun')
    await w.t.services.db.update(tiers).set({ trialDays: 0 }).where(eq(tiers.id, 'reader'))
  })

  it('is for a first membership: a signed-in reader who has had one is offered none', async () => {
    await w.t.services.db.update(tiers).set({ trialDays: 14 }).where(eq(tiers.id, 'reader'))
    const cookie = await signIn(w.t.app, 'trial-again@example.org')
    const checkout = async () => {
      const res = await w.t.app.request('/billing/checkout', form({ tier: 'reader', interval: 'month' }, cookie))
      expect(res.status).toBe(303)
      return w.stripe.checkout.sessions.retrieve(sessionIdOf(res.headers.get('location')!))
    }
    const first = await checkout()
    expect(first.metadata?.trial_days).toBe('14')
    await w.standIn.completeCheckout(first.id)
    const subscription = (await w.stripe.checkout.sessions.retrieve(first.id)).subscription as string
    await w.stripe.subscriptions.cancel(subscription)
    // The stand-in delivers customer.subscription.deleted on its own time.
    await vi.waitFor(async () => {
      const [ended] = await w.t.services.db.select().from(subscriptions).where(eq(subscriptions.id, subscription))
      expect(ended?.status).toBe('canceled')
    })
    const again = await checkout()
    expect(again.metadata?.trial_days).toBeUndefined()
    await w.t.services.db.update(tiers).set({ trialDays: 0 }).where(eq(tiers.id, 'reader'))
  })
})

describe('the thanks page', () => {
  it('welcomes a signed-out member at once and says how to sign in, without signing anyone in', async () => {
    const res = await w.t.app.request('/billing/thanks?session_id=cs_test_x&kind=tier&tier=patron&interval=year')
    expect(res.status).toBe(200)
    const html = await res.text()
    expect(html).toContain('Welcome to Masthead, and thank you: your Patron membership has begun.')
    expect(html).toContain('<li>No ads</li>')
    expect(html).toContain('This page does not sign you in.')
    expect(html).toContain('href="/auth/sign-in?next=%2Faccount"')
    expect(res.headers.get('set-cookie') ?? '').not.toContain('masthead_session')
  })

  it('tells a signed-in member where billing is managed', async () => {
    const cookie = await signIn(w.t.app, 'thanked@example.org')
    const html = await (
      await w.t.app.request('/billing/thanks?kind=pledge&interval=month', { headers: { Cookie: cookie } })
    ).text()
    expect(html).toContain('your monthly gift has begun')
    expect(html).toContain('choose &quot;Manage billing&quot;')
    expect(html).not.toContain('How to sign in')
  })
})
