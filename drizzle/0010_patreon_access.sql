-- A Patreon membership lives on its patreon_members row (access_starts_at .. access_ends_at)
-- instead of a mirrored grants row: one row per patron, written once per import. The
-- all_grants view reads comps and Patreon memberships as one, for entitlements, the
-- supporters table, metrics and the supporter page.
ALTER TABLE "patreon_members" ADD COLUMN "access_starts_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "patreon_members" ADD COLUMN "access_ends_at" timestamp with time zone;--> statement-breakpoint

-- Existing Patreon grants move over (a seeded database may have them without a patreon_members row).
UPDATE "patreon_members" pm SET "access_starts_at" = g."starts_at", "access_ends_at" = g."ends_at"
  FROM "grants" g WHERE g."user_id" = pm."user_id" AND g."source" = 'patreon' AND g."revoked_at" IS NULL;--> statement-breakpoint
INSERT INTO "patreon_members" ("user_id", "status", "tier_id", "access_starts_at", "access_ends_at", "imported_at", "updated_at")
  SELECT g."user_id", CASE WHEN g."ends_at" IS NULL OR g."ends_at" > now() THEN 'active' ELSE 'former' END,
    g."tier_id", g."starts_at", g."ends_at", g."created_at", g."updated_at"
  FROM "grants" g WHERE g."source" = 'patreon' AND g."revoked_at" IS NULL
  ON CONFLICT ("user_id") DO NOTHING;--> statement-breakpoint
DELETE FROM "grants" WHERE "source" = 'patreon';--> statement-breakpoint
DROP INDEX IF EXISTS "grants_one_patreon_per_user";--> statement-breakpoint
ALTER TABLE "grants" DROP CONSTRAINT "grants_source_valid";--> statement-breakpoint
ALTER TABLE "grants" ADD CONSTRAINT "grants_source_valid" CHECK ("grants"."source" = 'comp');--> statement-breakpoint

CREATE VIEW "all_grants" AS
  SELECT g."id", g."user_id", g."source", g."tier_id", g."starts_at", g."ends_at", g."note", g."granted_by",
    g."revoked_at", g."revoked_by", g."created_at", g."updated_at"
  FROM "grants" g
  UNION ALL
  SELECT 'patreon:' || pm."user_id", pm."user_id", 'patreon', pm."tier_id", pm."access_starts_at", pm."access_ends_at",
    CASE WHEN pm."patreon_tier" IS NOT NULL THEN 'Patreon tier: ' || pm."patreon_tier" END, NULL::text,
    NULL::timestamptz, NULL::text, pm."imported_at", pm."updated_at"
  FROM "patreon_members" pm WHERE pm."access_starts_at" IS NOT NULL;--> statement-breakpoint

-- The supporters table reads memberships through the view (0008's function, with grants → all_grants).
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
    email = excluded.email, name = excluded.name, since = excluded.since, source = excluded.source,
    tier_id = excluded.tier_id, interval = excluded.interval, amount = excluded.amount, currency = excluded.currency,
    subscription_id = excluded.subscription_id, sub_status = excluded.sub_status,
    cancel_at_period_end = excluded.cancel_at_period_end, current_period_end = excluded.current_period_end,
    past_due_since = excluded.past_due_since, grant_source = excluded.grant_source, grant_tier_id = excluded.grant_tier_id,
    grant_starts_at = excluded.grant_starts_at, grant_ends_at = excluded.grant_ends_at,
    lifetime_amount = excluded.lifetime_amount, lifetime_currency = excluded.lifetime_currency,
    last_payment_at = excluded.last_payment_at, patreon_status = excluded.patreon_status,
    moved_from_patreon = excluded.moved_from_patreon, updated_at = excluded.updated_at;
END $$;
