import type { Database } from '../../../db/client'
import { handler, idOf } from './context'
import { notifyPaymentFailed } from './invoices'
import { applySubscription, refetchSubscription, snapshotOf, type SubscriptionState } from './subscription-sync'

/**
 * customer.subscription.created / updated / deleted: one idempotent upsert of
 * the subscription from the event's snapshot, kept only if it is newer than
 * the stored state (storeSubscription). Stripe is asked only when the
 * snapshot shares a second with the stored state. A subscription that has
 * gone past due tells its member, once per failed invoice.
 */
export const subscriptionChanged = (db: Database) =>
  handler<SubscriptionState>({
    prepare: (_ctx, event) => snapshotOf(db, event),
    writes: (ctx, _event, state) => applySubscription(ctx, state),
    settle: (ctx, event, state) => refetchSubscription(ctx, db, event, state.subscription.id),
    async after(db, ctx, _event, { subscription }) {
      const invoiceId = idOf(subscription.latest_invoice)
      if (subscription.status !== 'past_due' || !invoiceId) return
      return notifyPaymentFailed(db, ctx, subscription.id, invoiceId)
    },
  })
