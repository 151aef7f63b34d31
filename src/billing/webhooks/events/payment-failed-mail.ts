import { fixedStatement } from '../../../db/client'
import { absoluteUrl } from '../../../http/paths'
import { openAddress, type StoredPerson } from '../../../privacy/people'
import { paymentFailedMessage } from '../../messages'
import type { Effects, EventContext } from './context'

/**
 * Claims the notice for one failed invoice with one conditional update, so
 * that any number of deliveries, of either event (invoice.payment_failed, or
 * the subscription's update to past due), send one e-mail; and only while the
 * subscription is stored as past due. Runs in `after`, once the event's
 * statement has committed.
 */
export async function notifyPaymentFailed(
  ctx: EventContext,
  subscriptionId: string,
  invoiceId: string,
): Promise<Effects | void> {
  const [row] = await claimNotice(ctx.db, [invoiceId, subscriptionId])
  if (!row) return
  const to = await openAddress(ctx.keyring, row)
  return { mail: [paymentFailedMessage(to, ctx.config.PUBLICATION_NAME, absoluteUrl(ctx.config, '/account'))] }
}

/** The claim: invoice $1 of subscription $2, and who to tell. Fixed text (`fixedStatement`): nothing built per call. */
const claimNotice = fixedStatement<StoredPerson>(
  `update subscriptions s set notified_invoice_id = $1::text
    from stripe_customers sc, users u
    where s.id = $2::text and s.status = 'past_due' and s.notified_invoice_id is distinct from $1::text
      and sc.customer_id = s.customer_id and u.id = sc.user_id
    returning u.card, u.email, u.name`,
)
