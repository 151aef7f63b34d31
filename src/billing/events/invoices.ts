import { eq } from 'drizzle-orm'
import type Stripe from 'stripe'
import type { Database } from '../../db/client'
import { payments, stripeCustomers, subscriptions, users } from '../../db/schema'
import { paymentFailedMessage } from '../messages'
import { handler, idOf } from './context'
import { applySubscription, fetchSubscription, type FetchedSubscription } from './subscription-sync'

interface PreparedInvoice {
  invoice: Stripe.Invoice
  fetched: FetchedSubscription
}

const subscriptionOf = (invoice: Stripe.Invoice) => idOf(invoice.parent?.subscription_details?.subscription)

async function prepareInvoice(ctx: Parameters<typeof fetchSubscription>[0], db: Database, event: Stripe.Event) {
  const invoice = event.data.object as Stripe.Invoice
  const subscriptionId = subscriptionOf(invoice)
  if (!subscriptionId) return null // one-off invoices are not Masthead's
  const fetched = await fetchSubscription(ctx, db, subscriptionId)
  return fetched ? { invoice, fetched } : null
}

/** invoice.paid: a ledger entry (never for zero amounts) and the subscription's latest state. */
export const invoicePaid = (db: Database) =>
  handler<PreparedInvoice>({
    prepare: (ctx, event) => prepareInvoice(ctx, db, event),
    async apply(tx, ctx, _event, { invoice, fetched }) {
      const { subscription } = fetched
      await applySubscription(tx, ctx, fetched)
      if (invoice.amount_paid > 0) {
        const paidAt = invoice.status_transitions?.paid_at
        await tx
          .insert(payments)
          .values({
            id: invoice.id!,
            kind: 'subscription',
            customerId: idOf(invoice.customer),
            subscriptionId: subscription.id,
            paymentIntentId: idOf(invoice.payments?.data[0]?.payment?.payment_intent) ?? null,
            amount: invoice.amount_paid,
            currency: invoice.currency,
            occurredAt: paidAt ? new Date(paidAt * 1000) : ctx.now,
          })
          .onConflictDoNothing()
      }
    },
  })

/**
 * invoice.payment_failed: the subscription goes past due (benefits continue
 * through the grace period while Stripe retries) and the member is told,
 * once per failed invoice, and only while it is still unpaid.
 */
export const invoicePaymentFailed = (db: Database) =>
  handler<PreparedInvoice>({
    prepare: (ctx, event) => prepareInvoice(ctx, db, event),
    async apply(tx, ctx, _event, { invoice, fetched }) {
      const { subscription } = fetched
      await applySubscription(tx, ctx, fetched)
      if (subscription.status !== 'past_due' || !invoice.id) return
      const [row] = await tx
        .select({ notified: subscriptions.notifiedInvoiceId, email: users.email })
        .from(subscriptions)
        .innerJoin(stripeCustomers, eq(stripeCustomers.customerId, subscriptions.customerId))
        .innerJoin(users, eq(users.id, stripeCustomers.userId))
        .where(eq(subscriptions.id, subscription.id))
      if (!row || row.notified === invoice.id) return
      await tx.update(subscriptions).set({ notifiedInvoiceId: invoice.id }).where(eq(subscriptions.id, subscription.id))
      return { mail: [paymentFailedMessage(row.email, ctx.config.PUBLICATION_NAME, ctx.config.APP_URL)] }
    },
  })
