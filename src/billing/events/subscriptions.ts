import type Stripe from 'stripe'
import type { Database } from '../../db/client'
import { handler } from './context'
import { applySubscription, fetchSubscription, type FetchedSubscription } from './subscription-sync'

/**
 * customer.subscription.created / updated / deleted: one idempotent upsert of
 * the subscription as Stripe has it now, whatever the event's snapshot says.
 */
export const subscriptionChanged = (db: Database) =>
  handler<FetchedSubscription>({
    prepare: (ctx, event) => fetchSubscription(ctx, db, (event.data.object as Stripe.Subscription).id),
    writes: (ctx, _event, fetched) => applySubscription(ctx, fetched),
  })
