import { asc, eq } from 'drizzle-orm'
import { Hono, type Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import Stripe from 'stripe'
import * as z from 'zod'
import { hitRateLimit } from '../accounts/rate-limit'
import { tiers, INTERVALS } from '../db/schema'
import { cookieIsSecure } from '../accounts/sessions'
import { clearViewCookie } from '../entitlements/page-view'
import { clientIp } from '../http/client-ip'
import { wantsJson } from '../http/doors'
import { AppError } from '../http/errors'
import { answerFormError } from '../http/forms'
import { requireRole } from '../http/guards'
import { emailField, fieldErrors, readBody, typed, type FieldErrors } from '../http/input'
import { describeError, log } from '../http/log'
import { absoluteUrl, pathTo } from '../http/paths'
import type { AppEnv, Services } from '../services'
import { page } from '../ui/layout'
import { SupportPage } from './join-page'
import { customerIdOf, ensureCustomer, hasLiveSubscription } from './customers'
import { majorUnits, minorUnits, toMajorUnits } from '../util/money'
import { chargeProblem } from '../util/currencies'
import { tierPriceFor } from './tiers/tiers'
import { MASTHEAD_METADATA } from './stripe'
import { pledgeProductId } from './tiers/stripe-sync'

const checkoutInput = z.object({
  tier: z.string({ error: 'Choose a tier.' }).min(1, 'Choose a tier.').max(64),
  interval: z.enum(INTERVALS, { error: 'The interval must be month or year.' }),
  // Which of the tier's currencies to pay in (absent: the tier's own); tierPriceFor checks it.
  currency: z.string({ error: 'The currency must be a code such as EUR.' }).max(10).optional(),
  email: emailField.optional(),
})

const donationInput = (amount: z.ZodType<number>) =>
  z.object({
    amount,
    currency: z.string({ error: 'Choose a currency.' }).trim().toLowerCase(),
    frequency: z.enum(['once', 'monthly'], { error: 'The frequency must be once or monthly.' }).default('once'),
    email: emailField.optional(),
  })

/** The join page, /join (and /support, where it used to live). */
export const joinPages = new Hono<AppEnv>()

/** Readers paying, under /billing: checkout for tiers, donations and pledges, and the billing portal. Forms and API clients both post here. */
export const billing = new Hono<AppEnv>()

/** The page used to live here; links to it keep working. */
joinPages.get('/support', (c) => c.redirect(pathTo(c, `/join${new URL(c.req.url).search}`), 301))

joinPages.get('/join', async (c) => {
  const notice =
    c.req.query('checkout') === 'canceled'
      ? 'Checkout was canceled; nothing was charged.'
      : c.req.query('from') === 'patreon'
        ? 'Welcome from Patreon: your tier is chosen below. Your Patreon membership runs until its paid time ends.'
        : undefined
  return renderSupport(c, { notice })
})

billing.post('/checkout', async (c) => {
  const { services } = c.var
  const stripe = stripeOf(services)
  const parsed = checkoutInput.safeParse(await readBody(c))
  if (!parsed.success) return formError(c, fieldErrors(parsed.error))
  const input = parsed.data
  // ---- the tier's Stripe price in the chosen currency (src/billing/tiers/tiers.ts, tierPriceFor)
  const choice = await tierPriceFor(services.db, input.tier, input.currency, input.interval)
  if (!choice.ok) return formError(c, choice.error)
  const { tier, priceId } = choice
  // ---- end of the price lookup
  if (!priceId) throw new AppError('payments_unavailable', 'This tier is not on sale yet. Please try again later.')
  return startSubscription(c, stripe, input.email, {
    line_items: [{ price: priceId, quantity: 1 }],
    metadata: { ...MASTHEAD_METADATA, kind: 'tier', tier_id: tier.id },
    subscription_data: { metadata: { ...MASTHEAD_METADATA, tier_id: tier.id } },
  })
})

billing.post('/donate', async (c) => {
  const { services } = c.var
  const { config } = services
  const stripe = stripeOf(services)
  const body = await readBody(c)
  // API clients send integer minor units; people type "12.50" in a form.
  // The form's amount is read in the chosen currency's decimals ("1000" yen, "12.50" euros).
  const parsed = donationInput(wantsJson(c) ? minorUnits : majorUnits(typed(body.currency).trim())).safeParse(body)
  if (!parsed.success) return formError(c, fieldErrors(parsed.error))
  const input = parsed.data
  if (!config.SUPPORTED_CURRENCIES.includes(input.currency)) {
    const list = config.SUPPORTED_CURRENCIES.map((x) => x.toUpperCase()).join(', ')
    return formError(c, new AppError('validation_failed', `We accept ${list}.`))
  }
  if (input.amount < config.DONATION_MIN || input.amount > config.DONATION_MAX) {
    // In the currency's own units: 100 minor units are 1 USD but 100 JPY.
    const major = (amount: number) => toMajorUnits(amount, input.currency).replace(/\.0+$/, '')
    const range = `between ${major(config.DONATION_MIN)} and ${major(config.DONATION_MAX)} ${input.currency.toUpperCase()}`
    return formError(c, new AppError('validation_failed', `The amount must be ${range}.`))
  }
  const unchargeable = chargeProblem(input.amount, input.currency, wantsJson(c) ? 'minor' : 'typed')
  if (unchargeable) return formError(c, new AppError('validation_failed', unchargeable))
  if (input.frequency === 'monthly') {
    const pledgeProduct = await pledgeProductId(services.db)
    if (!pledgeProduct)
      throw new AppError('payments_unavailable', 'Monthly pledges are not open yet. Please try again later.')
    return startSubscription(c, stripe, input.email, {
      line_items: [
        {
          price_data: {
            currency: input.currency,
            unit_amount: input.amount,
            product: pledgeProduct,
            recurring: { interval: 'month' },
          },
          quantity: 1,
        },
      ],
      metadata: { ...MASTHEAD_METADATA, kind: 'pledge' },
      subscription_data: { metadata: { ...MASTHEAD_METADATA, kind: 'pledge' } },
    })
  }
  const user = c.var.user
  if (!user) await limitSignedOutStart(c, input.email)
  const keyring = await services.keyring
  const customer = user
    ? await withStripe(() => ensureCustomer(services.db, stripe, keyring, services.clock.now(), user))
    : null
  const session = await withStripe(() =>
    stripe.checkout.sessions.create({
      mode: 'payment',
      submit_type: 'donate',
      ...(customer ? { customer } : input.email ? { customer_email: input.email } : {}),
      ...(user ? { client_reference_id: user.id } : {}),
      line_items: [
        {
          price_data: {
            currency: input.currency,
            unit_amount: input.amount,
            product_data: { name: `Donation to ${config.PUBLICATION_NAME}`, metadata: { ...MASTHEAD_METADATA } },
          },
          quantity: 1,
        },
      ],
      metadata: { ...MASTHEAD_METADATA, kind: 'donation' },
      payment_intent_data: { metadata: { ...MASTHEAD_METADATA, kind: 'donation' } },
      ...returnUrls(services),
    }),
  )
  return redirectTo(c, session.url!, 'checkout')
})

// The one route here that needs an account.
billing.post('/portal', requireRole('reader'), async (c) => {
  const { services } = c.var
  const stripe = stripeOf(services)
  const customer = await customerIdOf(services.db, c.var.user!.id)
  if (!customer) throw new AppError('not_found', 'You have no billing account yet: become a supporter first.')
  return openPortal(c, stripe, customer)
})

billing.get('/thanks', (c) => {
  // In gateway mode, the next page of the site reads the session again and shows the new membership.
  clearViewCookie(c, cookieIsSecure(c.var.services.config))
  return page(
    c,
    'Thank you',
    <>
      <h1>Thank you</h1>
      <p>Your payment went through. Your membership shows on your account within a minute.</p>
      <p>
        <a href={pathTo(c, '/account')}>Your account</a>
      </p>
    </>,
  )
})

/**
 * Signed-out starts are limited like sign-in links, per client and per
 * address, with their own counters. Every address counts the same, whether
 * or not it has an account or a membership, so the limit tells nothing.
 */
async function limitSignedOutStart(c: Context<AppEnv>, email: string | undefined) {
  const { db, clock, config } = c.var.services
  const keyring = await c.var.services.keyring
  const now = clock.now()
  const rule = { limit: config.SIGN_IN_LIMIT, windowMs: config.SIGN_IN_WINDOW_MINUTES * 60_000 }
  await hitRateLimit(db, keyring, now, { scope: 'checkout:ip', subject: clientIp(c), ...rule })
  if (email) await hitRateLimit(db, keyring, now, { scope: 'checkout:email', subject: email, ...rule })
}

/**
 * Subscription checkout for a tier or a pledge. A signed-in reader who
 * already pays is sent to the portal instead: that tells them only about
 * themselves. Signed out, nothing about the address is looked up.
 */
async function startSubscription(
  c: Context<AppEnv>,
  stripe: Stripe,
  email: string | undefined,
  params: Pick<Stripe.Checkout.SessionCreateParams, 'line_items' | 'metadata' | 'subscription_data'>,
) {
  const { services } = c.var
  const user = c.var.user
  const now = services.clock.now()
  if (!user && !email) {
    return formError(c, new AppError('validation_failed', 'Enter your e-mail address, or sign in first.'))
  }
  if (user) {
    const keyring = await services.keyring
    const customer = await withStripe(() => ensureCustomer(services.db, stripe, keyring, now, user))
    if (await withStripe(() => hasLiveSubscription(stripe, customer, now))) return openPortal(c, stripe, customer)
    const session = await withStripe(() =>
      stripe.checkout.sessions.create({
        mode: 'subscription',
        customer,
        client_reference_id: user.id,
        ...params,
        subscription_data: { metadata: { ...params.subscription_data?.metadata, user_id: user.id } },
        ...returnUrls(services),
      }),
    )
    return redirectTo(c, session.url!, 'checkout')
  }
  // Signed out: the same answer for every address, whoever it belongs to. The account is created or linked
  // when the checkout completes; a membership it duplicates is settled then (webhooks/events/duplicate-membership.ts).
  await limitSignedOutStart(c, email)
  const session = await withStripe(() =>
    stripe.checkout.sessions.create({
      mode: 'subscription',
      customer_email: email!,
      ...params,
      ...returnUrls(services),
    }),
  )
  return redirectTo(c, session.url!, 'checkout')
}

async function openPortal(c: Context<AppEnv>, stripe: Stripe, customer: string) {
  const { config } = c.var.services
  const session = await withStripe(() =>
    stripe.billingPortal.sessions.create({ customer, return_url: absoluteUrl(config, '/account') }),
  )
  return redirectTo(c, session.url, 'portal')
}

const returnUrls = ({ config }: Services) => ({
  success_url: absoluteUrl(config, '/billing/thanks?session_id={CHECKOUT_SESSION_ID}'),
  cancel_url: absoluteUrl(config, '/join?checkout=canceled'),
})

/** People are sent on; JSON clients get the URL (and whether it is a checkout or the portal). */
function redirectTo(c: Context<AppEnv>, url: string, kind: 'checkout' | 'portal') {
  if (wantsJson(c)) return c.json({ url, kind })
  return c.redirect(url, 303)
}

function stripeOf(services: Services): Stripe {
  if (!services.stripe) throw new AppError('payments_unavailable', 'Payments are not set up on this server yet.')
  return services.stripe
}

/** Stripe being down or refusing is not the reader's fault: 503 with a plain message, details in the log. */
async function withStripe<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (error) {
    if (error instanceof Stripe.errors.StripeError) {
      log('warn', 'stripe_call_failed', { ...describeError(error), stripeCode: error.code, status: error.statusCode })
      throw new AppError(
        'payments_unavailable',
        'Payments are unavailable right now. Please try again in a few minutes.',
      )
    }
    throw error
  }
}

/** A mistake in a checkout or donation form: the join page again with the message, or the error for API clients. */
function formError(c: Context<AppEnv>, problem: AppError | FieldErrors) {
  return answerFormError(c, problem, (errors, status) => renderSupport(c, { error: Object.values(errors)[0] }, status))
}

async function renderSupport(
  c: Context<AppEnv>,
  messages: { error?: string | undefined; notice?: string | undefined },
  status: ContentfulStatusCode = 200,
) {
  const { db, config } = c.var.services
  const offers = await db
    .select()
    .from(tiers)
    .where(eq(tiers.active, true))
    .orderBy(asc(tiers.position), asc(tiers.name))
  return page(
    c,
    'Join',
    <SupportPage
      tiers={offers}
      user={c.var.user}
      currencies={config.SUPPORTED_CURRENCIES}
      selected={c.req.query('tier')}
      {...messages}
    />,
    status,
  )
}
