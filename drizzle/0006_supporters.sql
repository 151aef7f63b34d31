-- The supporters table is kept by the database. Every change to the tables it is
-- derived from marks the accounts concerned in supporters_dirty (a cheap insert, in
-- the same statement, so no code path can forget it); reading the list first
-- refreshes the marked rows (masthead_refresh_dirty_supporters), so it is always
-- exact without making every webhook pay for it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "supporters_email_trgm_idx" ON "supporters" USING gin ("email" gin_trgm_ops);--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "supporters_name_trgm_idx" ON "supporters" USING gin ("name" gin_trgm_ops);--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "supporters_since_key_idx" ON "supporters" ((coalesce("since", '-infinity'::timestamptz)), "user_id");--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "supporters_name_key_idx" ON "supporters" ((coalesce(lower("name"), lower("email"))), "user_id");--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "stripe_events_customer_id_idx" ON "stripe_events" USING btree ("customer_id");--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "subscriptions_ended_at_idx" ON "subscriptions" USING btree ("ended_at");--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "payments_occurred_at_idx" ON "payments" USING btree ("occurred_at");--> statement-breakpoint

-- Refreshes the supporters rows of the given accounts (masthead_refresh_all_supporters() for all).
CREATE OR REPLACE FUNCTION masthead_refresh_supporters(uids text[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO supporters AS t (user_id, email, name, since, source, tier_id, interval, amount, currency, subscription_id,
    sub_status, cancel_at_period_end, current_period_end, past_due_since, grant_source, grant_tier_id, grant_starts_at,
    grant_ends_at, lifetime_amount, lifetime_currency, last_payment_at, updated_at)
  SELECT u.id, u.email, u.name,
    LEAST(subs.first_created, grs.first_start, pay.first_paid),
    CASE
      WHEN best.status IN ('active', 'trialing', 'past_due') THEN 'stripe'
      WHEN cg.source IS NOT NULL AND (cg.ends_at IS NULL OR cg.ends_at > now()) THEN cg.source
      WHEN best.id IS NOT NULL THEN 'stripe'
      WHEN pay.has_donation THEN 'donation'
      ELSE cg.source
    END,
    best.tier_id, best.interval, best.amount, best.currency, best.id, best.status,
    coalesce(best.cancel_at_period_end, false), best.current_period_end, best.past_due_since,
    cg.source, cg.tier_id, cg.starts_at, cg.ends_at,
    coalesce(pay.total, 0), pay.currency, pay.last_at, now()
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
  ON CONFLICT (user_id) DO UPDATE SET
    email = excluded.email, name = excluded.name, since = excluded.since, source = excluded.source,
    tier_id = excluded.tier_id, interval = excluded.interval, amount = excluded.amount, currency = excluded.currency,
    subscription_id = excluded.subscription_id, sub_status = excluded.sub_status,
    cancel_at_period_end = excluded.cancel_at_period_end, current_period_end = excluded.current_period_end,
    past_due_since = excluded.past_due_since, grant_source = excluded.grant_source, grant_tier_id = excluded.grant_tier_id,
    grant_starts_at = excluded.grant_starts_at, grant_ends_at = excluded.grant_ends_at,
    lifetime_amount = excluded.lifetime_amount, lifetime_currency = excluded.lifetime_currency,
    last_payment_at = excluded.last_payment_at, updated_at = excluded.updated_at;
END $$;--> statement-breakpoint

CREATE TABLE IF NOT EXISTS "supporters_dirty" ("user_id" text PRIMARY KEY);--> statement-breakpoint

CREATE OR REPLACE FUNCTION masthead_refresh_dirty_supporters() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  taken text[];
BEGIN
  WITH gone AS (DELETE FROM supporters_dirty RETURNING user_id) SELECT array_agg(user_id) INTO taken FROM gone;
  IF taken IS NULL THEN RETURN 0; END IF;
  PERFORM masthead_refresh_supporters(taken);
  RETURN cardinality(taken);
END $$;--> statement-breakpoint

CREATE OR REPLACE FUNCTION masthead_refresh_all_supporters() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM supporters_dirty;
  PERFORM masthead_refresh_supporters(ARRAY(SELECT id FROM users));
END $$;--> statement-breakpoint

-- Statement-level triggers with transition tables: one insert per statement, however
-- many rows it touched (a 50,000-row import, or a webhook's one-statement write).
CREATE OR REPLACE FUNCTION masthead_mark_by_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO supporters_dirty SELECT DISTINCT user_id FROM new_rows ON CONFLICT DO NOTHING;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    INSERT INTO supporters_dirty SELECT DISTINCT user_id FROM old_rows ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END $$;--> statement-breakpoint

CREATE OR REPLACE FUNCTION masthead_mark_by_customer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO supporters_dirty SELECT DISTINCT sc.user_id FROM new_rows n
      JOIN stripe_customers sc ON sc.customer_id = n.customer_id ON CONFLICT DO NOTHING;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    INSERT INTO supporters_dirty SELECT DISTINCT sc.user_id FROM old_rows o
      JOIN stripe_customers sc ON sc.customer_id = o.customer_id ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END $$;--> statement-breakpoint

CREATE OR REPLACE FUNCTION masthead_mark_account() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO supporters_dirty SELECT id FROM new_rows ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$;--> statement-breakpoint

CREATE TRIGGER supporters_users_insert AFTER INSERT ON users REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION masthead_mark_account();--> statement-breakpoint
CREATE TRIGGER supporters_users_update AFTER UPDATE ON users REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION masthead_mark_account();--> statement-breakpoint
CREATE TRIGGER supporters_stripe_customers_insert AFTER INSERT ON stripe_customers REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION masthead_mark_by_user();--> statement-breakpoint
CREATE TRIGGER supporters_stripe_customers_update AFTER UPDATE ON stripe_customers REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION masthead_mark_by_user();--> statement-breakpoint
CREATE TRIGGER supporters_stripe_customers_delete AFTER DELETE ON stripe_customers REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION masthead_mark_by_user();--> statement-breakpoint
CREATE TRIGGER supporters_grants_insert AFTER INSERT ON grants REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION masthead_mark_by_user();--> statement-breakpoint
CREATE TRIGGER supporters_grants_update AFTER UPDATE ON grants REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION masthead_mark_by_user();--> statement-breakpoint
CREATE TRIGGER supporters_grants_delete AFTER DELETE ON grants REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION masthead_mark_by_user();--> statement-breakpoint
CREATE TRIGGER supporters_subscriptions_insert AFTER INSERT ON subscriptions REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION masthead_mark_by_customer();--> statement-breakpoint
CREATE TRIGGER supporters_subscriptions_update AFTER UPDATE ON subscriptions REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION masthead_mark_by_customer();--> statement-breakpoint
CREATE TRIGGER supporters_subscriptions_delete AFTER DELETE ON subscriptions REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION masthead_mark_by_customer();--> statement-breakpoint
CREATE TRIGGER supporters_payments_insert AFTER INSERT ON payments REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION masthead_mark_by_customer();--> statement-breakpoint
CREATE TRIGGER supporters_payments_update AFTER UPDATE ON payments REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION masthead_mark_by_customer();--> statement-breakpoint
CREATE TRIGGER supporters_payments_delete AFTER DELETE ON payments REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION masthead_mark_by_customer();--> statement-breakpoint

-- A member who starts paying keeps only the paid membership: their current comps end,
-- whichever comes first, the paid subscription or the link of its customer to the account.
CREATE OR REPLACE FUNCTION masthead_end_comps_of_payers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  WITH payers AS (
    SELECT DISTINCT sc.user_id FROM stripe_customers sc JOIN subscriptions s ON s.customer_id = sc.customer_id
    WHERE sc.customer_id = NEW.customer_id AND s.status IN ('active', 'trialing')),
  ended AS (
    UPDATE grants g SET revoked_at = now(), updated_at = now()
    FROM payers
    WHERE g.user_id = payers.user_id AND g.source = 'comp' AND g.revoked_at IS NULL
      AND (g.ends_at IS NULL OR g.ends_at > now())
    RETURNING g.id, g.user_id)
  INSERT INTO audit_log (at, action, subject_user_id, details)
  SELECT now(), 'comp.ended', ended.user_id, jsonb_build_object('grantId', ended.id, 'reason', 'a paid membership started')
  FROM ended;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE TRIGGER comps_end_on_subscription AFTER INSERT OR UPDATE OF status ON subscriptions
  FOR EACH ROW WHEN (NEW.status IN ('active', 'trialing')) EXECUTE FUNCTION masthead_end_comps_of_payers();--> statement-breakpoint
CREATE TRIGGER comps_end_on_link AFTER INSERT ON stripe_customers
  FOR EACH ROW EXECUTE FUNCTION masthead_end_comps_of_payers();--> statement-breakpoint

-- The audit log is append-only.
CREATE OR REPLACE FUNCTION masthead_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only';
END $$;--> statement-breakpoint
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION masthead_audit_log_append_only();--> statement-breakpoint

SELECT masthead_refresh_all_supporters();
