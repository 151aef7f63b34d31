/**
 * The SQL that reads a reader's entitlement facts (src/entitlements/facts.ts parses what it gives).
 * Here, beside the routines, because masthead_entitlement_facts (src/db/routines.ts) is built from
 * it: changing it means a migration that installs the routines again and also puts every stored
 * copy out of date, or lookups would go on reading facts in the old shape:
 * `UPDATE entitlement_facts SET facts = NULL, generation = generation + 1;` (tests/db/routines.test.ts
 * fails on a migration that changes the facts without it).
 */

/**
 * One SQL expression (json) with every fact about the account whose id is
 * the SQL expression `userId` (a column or a variable such as `u.id`, never
 * user input), its lists in a fixed order, so that the same facts are the
 * same text. The session lookup reads them stored (entitlement_facts) and
 * computes them with this only when a change made them out of date
 * (masthead_entitlement_facts in src/db/routines.ts), so a signed-in page view
 * costs one round trip for the session, the account and the entitlements
 * together. It is plain text, built once: on the hot path, Drizzle's builder
 * would spend more time assembling this query than Postgres spends running it.
 */
export function entitlementFactsSql(userId: string): string {
  return `json_build_object(
    'subscriptions', coalesce((
      select json_agg(json_build_object(
        'id', s.id, 'status', s.status, 'cancelAtPeriodEnd', s.cancel_at_period_end,
        'currentPeriodEnd', s.current_period_end, 'pastDueSince', s.past_due_since,
        'tierId', s.tier_id, 'tierName', t.name, 'tierBenefits', t.benefits,
        'interval', s.interval, 'amount', s.amount, 'currency', s.currency, 'createdAt', s.stripe_created_at)
        order by s.id)
      from subscriptions s
      join stripe_customers sc on sc.customer_id = s.customer_id
      left join tiers t on t.id = s.tier_id
      where sc.user_id = ${userId}), '[]'::json),
    'grants', coalesce((
      select json_agg(json_build_object(
        'id', g.id, 'source', g.source, 'tierId', g.tier_id, 'tierName', t.name, 'tierBenefits', t.benefits,
        'startsAt', g.starts_at, 'endsAt', g.ends_at)
        order by g.id)
      from all_grants g
      left join tiers t on t.id = g.tier_id
      where g.user_id = ${userId} and g.revoked_at is null), '[]'::json),
    'lastDonationAt', (
      select max(p.occurred_at) from payments p
      join stripe_customers sc on sc.customer_id = p.customer_id
      where sc.user_id = ${userId} and p.kind = 'donation'
        -- a donation refunded in full no longer counts (refund rows hold the amount refunded, negative)
        and p.amount + coalesce((select sum(r.amount) from payments r
          where r.kind = 'refund' and r.payment_intent_id = p.payment_intent_id), 0) > 0))`
}
