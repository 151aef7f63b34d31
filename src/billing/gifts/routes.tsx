import { and, asc, eq } from 'drizzle-orm'
import { Hono, type Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import * as z from 'zod'
import { cookieIsSecure, createSession, setSessionCookie } from '../../accounts/sessions'
import { gifts, tiers } from '../../db/schema'
import { clearViewCookie } from '../../entitlements/page-view'
import { wantsJson } from '../../http/doors'
import { AppError } from '../../http/errors'
import { answerFormError } from '../../http/forms'
import { fieldErrors, readBody, typed, validationError, type FieldErrors } from '../../http/input'
import { describeError, log } from '../../http/log'
import { absoluteUrl, pathTo } from '../../http/paths'
import { openAddress } from '../../privacy/people'
import type { AppEnv, Services } from '../../services'
import { page } from '../../ui/layout'
import { randomId } from '../../util/random'
import { limitSignedOutStart } from '../checkout-routes'
import { ensureCustomer } from '../customers'
import { MASTHEAD_METADATA, withStripe } from '../stripe'
import { dropUnpaidGifts, giftByToken, giftInput, giftPrice, giftsGivenBy, newGift, redeemGift } from './gifts'
import { giftStartsLaterMessage } from './mails'
import { GiftLinkProblem, GiftPage, GiftThanks, RedeemGift, type GiftFormValues } from './pages'

/** The gift pages, at /gift: the form, the thanks after Checkout, and the recipient's link. */
export const giftPages = new Hono<AppEnv>()

/** Buying a gift, under /billing (forms and API clients both post here). */
export const giftBilling = new Hono<AppEnv>()

const tokenInput = z.object({ token: z.string({ error: 'The link is incomplete.' }).min(10).max(200) })
const today = (services: Services) => services.clock.now().toISOString().slice(0, 10)

giftPages.get('/', (c) =>
  giftForm(c, {
    notice: c.req.query('checkout') === 'canceled' ? 'Checkout was canceled; nothing was charged.' : undefined,
  }),
)

giftPages.get('/thanks', (c) => {
  // A gift for today is due as soon as its payment's webhook has queued it: on Node, wake the job
  // loop rather than leave it to its next look (at most 5 minutes); the Cron Trigger runs each minute.
  c.var.services.kickJobs?.()
  return page(c, 'Thank you', <GiftThanks />)
})

giftPages.get('/redeem', async (c) => {
  c.header('Cache-Control', 'no-store')
  const token = c.req.query('token') ?? ''
  try {
    const gift = await giftByToken(c.var.services.db, token)
    const [tier] = gift.tierId
      ? await c.var.services.db.select({ name: tiers.name }).from(tiers).where(eq(tiers.id, gift.tierId))
      : []
    return page(c, 'Your gift', <RedeemGift token={token} tierName={tier?.name ?? null} months={gift.months} />)
  } catch (error) {
    if (error instanceof AppError)
      return page(c, 'Gift link', <GiftLinkProblem message={error.message} />, error.status)
    throw error
  }
})

giftPages.post('/redeem', async (c) => {
  c.header('Cache-Control', 'no-store')
  const { services } = c.var
  const { db, config, clock } = services
  const parsed = tokenInput.safeParse(await readBody(c))
  if (!parsed.success) throw validationError(fieldErrors(parsed.error))
  const keyring = await services.keyring
  const now = clock.now()
  let redeemed
  try {
    redeemed = await redeemGift(db, { config, keyring }, now, parsed.data.token)
  } catch (error) {
    if (error instanceof AppError && error.code === 'invalid_token') {
      return page(c, 'Gift link', <GiftLinkProblem message={error.message} />, error.status)
    }
    throw error
  }
  const { token } = await createSession(db, config, redeemed.userId)
  setSessionCookie(c, db, config, token)
  clearViewCookie(c, cookieIsSecure(config))
  if (redeemed.giverEmail) {
    await services.mailer
      .send(giftStartsLaterMessage(redeemed.giverEmail, config.PUBLICATION_NAME, redeemed))
      .catch((error) => log('warn', 'mail_send_failed', { requestId: c.get('requestId'), ...describeError(error) }))
  }
  return c.redirect(pathTo(c, `/account?notice=${redeemed.waits ? 'gift-waits' : 'gift-started'}`), 303)
})

giftBilling.post('/gift', async (c) => {
  const { services } = c.var
  const { db, config, clock } = services
  const body = await readBody(c)
  const values: GiftFormValues = Object.fromEntries(
    ['tier', 'months', 'recipient_email', 'deliver_on', 'message', 'from_name', 'email'].map((k) => [
      k,
      typed(body[k]),
    ]),
  )
  const refuse = (problem: AppError | FieldErrors) =>
    answerFormError(c, problem, (errors, status) => giftForm(c, { values, errors }, status))
  const parsed = giftInput(today(services)).safeParse(body)
  if (!parsed.success) return refuse(fieldErrors(parsed.error))
  const input = parsed.data
  const user = c.var.user
  if (!user && !input.email) {
    return refuse({ email: 'Enter your e-mail address for the receipt, or sign in first.' })
  }
  const [tier] = await db
    .select()
    .from(tiers)
    .where(and(eq(tiers.id, input.tier), eq(tiers.active, true)))
  if (!tier) return refuse({ tier: `There is no tier called "${input.tier}".` })
  if (!services.stripe) throw new AppError('payments_unavailable', 'Payments are not set up on this server yet.')
  const stripe = services.stripe
  const keyring = await services.keyring
  const now = clock.now()
  if (!user) await limitSignedOutStart(c, input.email)
  const giverEmail = user ? await openAddress(keyring, user.stored) : input.email!
  const customer = user ? await withStripe(() => ensureCustomer(db, stripe, keyring, now, user)) : null
  const amount = giftPrice(tier, input.months)
  const giftId = randomId()
  const metadata = { ...MASTHEAD_METADATA, kind: 'gift', gift_id: giftId, tier_id: tier.id }
  const session = await withStripe(() =>
    stripe.checkout.sessions.create({
      mode: 'payment',
      ...(customer ? { customer, client_reference_id: user!.id } : { customer_email: giverEmail }),
      line_items: [
        {
          price_data: {
            currency: tier.currency,
            unit_amount: amount,
            product_data: {
              name: `Gift: ${input.months} months of ${tier.name} at ${config.PUBLICATION_NAME}`,
              metadata: { ...MASTHEAD_METADATA },
            },
          },
          quantity: 1,
        },
      ],
      metadata,
      payment_intent_data: { metadata },
      success_url: absoluteUrl(config, '/gift/thanks?session_id={CHECKOUT_SESSION_ID}'),
      cancel_url: absoluteUrl(config, '/gift?checkout=canceled'),
    }),
  )
  await dropUnpaidGifts(db, now)
  await db.insert(gifts).values(
    await newGift(keyring, now, {
      id: giftId,
      tier,
      input,
      amount,
      giverUserId: user?.id ?? null,
      giverEmail,
      checkoutSessionId: session.id,
    }),
  )
  if (wantsJson(c)) return c.json({ url: session.url, kind: 'checkout', giftId })
  return c.redirect(session.url!, 303)
})

async function giftForm(
  c: Context<AppEnv>,
  extra: { values?: GiftFormValues; errors?: FieldErrors; notice?: string | undefined },
  status: ContentfulStatusCode = 200,
) {
  const { db, stripe } = c.var.services
  const user = c.var.user
  const [offers, given] = await Promise.all([
    db
      .select({
        id: tiers.id,
        name: tiers.name,
        currency: tiers.currency,
        monthlyAmount: tiers.monthlyAmount,
        yearlyAmount: tiers.yearlyAmount,
      })
      .from(tiers)
      .where(eq(tiers.active, true))
      .orderBy(asc(tiers.position), asc(tiers.name)),
    user ? giftsGivenBy(db, user.id) : [],
  ])
  // Without Stripe nothing can be sold: the form is not offered.
  const sold = stripe ? offers : []
  return page(
    c,
    'Give a membership',
    <GiftPage tiers={sold} signedIn={!!user} today={today(c.var.services)} given={given} {...extra} />,
    status,
  )
}
