import { sql } from 'drizzle-orm'
import Stripe from 'stripe'
import { audit, type AuditAction } from '../../../audit/audit'
import { fixedStatement, rowsOf, type Database } from '../../../db/client'
import { auditLog, users } from '../../../db/schema'
import { PAYING_STATUSES } from '../../../db/statuses'
import { log } from '../../../http/log'
import { absoluteUrl } from '../../../http/paths'
import type { MailMessage } from '../../../mail/mailer'
import { openAddress, type StoredPerson } from '../../../privacy/people'
import { formatMoney } from '../../../util/money'
import { duplicateRefundedMessage } from '../../messages'
import { MASTHEAD_METADATA } from '../../stripe'
import { idOf, text, type Effects, type EventContext } from './context'

const SETTLED: AuditAction = 'membership.duplicate_refunded'

/** A subscription of an account that already had a membership going on when it began, and that membership. */
interface Duplicate {
  duplicateId: string
  keptId: string
  userId: string
}

/**
 * A signed-out checkout answers the same for every address, so an address
 * that already has a membership can be sold a second one (a signed-in race
 * can too). It is settled here, after the fact: the account's oldest paying
 * subscription that is not set to end is its membership; every newer paying
 * subscription is a duplicate, cancelled at once, its payments refunded in
 * full, the settlement audited (ids only), and the member told once. Which
 * one is kept is decided by Stripe's creation times, so delivery order does
 * not matter. Runs as the checkout's and the subscription's `finish`: every
 * Stripe step is idempotent, so a failure answers 500 and the redelivery
 * (even of an event already stored) picks up where it stopped.
 */
export async function settleDuplicates(ctx: EventContext, customerId: string): Promise<Effects | void> {
  const mail: MailMessage[] = []
  for (const found of await duplicatesOf(ctx.lookupDb, customerId)) {
    const message = await settle(ctx, found)
    if (message) mail.push(message)
  }
  return { mail }
}

/**
 * From Masthead's copy; Stripe confirms before anything is done. Settled ones are not found again.
 * Asked on every delivery of a checkout or a paying subscription's event, duplicates included, so a
 * statement of fixed text (fixedStatement: nothing built per call, prepared once per connection).
 */
// The account's customers, then each one's subscriptions through their index (lateral): a join the
// planner may choose freely ran as a sequential scan of every subscription under the generic plan.
const duplicatesOfCustomer = fixedStatement<Duplicate>(`with held as (
    select s.id, s.cancel_at_period_end, s.stripe_created_at, sc.user_id
    from stripe_customers sc
    cross join lateral (select * from subscriptions s where s.customer_id = sc.customer_id
      and s.status in (${PAYING_STATUSES.map((status) => `'${status}'`).join(', ')}) offset 0) s
    where sc.user_id = (select user_id from stripe_customers where customer_id = $1)),
  kept as (select id, stripe_created_at from held where not cancel_at_period_end
    order by stripe_created_at, id limit 1)
  select held.id as "duplicateId", kept.id as "keptId", held.user_id as "userId"
  from held, kept
  where (held.stripe_created_at, held.id) > (kept.stripe_created_at, kept.id)
    and not exists (select 1 from audit_log a where a.subject_user_id = held.user_id
      and a.action = '${SETTLED}' and a.details->>'subscriptionId' = held.id)`)

async function duplicatesOf(db: Database, customerId: string): Promise<Duplicate[]> {
  return duplicatesOfCustomer(db, [customerId])
}

async function settle(ctx: EventContext, found: Duplicate): Promise<MailMessage | undefined> {
  const { stripe } = ctx
  // Our copy may lag: only a membership Stripe still has going on makes the other one a duplicate.
  const kept = await stripe.subscriptions.retrieve(found.keptId)
  if (!(PAYING_STATUSES as readonly string[]).includes(kept.status) || kept.cancel_at_period_end) return undefined
  const duplicate = await stripe.subscriptions.retrieve(found.duplicateId)
  if (duplicate.status !== 'canceled' && duplicate.status !== 'incomplete_expired') {
    await stripe.subscriptions.cancel(duplicate.id, {}, { idempotencyKey: `masthead-duplicate-cancel-${duplicate.id}` })
  }
  const refunded = await refundPayments(stripe, duplicate.id)
  if (!(await recordSettlement(ctx.db, ctx.clock.now(), found, refunded.refundIds))) return undefined
  log('info', 'duplicate_membership_settled', {
    subscription: found.duplicateId,
    kept: found.keptId,
    refunds: refunded.refundIds,
  })
  const [member] = await rowsOf<StoredPerson>(
    ctx.db,
    sql`select card, email, name from ${users} where id = ${text(found.userId)}`,
  )
  if (!member) return undefined
  return duplicateRefundedMessage(await openAddress(ctx.keyring, member), ctx.config.PUBLICATION_NAME, {
    refunded: refunded.amount > 0 ? formatMoney(refunded.amount, refunded.currency) : null,
    account: absoluteUrl(ctx.config, '/account'),
  })
}

/**
 * Refunds every paid invoice of the subscription in full (a duplicate is
 * settled at once, so that is its first payment). One idempotency key per
 * payment intent, and a payment already refunded counts as done.
 */
async function refundPayments(stripe: Stripe, subscriptionId: string) {
  const refundIds: string[] = []
  let amount = 0
  let currency = 'usd'
  for await (const invoice of stripe.invoices.list({ subscription: subscriptionId, status: 'paid', limit: 100 })) {
    for await (const payment of stripe.invoicePayments.list({ invoice: invoice.id, status: 'paid', limit: 100 })) {
      const paymentIntent = idOf(payment.payment.payment_intent)
      if (!paymentIntent) continue
      amount += payment.amount_paid ?? 0
      currency = payment.currency
      try {
        const refund = await stripe.refunds.create(
          {
            payment_intent: paymentIntent,
            reason: 'duplicate',
            metadata: { ...MASTHEAD_METADATA, kind: 'duplicate', subscription_id: subscriptionId },
          },
          { idempotencyKey: `masthead-duplicate-refund-${paymentIntent}` },
        )
        refundIds.push(refund.id)
      } catch (error) {
        if (!(error instanceof Stripe.errors.StripeError && error.code === 'charge_already_refunded')) throw error
      }
    }
  }
  return { refundIds, amount, currency }
}

/**
 * The audit entry is the record that the duplicate is settled: written once
 * (an advisory lock orders concurrent deliveries), and only the delivery that
 * wrote it tells the member.
 */
async function recordSettlement(db: Database, now: Date, found: Duplicate, refundIds: string[]): Promise<boolean> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${text(`${SETTLED}:${found.duplicateId}`)}, 0))`)
    const [done] = await rowsOf(
      tx,
      sql`select 1 from ${auditLog} where subject_user_id = ${text(found.userId)} and action = ${SETTLED}
        and details->>'subscriptionId' = ${text(found.duplicateId)}`,
    )
    if (done) return false
    await audit(tx, now, null, SETTLED, found.userId, {
      subscriptionId: found.duplicateId,
      keptSubscriptionId: found.keptId,
      refundIds,
    })
    return true
  })
}
