import { PAYING_STATUSES } from '../../../db/statuses'
import { handler, idOf } from './context'
import { settleDuplicates } from './duplicate-membership'
import { linkToAccount } from './link-customer'
import { notifyPaymentFailed } from './payment-failed-mail'
import { refetchSubscription, snapshotOf, storeSubscription, type SubscriptionState } from './subscription-sync'

/**
 * customer.subscription.created / updated / deleted: one idempotent upsert of
 * the subscription from the event's snapshot, kept only if it is newer than
 * the stored state (storeSubscription). Stripe is asked only when the
 * snapshot shares a second with the stored state. A subscription that has
 * gone past due tells its member, once per failed invoice. A paying
 * subscription of an account that already had a membership is settled
 * (duplicate-membership.ts).
 */
export const subscriptionChanged = handler<SubscriptionState>({
  prepare: (ctx, event) => snapshotOf(ctx, event),
  // Every event about a subscription links its customer to the account named at checkout, then stores it.
  writes: (ctx, _event, state) => {
    const userId = state.subscription.metadata?.user_id
    return [
      ...(userId ? linkToAccount(ctx, idOf(state.subscription.customer)!, userId) : []),
      ...storeSubscription(ctx, state),
    ]
  },
  settle: (ctx, event, state) => refetchSubscription(ctx, event, state.subscription.id),
  async after(ctx, _event, { subscription }) {
    const invoiceId = idOf(subscription.latest_invoice)
    if (subscription.status !== 'past_due' || !invoiceId) return
    return notifyPaymentFailed(ctx, subscription.id, invoiceId)
  },
  async finish(ctx, _event, { subscription }, stored) {
    if (!(PAYING_STATUSES as readonly string[]).includes(subscription.status)) return
    // The delivery that stored the event knows whether the account's memberships may have changed (new, a status
    // or cancel flag changed, a customer linked, or another paying subscription): if not, there is nothing new to
    // settle. A duplicate delivery knows nothing of that, and checks.
    if (stored?.changed === false) return
    return settleDuplicates(ctx, idOf(subscription.customer)!)
  },
})
