import { sql } from 'drizzle-orm'
import type Stripe from 'stripe'
import { payments } from '../../../db/schema'
import { isMastheads } from '../../stripe'
import { feeCoverOf, fixedWrite, handler, idOf, iso, slot, whenStored, type EventContext, type Write } from './context'
import { settleDuplicates } from './duplicate-membership'
import { donationReceipt } from '../../statements/receipts'
import { linkByAddress, linkToAccount } from './link-customer'
import { welcomeAfterCheckout } from '../../welcome'

/**
 * checkout.session.completed and .async_payment_succeeded. The session is
 * taken from the signed event: each of these events carries the session as
 * it was when that step completed, and nothing later changes what it says was
 * paid. The customer is linked to the account that started the checkout, or
 * else to the account for the e-mail given at checkout, created for a
 * signed-out reader. A one-time donation is recorded once the session is
 * paid, never before. A subscription's state is not taken from here: it
 * comes with Stripe's customer.subscription.* events. A membership bought
 * for an account that already had one is settled afterwards
 * (duplicate-membership.ts).
 */
export const checkoutPaid = handler<Stripe.Checkout.Session>({
  prepare: async (_ctx, event) => {
    const session = event.data.object as Stripe.Checkout.Session
    return isMastheads(session.metadata) ? session : null
  },
  async writes(ctx, _event, session) {
    const customerId = idOf(session.customer)
    const email = addressOf(session)
    return [
      ...(customerId && session.client_reference_id
        ? linkToAccount(ctx, customerId, session.client_reference_id)
        : customerId && email
          ? await linkByAddress(ctx, customerId, email)
          : []),
      ...(session.mode === 'payment' && session.payment_status === 'paid' ? recordDonation(ctx, session) : []),
    ]
  },
  // A signed-out reader's customer is linked by address, to an account that may have been created without a
  // place in the name order (link-customer.ts): it is placed now that it is in.
  async after(ctx, _event, session) {
    if (idOf(session.customer) && !session.client_reference_id && addressOf(session)) await ctx.placeNewAccounts()
  },
  // Now that the customer is linked, the account may turn out to have had a membership already.
  async finish(ctx, _event, session) {
    // A one-time donation's receipt, claimed once whichever delivery gets here first (statements/receipts.ts).
    if (session.mode === 'payment') return donationReceipt(ctx, session)
    const customerId = idOf(session.customer)
    const paid = session.mode === 'subscription' && session.payment_status === 'paid' && customerId
    const settled = paid ? await settleDuplicates(ctx, customerId) : undefined
    // A membership's welcome, claimed once whatever the order and however many deliveries (welcome.ts).
    const welcome = await welcomeAfterCheckout(ctx, session)
    return welcome ? { mail: [...(settled?.mail ?? []), welcome] } : settled
  },
})

/** The address given at checkout. */
const addressOf = (session: Stripe.Checkout.Session) => session.customer_details?.email ?? session.customer_email

function recordDonation(ctx: EventContext, session: Stripe.Checkout.Session): Write[] {
  const paymentIntentId = idOf(session.payment_intent)
  if (!paymentIntentId || !session.amount_total || !session.currency) return []
  return [
    {
      name: 'donation',
      fixed: DONATION,
      values: {
        'donation.payment_intent': paymentIntentId,
        'donation.customer': idOf(session.customer),
        'donation.amount': session.amount_total,
        'donation.fee_cover': feeCoverOf(session.metadata, session.amount_total),
        'donation.currency': session.currency,
        'donation.at': iso(ctx.now),
      },
    },
  ]
}

/** fee_cover_amount: the part the donor added to cover the fees, from the metadata checkout-routes.tsx set. */
const DONATION = fixedWrite(
  'donation',
  sql`insert into ${payments} (id, kind, customer_id, payment_intent_id, amount, fee_cover_amount, currency, occurred_at)
    select ${slot.text('donation.payment_intent')}, 'donation', ${slot.text('donation.customer')},
      ${slot.text('donation.payment_intent')}, ${slot.int('donation.amount')}, ${slot.int('donation.fee_cover')},
      ${slot.text('donation.currency')}, ${slot.ts('donation.at')}
    where ${whenStored}
    on conflict do nothing`,
)

/** checkout.session.async_payment_failed: nothing was paid, so nothing is granted; the event is only recorded. */
export const checkoutPaymentFailed = handler<true>({ prepare: async () => true, writes: () => [] })
