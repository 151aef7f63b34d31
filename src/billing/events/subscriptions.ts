import type Stripe from 'stripe'
import { handler, idOf } from './context'
import { fetchSubscription, linkCustomer, storeSubscription, type FetchedSubscription } from './subscription-sync'

/**
 * customer.subscription.created / updated / deleted: one idempotent upsert of
 * the subscription as Stripe has it now, whatever the event's snapshot says.
 */
export const subscriptionChanged = (db: Parameters<typeof fetchSubscription>[1]) =>
  handler<FetchedSubscription>({
    prepare: (ctx, event) => fetchSubscription(ctx, db, (event.data.object as Stripe.Subscription).id),
    async apply(tx, ctx, _event, fetched) {
      const { subscription, customer } = fetched
      await linkCustomer(tx, ctx, idOf(subscription.customer)!, { userId: subscription.metadata?.user_id, customer })
      await storeSubscription(tx, ctx, fetched)
    },
  })
