-- Patreon imports count in the supporters table: since-date, lifetime amount,
-- their status there, and whether they have moved over to a Stripe subscription.
CREATE OR REPLACE FUNCTION masthead_refresh_supporters(uids text[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO supporters AS t (user_id, email, name, since, source, tier_id, interval, amount, currency, subscription_id,
    sub_status, cancel_at_period_end, current_period_end, past_due_since, grant_source, grant_tier_id, grant_starts_at,
    grant_ends_at, lifetime_amount, lifetime_currency, last_payment_at, patreon_status, moved_from_patreon, updated_at)
  SELECT u.id, u.email, u.name,
    LEAST(subs.first_created, grs.first_start, pay.first_paid, pm.patron_since),
    CASE
      WHEN best.status IN ('active', 'trialing', 'past_due') THEN 'stripe'
      WHEN cg.source IS NOT NULL AND (cg.ends_at IS NULL OR cg.ends_at > now()) THEN cg.source
      WHEN best.id IS NOT NULL THEN 'stripe'
      WHEN pay.has_donation THEN 'donation'
      WHEN cg.source IS NOT NULL THEN cg.source
      WHEN pm.status IN ('active', 'declined', 'former') THEN 'patreon'
    END,
    best.tier_id, best.interval, best.amount, best.currency, best.id, best.status,
    coalesce(best.cancel_at_period_end, false), best.current_period_end, best.past_due_since,
    cg.source, cg.tier_id, cg.starts_at, cg.ends_at,
    coalesce(pay.total, 0) + coalesce(pm.lifetime_amount, 0),
    CASE
      WHEN pay.total IS NULL THEN pm.currency
      WHEN pm.lifetime_amount IS NULL OR pm.lifetime_amount = 0 THEN pay.currency
      WHEN pay.currency = pm.currency THEN pay.currency
    END,
    pay.last_at, pm.status, pm.user_id IS NOT NULL AND best.id IS NOT NULL, now()
  FROM (SELECT DISTINCT id FROM unnest(uids) AS x(id)) wanted
  JOIN users u ON u.id = wanted.id
  LEFT JOIN LATERAL (
    SELECT s.* FROM subscriptions s JOIN stripe_customers sc ON sc.customer_id = s.customer_id
    WHERE sc.user_id = u.id
    ORDER BY (s.status IN ('active', 'trialing', 'past_due')) DESC, s.stripe_created_at DESC LIMIT 1) best ON true
  LEFT JOIN LATERAL (
    SELECT min(s.stripe_created_at) AS first_created FROM subscriptions s
    JOIN stripe_customers sc ON sc.customer_id = s.customer_id WHERE sc.user_id = u.id) subs ON true
  LEFT JOIN LATERAL (
    SELECT g.* FROM grants g WHERE g.user_id = u.id AND g.revoked_at IS NULL
    ORDER BY (g.ends_at IS NULL OR g.ends_at > now()) DESC, coalesce(g.ends_at, 'infinity') DESC LIMIT 1) cg ON true
  LEFT JOIN LATERAL (
    SELECT min(g.starts_at) AS first_start FROM grants g WHERE g.user_id = u.id AND g.revoked_at IS NULL) grs ON true
  LEFT JOIN LATERAL (
    SELECT sum(p.amount) AS total,
      CASE WHEN count(DISTINCT p.currency) = 1 THEN min(p.currency) END AS currency,
      max(p.occurred_at) AS last_at,
      min(p.occurred_at) FILTER (WHERE p.amount > 0) AS first_paid,
      coalesce(bool_or(p.kind = 'donation'), false) AS has_donation
    FROM payments p JOIN stripe_customers sc ON sc.customer_id = p.customer_id WHERE sc.user_id = u.id) pay ON true
  LEFT JOIN patreon_members pm ON pm.user_id = u.id
  ON CONFLICT (user_id) DO UPDATE SET
    email = excluded.email, name = excluded.name, since = excluded.since, source = excluded.source,
    tier_id = excluded.tier_id, interval = excluded.interval, amount = excluded.amount, currency = excluded.currency,
    subscription_id = excluded.subscription_id, sub_status = excluded.sub_status,
    cancel_at_period_end = excluded.cancel_at_period_end, current_period_end = excluded.current_period_end,
    past_due_since = excluded.past_due_since, grant_source = excluded.grant_source, grant_tier_id = excluded.grant_tier_id,
    grant_starts_at = excluded.grant_starts_at, grant_ends_at = excluded.grant_ends_at,
    lifetime_amount = excluded.lifetime_amount, lifetime_currency = excluded.lifetime_currency,
    last_payment_at = excluded.last_payment_at, patreon_status = excluded.patreon_status,
    moved_from_patreon = excluded.moved_from_patreon, updated_at = excluded.updated_at;
END $$;--> statement-breakpoint

CREATE TRIGGER supporters_patreon_members_insert AFTER INSERT ON patreon_members REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION masthead_mark_by_user();--> statement-breakpoint
CREATE TRIGGER supporters_patreon_members_update AFTER UPDATE ON patreon_members
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION masthead_mark_by_user();--> statement-breakpoint
CREATE TRIGGER supporters_patreon_members_delete AFTER DELETE ON patreon_members REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION masthead_mark_by_user();--> statement-breakpoint

SELECT masthead_refresh_all_supporters();
--> statement-breakpoint
-- One Patreon membership per account: a re-import updates it.
CREATE UNIQUE INDEX IF NOT EXISTS "grants_one_patreon_per_user" ON "grants" ("user_id") WHERE "source" = 'patreon';
