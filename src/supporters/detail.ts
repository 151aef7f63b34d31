import { eq, getViewSelectedFields, sql } from 'drizzle-orm'
import { loadEntitlements, type Entitlements } from '../entitlements/entitlements'
import type { Config } from '../config'
import { rowsOf, type Database } from '../db/client'
import { allGrants, stripeCustomers, tiers, users } from '../db/schema'
import type { Keyring } from '../privacy/keys'
import { addressesById } from '../accounts/users'
import { openAccount } from '../privacy/people'

export interface TimelineEntry {
  at: Date
  kind: string
  details: Record<string, unknown>
}

/** Stripe events worth a line of their own; payments have their own lines. */
const TIMELINE_EVENTS = [
  'checkout.session.completed',
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'invoice.payment_failed',
]

/**
 * A supporter's history, newest first: sign-up, subscription changes and
 * failures (from the Stripe events Masthead processed), payments, donations
 * and refunds, comps and Patreon memberships, and staff actions about them,
 * each with its actor's address (`by`), decrypted once per actor.
 */
export async function timelineOf(
  db: Database,
  keyring: Keyring,
  userId: string,
  limit = 300,
): Promise<TimelineEntry[]> {
  const rows = await rowsOf<{ at: Date | string; kind: string; details: unknown; actor_id: string | null }>(
    db,
    sql`select at, kind, details, actor_id from (
      select u.created_at as at, 'account.created' as kind, '{}'::jsonb as details, null::text as actor_id
        from users u where u.id = ${userId}
      union all
      select e.stripe_created_at, 'stripe.' || e.type, jsonb_build_object('eventId', e.id), null
        from stripe_events e join stripe_customers sc on sc.customer_id = e.customer_id
        where sc.user_id = ${userId} and e.outcome = 'processed'
          and e.type in (${sql.join(
            TIMELINE_EVENTS.map((t) => sql`${t}`),
            sql`, `,
          )})
      union all
      select p.occurred_at, 'payment.' || p.kind,
          jsonb_build_object('amount', p.amount, 'currency', p.currency, 'id', p.id), null
        from payments p join stripe_customers sc on sc.customer_id = p.customer_id where sc.user_id = ${userId}
      union all
      select g.created_at, g.source || '.granted',
          jsonb_build_object('grantId', g.id, 'tierId', g.tier_id, 'startsAt', g.starts_at, 'endsAt', g.ends_at, 'note', g.note),
          null
        from all_grants g where g.user_id = ${userId}
      union all
      select g.revoked_at, g.source || '.revoked', jsonb_build_object('grantId', g.id), null
        from all_grants g where g.user_id = ${userId} and g.revoked_at is not null
      union all
      -- The actor's address is encrypted: read and opened below; a deleted actor is said to be one here.
      select a.at, a.action,
          a.details || case when a.actor_id is not null and actor.id is null
            then jsonb_build_object('by', 'a deleted account') else '{}'::jsonb end,
          actor.id
        from audit_log a left join users actor on actor.id = a.actor_id where a.subject_user_id = ${userId}
          and a.action not in ('supporter.viewed', 'comp.granted', 'comp.revoked')
    ) t order by at desc limit ${limit}`,
  )
  const actors = await addressesById(
    db,
    keyring,
    rows.flatMap((r) => (r.actor_id === null ? [] : [r.actor_id])),
  )
  return Promise.all(
    rows.map(async (r) => {
      const details = (typeof r.details === 'string' ? JSON.parse(r.details) : r.details) as Record<string, unknown>
      if (r.actor_id !== null && actors.has(r.actor_id)) details.by = actors.get(r.actor_id)
      return { at: new Date(r.at), kind: r.kind, details }
    }),
  )
}

export interface SupporterDetail {
  user: { id: string; email: string; name: string | null; role: string; createdAt: Date }
  entitlements: Entitlements
  customerIds: string[]
  grants: (typeof allGrants.$inferSelect & { tierName: string | null })[]
  timeline: TimelineEntry[]
}

/** A supporter's page, their address and name decrypted (and their actors' addresses in the timeline). */
export async function supporterDetail(
  db: Database,
  keyring: Keyring,
  config: Config,
  userId: string,
  now: Date,
): Promise<SupporterDetail | null> {
  const [stored] = await db
    .select({
      id: users.id,
      card: users.card,
      email: users.email,
      name: users.name,
      role: users.role,
      createdAt: users.createdAt,
    })
    .from(users)
    .where(eq(users.id, userId))
  if (!stored) return null
  const [person, entitlements, customers, userGrants, timeline] = await Promise.all([
    openAccount(keyring, stored),
    loadEntitlements(db, userId, now, config),
    db.select({ id: stripeCustomers.customerId }).from(stripeCustomers).where(eq(stripeCustomers.userId, userId)),
    db
      .select({ ...getViewSelectedFields(allGrants), tierName: tiers.name })
      .from(allGrants)
      .leftJoin(tiers, eq(tiers.id, allGrants.tierId))
      .where(eq(allGrants.userId, userId))
      .orderBy(sql`${allGrants.createdAt} desc`),
    timelineOf(db, keyring, userId),
  ])
  return {
    user: { id: stored.id, ...person, role: stored.role, createdAt: stored.createdAt },
    entitlements,
    customerIds: customers.map((c) => c.id),
    grants: userGrants,
    timeline,
  }
}
