import { sql } from 'drizzle-orm'
import type Stripe from 'stripe'
import { rowsOf } from '../../db/client'
import { payments, stripeCustomers, users } from '../../db/schema'
import { absoluteUrl } from '../../http/paths'
import { openAddress } from '../../privacy/people'
import { idOf, text, ts, type Effects, type EventContext } from '../webhooks/events/context'
import { issuerOf } from './ledger'
import { receiptMessage } from './messages'

interface ClaimedReceipt {
  id: string
  amount: number
  fee_cover_amount: number
  currency: string
  occurred_at: Date | string
  user_id: string | null
  card: string | null
  email: string | null
  name: string | null
}

/**
 * The receipt of a paid one-time donation, from the checkout's `finish` (webhooks/events/checkout.ts),
 * which runs once the event's statement has committed and again on every later delivery, of
 * checkout.session.completed or .async_payment_succeeded alike. The receipt is claimed with one
 * conditional update of the donation's ledger row (`receipt_sent_at` still null), so however many
 * deliveries come, in whatever order, one of them sends it; before the donation is recorded
 * there is nothing to claim. It goes to the donor's account when the customer is linked to one,
 * else to the address given at checkout. Claimed before it is sent: a mail the provider refuses
 * is logged (process-event.ts), not sent twice.
 */
export async function donationReceipt(ctx: EventContext, session: Stripe.Checkout.Session): Promise<Effects | void> {
  const paymentIntentId = idOf(session.payment_intent)
  if (session.mode !== 'payment' || session.payment_status !== 'paid' || !paymentIntentId) return
  const [row] = await rowsOf<ClaimedReceipt>(
    ctx.db,
    sql`with claimed as (
        update ${payments} set receipt_sent_at = ${ts(ctx.clock.now())}
        where ${payments.id} = ${text(paymentIntentId)} and ${payments.kind} = 'donation'
          and ${payments.receiptSentAt} is null
        returning id, amount, fee_cover_amount, currency, occurred_at, customer_id)
      select c.id, c.amount, c.fee_cover_amount, c.currency, c.occurred_at,
        u.id as user_id, u.card, u.email, u.name
      from claimed c
        left join ${stripeCustomers} sc on sc.customer_id = c.customer_id
        left join ${users} u on u.id = sc.user_id`,
  )
  if (!row) return
  const to = row.user_id
    ? await openAddress(ctx.keyring, row)
    : (session.customer_details?.email ?? session.customer_email)
  if (!to) return
  const donation = {
    id: row.id,
    amount: Number(row.amount),
    feeCover: Number(row.fee_cover_amount),
    currency: row.currency,
    occurredAt: new Date(row.occurred_at),
  }
  const statements = row.user_id ? absoluteUrl(ctx.config, '/account/statements') : null
  return { mail: [receiptMessage(to, issuerOf(ctx.config), donation, statements)] }
}
