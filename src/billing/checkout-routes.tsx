import { Hono, type Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import Stripe from 'stripe'
import * as z from 'zod'
import { hitRateLimit } from '../accounts/rate-limit'
import { INTERVALS } from '../db/schema'
import { cookieIsSecure } from '../accounts/sessions'
import { clearViewCookie } from '../entitlements/page-view'
import { clientIp } from '../http/client-ip'
import { wantsJson } from '../http/doors'
import { AppError } from '../http/errors'
import { answerFormError, ticked } from '../http/forms'
import { requireRole } from '../http/guards'
import { emailField, fieldErrors, readBody, typed, type FieldErrors } from '../http/input'
import { absoluteUrl, pathTo } from '../http/paths'
import type { AppEnv, Services } from '../services'
import { page } from '../ui/layout'
import { SupportPage } from './join-page'
import { customerIdOf, ensureCustomer, hadMembership, hasLiveSubscription } from './customers'
import { majorUnits, minorUnits, toMajorUnits } from '../util/money'
import { chargeProblem } from '../util/currencies'
import { listTierOffers, tierPriceFor } from './tiers/tiers'
import { MASTHEAD_METADATA, withStripe } from './stripe'
import { pledgeProductId } from './tiers/stripe-sync'
import { feeCoverFor, offersFeeCover } from './fee-cover'
import { FREQUENCIES, intervalOf } from './giving'
import { goalProgress } from './goal'
import { joinAsset } from './join-assets'
import { ThanksPage, thanksFacts } from './thanks-page'

const checkoutInput = z.object({
  tier: z.string({ error: 'Choose a tier.' }).min(1, 'Choose a tier.').max(64),
  interval: z.enum(INTERVALS, { error: 'The interval must be month or year.' }),
  // Which of the tier's currencies to pay in (absent: the tier's own); tierPriceFor checks it.
  currency: z.string({ error: 'The currency must be a code such as EUR.' }).max(10).optional(),
  email: emailField.optional(),
  // A form's checkbox ("on" when ticked, absent when not) or an API client's boolean.
  cover_fees: z.unknown().optional().transform(ticked),
})

const donationInput = (amount: z.ZodType<number>) =>
  z.object({
    amount,
    currency: z.string({ error: 'Choose a currency.' }).trim().toLowerCase(),
    frequency: z.enum(FREQUENCIES, { error: 'The frequency must be once, monthly or yearly.' }).default('once'),
    email: emailField.optional(),
    cover_fees: z.unknown().optional().transform(ticked),
    // A signed-out donor's choice to be kept for year-end statements (a form's checkbox, an API client's boolean).
    keep_for_statements: z.unknown().optional().transform(ticked),
  })

/** The join page, /join (and /support, where it used to live), and its script and colours under /assets. */
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

// The join page's first-party script and the publication's colours (join-assets.ts).
joinPages.get('/assets/join.js', (c) => joinAsset(c, 'script'))
joinPages.get('/assets/theme.css', (c) => joinAsset(c, 'theme'))

billing.post('/checkout', async (c) => {
  const { services } = c.var
  const { config } = services
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
  const fee = input.cover_fees && offersFeeCover(config) ? feeCoverFor(config, choice.amount, choice.currency) : 0
  if (fee > 0 && !tier.stripeProductId) {
    throw new AppError('payments_unavailable', 'This tier is not on sale yet. Please try again later.')
  }
  // A tier's free trial is for a first membership: a signed-in reader who has had one gets none. A signed-out
  // checkout offers it to any address, since leaving it out would tell whether an address had been a member.
  const user = c.var.user
  const trialDays = tier.trialDays > 0 && !(user && (await hadMembership(services.db, user.id))) ? tier.trialDays : 0
  const covered: Record<string, string> = fee > 0 ? { fee_cover: String(fee) } : {}
  return startSubscription(
    c,
    stripe,
    input.email,
    {
      // With the fees covered, one price of the sum, on the tier's product: the subscription's amount is what is
      // charged, and `fee_cover` in its metadata says which part covers the fees (webhooks/events record it).
      line_items: [
        fee > 0
          ? {
              price_data: {
                currency: choice.currency,
                unit_amount: choice.amount + fee,
                product: tier.stripeProductId!,
                recurring: { interval: input.interval },
              },
              quantity: 1,
            }
          : { price: priceId, quantity: 1 },
      ],
      metadata: {
        ...MASTHEAD_METADATA,
        kind: 'tier',
        tier_id: tier.id,
        interval: input.interval,
        ...covered,
        ...(trialDays ? { trial_days: String(trialDays) } : {}),
      },
      subscription_data: {
        metadata: { ...MASTHEAD_METADATA, tier_id: tier.id, ...covered },
        ...(trialDays ? { trial_period_days: trialDays } : {}),
      },
      ...(config.ALLOW_PROMOTION_CODES ? { allow_promotion_codes: true } : {}),
    },
    { kind: 'tier', tier: tier.id, interval: input.interval, ...(trialDays ? { trial: String(trialDays) } : {}) },
  )
})

billing.post('/donate', async (c) => {
  const { services } = c.var
  const { config } = services
  const stripe = stripeOf(services)
  const body = await readBody(c)
  // API clients send integer minor units; people pick a suggested amount or type one ("12.50") in a form.
  if (!wantsJson(c)) body.amount = amountChosen(body)
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
  const fee = input.cover_fees && offersFeeCover(config) ? feeCoverFor(config, input.amount, input.currency) : 0
  const covered: Record<string, string> = fee > 0 ? { fee_cover: String(fee) } : {}
  if (input.frequency !== 'once') {
    // Monthly and yearly gifts are subscriptions to the pledge product, at the amount given (plus the fees covered).
    const interval = intervalOf(input.frequency)
    const pledgeProduct = await pledgeProductId(services.db)
    if (!pledgeProduct)
      throw new AppError('payments_unavailable', 'Regular gifts are not open yet. Please try again later.')
    return startSubscription(
      c,
      stripe,
      input.email,
      {
        line_items: [
          {
            price_data: {
              currency: input.currency,
              unit_amount: input.amount + fee,
              product: pledgeProduct,
              recurring: { interval },
            },
            quantity: 1,
          },
        ],
        metadata: { ...MASTHEAD_METADATA, kind: 'pledge', interval, ...covered },
        subscription_data: { metadata: { ...MASTHEAD_METADATA, kind: 'pledge', ...covered } },
      },
      { kind: 'pledge', interval },
    )
  }
  const user = c.var.user
  if (!user) await limitSignedOutStart(c, input.email)
  const keyring = await services.keyring
  const customer = user
    ? await withStripe(() => ensureCustomer(services.db, stripe, keyring, services.clock.now(), user))
    : null
  const line = (name: string, amount: number) => ({
    price_data: {
      currency: input.currency,
      unit_amount: amount,
      product_data: { name, metadata: { ...MASTHEAD_METADATA } },
    },
    quantity: 1,
  })
  const session = await withStripe(() =>
    stripe.checkout.sessions.create({
      mode: 'payment',
      submit_type: 'donate',
      ...(customer ? { customer } : input.email ? { customer_email: input.email } : {}),
      // A signed-out donor gets no account unless they ask to be kept for year-end statements: then Stripe makes
      // them a customer, which the webhook links by address to an account (created if new), as for a membership.
      ...(!customer && input.keep_for_statements ? { customer_creation: 'always' as const } : {}),
      ...(user ? { client_reference_id: user.id } : {}),
      // The fees covered are a line of their own, so the donor sees both parts before paying.
      line_items: [
        line(`Donation to ${config.PUBLICATION_NAME}`, input.amount),
        ...(fee > 0 ? [line('Card fees, covered by you', fee)] : []),
      ],
      metadata: { ...MASTHEAD_METADATA, kind: 'donation', ...covered },
      payment_intent_data: { metadata: { ...MASTHEAD_METADATA, kind: 'donation', ...covered } },
      ...returnUrls(services, { kind: 'donation' }),
    }),
  )
  return redirectTo(c, session.url!, 'checkout')
})

/** A form's amount: one typed in "Other amount" wins; else the suggestion chosen for the frequency chosen. */
function amountChosen(body: Record<string, unknown>): string {
  const typedAmount = typed(body.amount).trim()
  if (typedAmount) return typedAmount
  const frequency = typed(body.frequency) || 'once'
  return (FREQUENCIES as readonly string[]).includes(frequency) ? typed(body[`suggested_${frequency}`]).trim() : ''
}

// The one route here that needs an account.
billing.post('/portal', requireRole('reader'), async (c) => {
  const { services } = c.var
  const stripe = stripeOf(services)
  const customer = await customerIdOf(services.db, c.var.user!.id)
  if (!customer) throw new AppError('not_found', 'You have no billing account yet: become a supporter first.')
  return openPortal(c, stripe, customer)
})

billing.get('/thanks', async (c) => {
  // In gateway mode, the next page of the site reads the session again and shows the new membership.
  clearViewCookie(c, cookieIsSecure(c.var.services.config))
  // What was bought comes from the return URL Masthead gave Checkout: it only chooses the words (and never signs
  // anyone in), so a made-up one shows its maker a thank-you and nothing else.
  return page(c, 'Thank you', <ThanksPage {...await thanksFacts(c)} />)
})

/**
 * Signed-out starts are limited like sign-in links, per client and per
 * address, with their own counters. Every address counts the same, whether
 * or not it has an account or a membership, so the limit tells nothing.
 */
/** The limits on starting a checkout signed out (by address and by IP), as on signing in. */
export async function limitSignedOutStart(c: Context<AppEnv>, email: string | undefined) {
  const { db, clock, config } = c.var.services
  const keyring = await c.var.services.keyring
  const now = clock.now()
  const rule = { limit: config.SIGN_IN_LIMIT, windowMs: config.SIGN_IN_WINDOW_MINUTES * 60_000 }
  await hitRateLimit(db, keyring, now, { scope: 'checkout:ip', subject: clientIp(c), ...rule })
  if (email) await hitRateLimit(db, keyring, now, { scope: 'checkout:email', subject: email, ...rule })
}

type SubscriptionParams = Pick<
  Stripe.Checkout.SessionCreateParams,
  'line_items' | 'metadata' | 'subscription_data' | 'allow_promotion_codes'
>

/**
 * Subscription checkout for a tier or a pledge. A signed-in reader who
 * already pays is sent to the portal instead: that tells them only about
 * themselves. Signed out, nothing about the address is looked up.
 */
async function startSubscription(
  c: Context<AppEnv>,
  stripe: Stripe,
  email: string | undefined,
  params: SubscriptionParams,
  bought: Record<string, string>,
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
        subscription_data: {
          ...params.subscription_data,
          metadata: { ...params.subscription_data?.metadata, user_id: user.id },
        },
        ...returnUrls(services, bought),
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
      ...returnUrls(services, bought),
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

/** Where Checkout returns to; the thanks page's words follow what was bought (thanks-page.tsx). */
const returnUrls = ({ config }: Services, bought: Record<string, string>) => ({
  success_url: absoluteUrl(config, `/billing/thanks?session_id={CHECKOUT_SESSION_ID}&${new URLSearchParams(bought)}`),
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

/** A mistake in a checkout or donation form: the join page again with the message, or the error for API clients. */
function formError(c: Context<AppEnv>, problem: AppError | FieldErrors) {
  return answerFormError(c, problem, (errors, status) => renderSupport(c, { error: Object.values(errors)[0] }, status))
}

/** The page: the active tiers (a query), and the goal (from memory but once a minute: goal.ts). */
async function renderSupport(
  c: Context<AppEnv>,
  messages: { error?: string | undefined; notice?: string | undefined },
  status: ContentfulStatusCode = 200,
) {
  const { services } = c.var
  const [offers, goal] = await Promise.all([listTierOffers(services.db), goalProgress(services)])
  return page(
    c,
    'Join',
    <SupportPage
      tiers={offers}
      user={c.var.user}
      config={services.config}
      goal={goal}
      selected={c.req.query('tier')}
      {...messages}
    />,
    status,
  )
}
