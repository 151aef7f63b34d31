-- Functions, trigger functions and views as src/db/routines.ts defines them (npm run db:routines).
CREATE OR REPLACE VIEW "all_grants" AS
  SELECT g."id", g."user_id", g."source", g."tier_id", g."starts_at", g."ends_at", g."note", g."granted_by",
    g."revoked_at", g."revoked_by", g."created_at", g."updated_at"
  FROM "grants" g
  UNION ALL
  SELECT 'patreon:' || pm."user_id", pm."user_id", 'patreon', pm."tier_id", pm."access_starts_at", pm."access_ends_at",
    CASE WHEN pm."patreon_tier" IS NOT NULL THEN 'Patreon tier: ' || pm."patreon_tier" END, NULL::text,
    NULL::timestamptz, NULL::text, pm."imported_at", pm."updated_at"
  FROM "patreon_members" pm WHERE pm."access_starts_at" IS NOT NULL;--> statement-breakpoint

CREATE OR REPLACE FUNCTION masthead_entitlement_facts(uid text, seen bigint) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
  computed json;
BEGIN
  SELECT json_build_object(
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
      where sc.user_id = uid), '[]'::json),
    'grants', coalesce((
      select json_agg(json_build_object(
        'id', g.id, 'source', g.source, 'tierId', g.tier_id, 'tierName', t.name, 'tierBenefits', t.benefits,
        'startsAt', g.starts_at, 'endsAt', g.ends_at)
        order by g.id)
      from all_grants g
      left join tiers t on t.id = g.tier_id
      where g.user_id = uid and g.revoked_at is null), '[]'::json),
    'lastDonationAt', (
      select max(p.occurred_at) from payments p
      join stripe_customers sc on sc.customer_id = p.customer_id
      where sc.user_id = uid and p.kind = 'donation'
        -- a donation refunded in full no longer counts (refund rows hold the amount refunded, negative)
        and p.amount + coalesce((select sum(r.amount) from payments r
          where r.kind = 'refund' and r.payment_intent_id = p.payment_intent_id), 0) > 0)) INTO computed;
  BEGIN
    INSERT INTO entitlement_facts AS ef (user_id, generation, facts) VALUES (uid, 0, computed)
    ON CONFLICT (user_id) DO UPDATE SET facts = excluded.facts WHERE ef.generation = seen AND ef.facts IS NULL;
  EXCEPTION WHEN foreign_key_violation THEN
    NULL; -- the account was deleted since the caller read it: there is nothing to keep
  END;
  RETURN computed;
END $$;--> statement-breakpoint

CREATE OR REPLACE VIEW "reader_sessions" AS
  SELECT s.id, s.user_id, s.expires_at, u.card, u.email, u.name, u.role,
    coalesce(ef.facts, masthead_entitlement_facts(u.id, ef.generation)) AS facts
  FROM sessions s JOIN users u ON u.id = s.user_id LEFT JOIN entitlement_facts ef ON ef.user_id = u.id;--> statement-breakpoint

CREATE OR REPLACE FUNCTION masthead_refresh_supporters(uids text[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO supporters AS t (user_id, email, name, search_tokens, name_order, card, since, source, tier_id, interval, amount, currency, subscription_id,
    sub_status, cancel_at_period_end, current_period_end, past_due_since, grant_source, grant_tier_id, grant_starts_at,
    grant_ends_at, lifetime_amount, lifetime_currency, last_payment_at, patreon_status, moved_from_patreon, updated_at)
  SELECT u.id, u.email, u.name, u.search_tokens, u.name_order, u.card,
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
    SELECT g.* FROM all_grants g WHERE g.user_id = u.id AND g.revoked_at IS NULL
    ORDER BY (g.ends_at IS NULL OR g.ends_at > now()) DESC, coalesce(g.ends_at, 'infinity') DESC LIMIT 1) cg ON true
  LEFT JOIN LATERAL (
    SELECT min(g.starts_at) AS first_start FROM all_grants g WHERE g.user_id = u.id AND g.revoked_at IS NULL) grs ON true
  LEFT JOIN LATERAL (
    SELECT sum(p.amount) AS total,
      CASE WHEN count(DISTINCT p.currency) = 1 THEN min(p.currency) END AS currency,
      max(p.occurred_at) AS last_at,
      min(p.occurred_at) FILTER (WHERE p.amount > 0) AS first_paid,
      coalesce(bool_or(p.kind = 'donation'), false) AS has_donation
    FROM payments p JOIN stripe_customers sc ON sc.customer_id = p.customer_id WHERE sc.user_id = u.id) pay ON true
  LEFT JOIN patreon_members pm ON pm.user_id = u.id
  ON CONFLICT (user_id) DO UPDATE SET
    email = excluded.email, name = excluded.name, search_tokens = excluded.search_tokens,
    name_order = excluded.name_order, card = excluded.card, since = excluded.since, source = excluded.source,
    tier_id = excluded.tier_id, interval = excluded.interval, amount = excluded.amount, currency = excluded.currency,
    subscription_id = excluded.subscription_id, sub_status = excluded.sub_status,
    cancel_at_period_end = excluded.cancel_at_period_end, current_period_end = excluded.current_period_end,
    past_due_since = excluded.past_due_since, grant_source = excluded.grant_source, grant_tier_id = excluded.grant_tier_id,
    grant_starts_at = excluded.grant_starts_at, grant_ends_at = excluded.grant_ends_at,
    lifetime_amount = excluded.lifetime_amount, lifetime_currency = excluded.lifetime_currency,
    last_payment_at = excluded.last_payment_at, patreon_status = excluded.patreon_status,
    moved_from_patreon = excluded.moved_from_patreon, updated_at = excluded.updated_at;
END $$;--> statement-breakpoint

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

CREATE OR REPLACE FUNCTION masthead_mark_by_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- A statement that touched no row still fires (an insert that met only conflicts): nothing to mark.
  IF TG_OP = 'INSERT' THEN
    IF NOT EXISTS (SELECT FROM new_rows) THEN RETURN NULL; END IF;
    WITH touched AS (SELECT DISTINCT user_id FROM new_rows),
    dirty AS (INSERT INTO supporters_dirty SELECT user_id FROM touched ON CONFLICT DO NOTHING)
    INSERT INTO entitlement_facts AS ef (user_id, generation, facts)
  SELECT u.id, 1, NULL FROM touched t JOIN users u ON u.id = t.user_id ORDER BY u.id
  ON CONFLICT (user_id) DO UPDATE SET generation = ef.generation + 1, facts = NULL;
  ELSIF TG_OP = 'UPDATE' THEN
    IF NOT EXISTS (SELECT FROM new_rows) THEN RETURN NULL; END IF;
    WITH touched AS (SELECT user_id FROM new_rows UNION SELECT user_id FROM old_rows),
    dirty AS (INSERT INTO supporters_dirty SELECT user_id FROM touched ON CONFLICT DO NOTHING)
    INSERT INTO entitlement_facts AS ef (user_id, generation, facts)
  SELECT u.id, 1, NULL FROM touched t JOIN users u ON u.id = t.user_id ORDER BY u.id
  ON CONFLICT (user_id) DO UPDATE SET generation = ef.generation + 1, facts = NULL;
  ELSE
    IF NOT EXISTS (SELECT FROM old_rows) THEN RETURN NULL; END IF;
    WITH touched AS (SELECT DISTINCT user_id FROM old_rows),
    dirty AS (INSERT INTO supporters_dirty SELECT user_id FROM touched ON CONFLICT DO NOTHING)
    INSERT INTO entitlement_facts AS ef (user_id, generation, facts)
  SELECT u.id, 1, NULL FROM touched t JOIN users u ON u.id = t.user_id ORDER BY u.id
  ON CONFLICT (user_id) DO UPDATE SET generation = ef.generation + 1, facts = NULL;
  END IF;
  RETURN NULL;
END $$;--> statement-breakpoint

CREATE OR REPLACE FUNCTION masthead_mark_by_customer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- A statement that touched no row still fires (an insert that met only conflicts): nothing to mark.
  IF TG_OP = 'INSERT' THEN
    IF NOT EXISTS (SELECT FROM new_rows) THEN RETURN NULL; END IF;
    WITH touched AS (SELECT DISTINCT sc.user_id FROM new_rows n JOIN stripe_customers sc ON sc.customer_id = n.customer_id),
    dirty AS (INSERT INTO supporters_dirty SELECT user_id FROM touched ON CONFLICT DO NOTHING)
    INSERT INTO entitlement_facts AS ef (user_id, generation, facts)
  SELECT u.id, 1, NULL FROM touched t JOIN users u ON u.id = t.user_id ORDER BY u.id
  ON CONFLICT (user_id) DO UPDATE SET generation = ef.generation + 1, facts = NULL;
  ELSIF TG_OP = 'UPDATE' THEN
    IF NOT EXISTS (SELECT FROM new_rows) THEN RETURN NULL; END IF;
    WITH touched AS (SELECT sc.user_id FROM new_rows n JOIN stripe_customers sc ON sc.customer_id = n.customer_id
      UNION SELECT sc.user_id FROM old_rows o JOIN stripe_customers sc ON sc.customer_id = o.customer_id),
    dirty AS (INSERT INTO supporters_dirty SELECT user_id FROM touched ON CONFLICT DO NOTHING)
    INSERT INTO entitlement_facts AS ef (user_id, generation, facts)
  SELECT u.id, 1, NULL FROM touched t JOIN users u ON u.id = t.user_id ORDER BY u.id
  ON CONFLICT (user_id) DO UPDATE SET generation = ef.generation + 1, facts = NULL;
  ELSE
    IF NOT EXISTS (SELECT FROM old_rows) THEN RETURN NULL; END IF;
    WITH touched AS (SELECT DISTINCT sc.user_id FROM old_rows o JOIN stripe_customers sc ON sc.customer_id = o.customer_id),
    dirty AS (INSERT INTO supporters_dirty SELECT user_id FROM touched ON CONFLICT DO NOTHING)
    INSERT INTO entitlement_facts AS ef (user_id, generation, facts)
  SELECT u.id, 1, NULL FROM touched t JOIN users u ON u.id = t.user_id ORDER BY u.id
  ON CONFLICT (user_id) DO UPDATE SET generation = ef.generation + 1, facts = NULL;
  END IF;
  RETURN NULL;
END $$;--> statement-breakpoint

CREATE OR REPLACE FUNCTION masthead_tier_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  changed text[];
BEGIN
  changed := ARRAY(SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
    WHERE n.name IS DISTINCT FROM o.name OR n.benefits IS DISTINCT FROM o.benefits);
  IF cardinality(changed) = 0 THEN RETURN NULL; END IF;
  WITH touched AS (
    SELECT sc.user_id FROM subscriptions s JOIN stripe_customers sc ON sc.customer_id = s.customer_id
    WHERE s.tier_id = ANY(changed)
    UNION SELECT g.user_id FROM all_grants g WHERE g.tier_id = ANY(changed))
  INSERT INTO entitlement_facts AS ef (user_id, generation, facts)
  SELECT u.id, 1, NULL FROM touched t JOIN users u ON u.id = t.user_id ORDER BY u.id
  ON CONFLICT (user_id) DO UPDATE SET generation = ef.generation + 1, facts = NULL;
  RETURN NULL;
END $$;--> statement-breakpoint

CREATE OR REPLACE FUNCTION masthead_mark_account() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO supporters_dirty SELECT id FROM new_rows ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$;--> statement-breakpoint

CREATE OR REPLACE FUNCTION masthead_end_comps_of_payers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Most payers have no comp: two index probes say so before the statement that ends them is run.
  IF NOT EXISTS (SELECT 1 FROM stripe_customers sc JOIN grants g ON g.user_id = sc.user_id
      WHERE sc.customer_id = NEW.customer_id AND g.source = 'comp' AND g.revoked_at IS NULL) THEN
    RETURN NULL;
  END IF;
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

CREATE OR REPLACE FUNCTION masthead_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only';
END $$;--> statement-breakpoint

CREATE OR REPLACE FUNCTION masthead_snapshot_tie(subscription_id text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'subscription % already has a snapshot of the same second', subscription_id
    USING ERRCODE = 'MH001';
END $$;
--> statement-breakpoint

-- A tier renamed or given other benefits puts the stored entitlement facts of its members out of date.
CREATE TRIGGER entitlement_facts_tiers_update AFTER UPDATE ON tiers REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION masthead_tier_changed();
