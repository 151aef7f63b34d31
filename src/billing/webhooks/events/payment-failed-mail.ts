import { sql } from 'drizzle-orm'
import { rowsOf } from '../../../db/client'
import { stripeCustomers, subscriptions, users } from '../../../db/schema'
import { absoluteUrl } from '../../../http/paths'
import { openAddress, type StoredPerson } from '../../../privacy/people'
import { paymentFailedMessage } from '../../messages'
import { text, type Effects, type EventContext } from './context'

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
  const [row] = await rowsOf<StoredPerson>(
    ctx.db,
    sql`update ${subscriptions} set notified_invoice_id = ${text(invoiceId)}
      from ${stripeCustomers}, ${users}
      where ${subscriptions.id} = ${text(subscriptionId)} and ${subscriptions.status} = 'past_due'
        and ${subscriptions.notifiedInvoiceId} is distinct from ${text(invoiceId)}
        and ${stripeCustomers.customerId} = ${subscriptions.customerId} and ${users.id} = ${stripeCustomers.userId}
      returning ${users.card} as card, ${users.email} as email, ${users.name} as name`,
  )
  if (!row) return
  const to = await openAddress(ctx.keyring, row)
  return { mail: [paymentFailedMessage(to, ctx.config.PUBLICATION_NAME, absoluteUrl(ctx.config, '/account'))] }
}
