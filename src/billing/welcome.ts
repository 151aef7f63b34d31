import type Stripe from 'stripe'
import { fixedStatement } from '../db/client'
import { inListText, PAYING_STATUSES } from '../db/statuses'
import { PLEDGE_BENEFITS } from '../entitlements/membership'
import { absoluteUrl } from '../http/paths'
import type { MailMessage } from '../mail/mailer'
import { openAddress } from '../privacy/people'
import { formatMoney } from '../util/money'
import { benefitWords } from './giving'
import { welcomeMessage, type WelcomeDetails } from './messages'
import type { EventContext } from './webhooks/events/context'

interface Claimed {
  card: string | null
  email: string | null
  name: string | null
  tier_name: string | null
  tier_benefits: string[] | null
  tier_description: string | null
}

/**
 * One statement, of fixed text (prepared once per connection): claims the welcome of subscription
 * $2 (welcome_mails, keyed by the subscription: `on conflict do nothing`) if its customer $1 is
 * linked to an account, and returns who to write to and what the tier $4 gives, only when this
 * call inserted the row. A membership bought beside one the account already has going on (a
 * duplicate, refunded by duplicate-membership.ts) is not welcomed.
 */
const claimWelcome = fixedStatement<Claimed>(`with member as (
    select u.id, u.card, u.email, u.name from stripe_customers sc join users u on u.id = sc.user_id
    where sc.customer_id = $1),
  claimed as (
    insert into welcome_mails (subscription_id, sent_at)
    select $2, $3::timestamptz from member
    where not exists (select 1 from subscriptions s join stripe_customers other on other.customer_id = s.customer_id
      where other.user_id = member.id and s.id <> $2 and s.status in ${inListText(PAYING_STATUSES)}
        and not s.cancel_at_period_end)
    on conflict do nothing
    returning subscription_id)
  select member.card, member.email, member.name, t.name as tier_name, t.benefits as tier_benefits,
    t.description as tier_description
  from member join claimed on true left join tiers t on t.id = $4`)

/**
 * The welcome for a membership's first payment, from its checkout (checkout.session.completed
 * or .async_payment_succeeded): the checkout is what links the customer to an account (by the
 * account that started it, or by the address given), so whatever order Stripe delivers in, the
 * account is known here. Called from the handler's `finish`, for every delivery: one small
 * statement, and the e-mail only for the delivery that claimed it.
 */
export async function welcomeAfterCheckout(
  ctx: EventContext,
  session: Stripe.Checkout.Session,
): Promise<MailMessage | null> {
  if (session.mode !== 'subscription') return null
  if (session.payment_status !== 'paid' && session.payment_status !== 'no_payment_required') return null
  const customer = typeof session.customer === 'string' ? session.customer : session.customer?.id
  const subscription = typeof session.subscription === 'string' ? session.subscription : session.subscription?.id
  if (!customer || !subscription) return null
  const tierId = session.metadata?.tier_id ?? null
  const [row] = await claimWelcome(ctx.db, [customer, subscription, ctx.now.toISOString(), tierId])
  if (!row) return null
  const to = await openAddress(ctx.keyring, row)
  return welcomeMessage(to, ctx.config.PUBLICATION_NAME, {
    ...whatWasBought(session, row),
    signIn: absoluteUrl(ctx.config, '/auth/sign-in'),
    account: absoluteUrl(ctx.config, '/account'),
  })
}

function whatWasBought(session: Stripe.Checkout.Session, row: Claimed): Omit<WelcomeDetails, 'signIn' | 'account'> {
  const trialDays = Number(session.metadata?.trial_days ?? 0) || 0
  if (row.tier_name) {
    return {
      what: `your ${row.tier_name} membership`,
      benefits: benefitWords(row.tier_benefits ?? []),
      description: row.tier_description ?? '',
      trialDays,
    }
  }
  const yearly = session.metadata?.interval === 'year'
  const amount =
    session.amount_total && session.currency ? ` of ${formatMoney(session.amount_total, session.currency)}` : ''
  return {
    what: `your ${yearly ? 'yearly' : 'monthly'} gift${amount}`,
    benefits: benefitWords(PLEDGE_BENEFITS),
    description: '',
    trialDays: 0,
  }
}
