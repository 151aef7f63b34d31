import { entitlementFactsSql } from './facts-sql'
import { inListText, PAID_UP_STATUSES, PAYING_STATUSES } from './statuses'

/**
 * The current definition of every function, trigger function and view that
 * Masthead installs in the database: read and change them here.
 *
 * The migrations in drizzle/ keep the history (0006, 0008, 0009, 0010 and
 * 0011_routines, which installed this text first), and the database only
 * changes through a migration. So after changing a definition here, write a
 * new migration that installs the new text:
 *
 *   npx drizzle-kit generate --custom --name <name>   # adds drizzle/NNNN_<name>.sql and its snapshot
 *   npm run db:routines -- drizzle/NNNN_<name>.sql      # fills it with routinesSql()
 *
 * tests/db/routines.test.ts fails while the migrated database and this file
 * disagree. Status lists come from src/db/statuses.ts; plpgsql bodies are
 * stored verbatim, so keep each one's text exactly as it is unless you mean
 * to change it (and ship it in a migration). CREATE OR REPLACE cannot change
 * a function's arguments or result type, nor drop or retype a view's columns:
 * for such a change, put the DROP above routinesSql() in the new migration.
 * A change to the facts' SQL (src/db/facts-sql.ts) also needs the stored facts put out of date
 * in that migration, as that file says.
 *
 * Triggers (CREATE TRIGGER) stay in the migrations that created them. Note
 * that `comps_end_on_subscription` (0006) has its own `WHEN (NEW.status IN
 * ('active', 'trialing'))`: a trigger's condition is fixed when the trigger
 * is created, so changing PAID_UP_STATUSES means recreating that trigger too.
 */

export interface Routine {
  name: string
  kind: 'function' | 'view'
  sql: string
}

const paying = inListText(PAYING_STATUSES)
const paidUp = inListText(PAID_UP_STATUSES)

/**
 * The accounts of the CTE `touched` (column user_id) get their stored entitlement facts out of
 * date: null, and the generation one higher, so that facts computed before the change are not
 * stored after it (masthead_entitlement_facts). A row is made for an account that had none, for
 * the same reason. Accounts that no longer exist are left out (a deleted account's rows go with
 * it); rows are locked in id order. Written into each trigger function rather than called: with
 * a nested plpgsql call, trigger-heavy statements ran 8,500-10,800 a second in pgbench, inline
 * 16,200-16,700 (16,000-19,000 before the facts were kept).
 */
const outOfDateSql = `INSERT INTO entitlement_facts AS ef (user_id, generation, facts)
  SELECT u.id, 1, NULL FROM touched t JOIN users u ON u.id = t.user_id ORDER BY u.id
  ON CONFLICT (user_id) DO UPDATE SET generation = ef.generation + 1, facts = NULL;`

/** After `WITH touched AS (…),`: the accounts marked for the supporters summary, and their facts out of date. */
const markedSql = `dirty AS (INSERT INTO supporters_dirty SELECT user_id FROM touched ON CONFLICT DO NOTHING)
    ${outOfDateSql}`

export const ROUTINES: Routine[] = [
  {
    // Comps and Patreon memberships read as one, for entitlements, the supporters table, metrics
    // and the supporter page (drizzle/0010; src/db/schema.ts `allGrants`).
    name: 'all_grants',
    kind: 'view',
    sql: `CREATE OR REPLACE VIEW "all_grants" AS
  SELECT g."id", g."user_id", g."source", g."tier_id", g."starts_at", g."ends_at", g."note", g."granted_by",
    g."revoked_at", g."revoked_by", g."created_at", g."updated_at"
  FROM "grants" g
  UNION ALL
  SELECT 'patreon:' || pm."user_id", pm."user_id", 'patreon', pm."tier_id", pm."access_starts_at", pm."access_ends_at",
    CASE WHEN pm."patreon_tier" IS NOT NULL THEN 'Patreon tier: ' || pm."patreon_tier" END, NULL::text,
    NULL::timestamptz, NULL::text, pm."imported_at", pm."updated_at"
  FROM "patreon_members" pm WHERE pm."access_starts_at" IS NOT NULL;`,
  },
  {
    // An account's entitlement facts computed (src/db/facts-sql.ts) and kept in entitlement_facts,
    // unless a change made them out of date again since the caller read the row at generation
    // `seen` (null: there was none). The reader_sessions view calls it when the stored facts are
    // out of date. Storing takes the row's lock, so a change whose transaction holds it is waited
    // for and then seen: the condition is checked on the row as that change left it.
    name: 'masthead_entitlement_facts',
    kind: 'function',
    sql: `CREATE OR REPLACE FUNCTION masthead_entitlement_facts(uid text, seen bigint) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
  computed json;
BEGIN
  SELECT ${entitlementFactsSql('uid')} INTO computed;
  BEGIN
    INSERT INTO entitlement_facts AS ef (user_id, generation, facts) VALUES (uid, 0, computed)
    ON CONFLICT (user_id) DO UPDATE SET facts = excluded.facts WHERE ef.generation = seen AND ef.facts IS NULL;
  EXCEPTION WHEN foreign_key_violation THEN
    NULL; -- the account was deleted since the caller read it: there is nothing to keep
  END;
  RETURN computed;
END $$;`,
  },
  {
    // A session with its account and the account's entitlement facts: the one query of every
    // signed-in request that is not decided from the page-view cookie (src/accounts/sessions.ts),
    // read by id. The facts are read as stored, and computed (and stored) only when a change made
    // them out of date: computing them costs Postgres about three times the rest of the lookup
    // (pgbench, prepared: 17,600 lookups a second computing them, 48,000 reading them stored).
    // COALESCE evaluates its second argument only when the first is null. A view so that the
    // statement the server sends is short: postgres.js hashes a statement's whole text on every
    // call to find it prepared (3.8 % of the server's CPU samples under perf for the 1.6 KB text).
    name: 'reader_sessions',
    kind: 'view',
    sql: `CREATE OR REPLACE VIEW "reader_sessions" AS
  SELECT s.id, s.user_id, s.expires_at, u.card, u.email, u.name, u.role,
    coalesce(ef.facts, masthead_entitlement_facts(u.id, ef.generation)) AS facts
  FROM sessions s JOIN users u ON u.id = s.user_id LEFT JOIN entitlement_facts ef ON ef.user_id = u.id;`,
  },
  {
    // Refreshes the supporters rows of the given accounts (masthead_refresh_all_supporters() for all).
    name: 'masthead_refresh_supporters',
    kind: 'function',
    sql: `CREATE OR REPLACE FUNCTION masthead_refresh_supporters(uids text[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO supporters AS t (user_id, email, name, search_tokens, name_order, card, since, source, tier_id, interval, amount, currency, subscription_id,
    sub_status, cancel_at_period_end, current_period_end, past_due_since, grant_source, grant_tier_id, grant_starts_at,
    grant_ends_at, lifetime_amount, lifetime_currency, last_payment_at, patreon_status, moved_from_patreon, updated_at)
  SELECT u.id, u.email, u.name, u.search_tokens, u.name_order, u.card,
    LEAST(subs.first_created, grs.first_start, pay.first_paid, pm.patron_since),
    CASE
      WHEN best.status IN ${paying} THEN 'stripe'
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
    ORDER BY (s.status IN ${paying}) DESC, s.stripe_created_at DESC LIMIT 1) best ON true
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
END $$;`,
  },
  {
    // Refreshes the rows marked in supporters_dirty (src/supporters/list.ts refreshSupporters).
    name: 'masthead_refresh_dirty_supporters',
    kind: 'function',
    sql: `CREATE OR REPLACE FUNCTION masthead_refresh_dirty_supporters() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  taken text[];
BEGIN
  WITH gone AS (DELETE FROM supporters_dirty RETURNING user_id) SELECT array_agg(user_id) INTO taken FROM gone;
  IF taken IS NULL THEN RETURN 0; END IF;
  PERFORM masthead_refresh_supporters(taken);
  RETURN cardinality(taken);
END $$;`,
  },
  {
    name: 'masthead_refresh_all_supporters',
    kind: 'function',
    sql: `CREATE OR REPLACE FUNCTION masthead_refresh_all_supporters() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM supporters_dirty;
  PERFORM masthead_refresh_supporters(ARRAY(SELECT id FROM users));
END $$;`,
  },
  {
    // Statement-level trigger functions with transition tables (drizzle/0006): per statement, one
    // statement marks the accounts it touched, however many rows: in supporters_dirty, and their
    // stored entitlement facts out of date (`markedSql` above). They run on every table the facts
    // are computed from but tiers: grants, patreon_members and stripe_customers (by user),
    // subscriptions and payments (by customer; a refund row carries its charge's customer). They
    // leave at once when the statement touched no row: a webhook's `insert … on conflict` that met
    // only conflicts still fires. In the webhooks bench, running the marking statement for nothing
    // put PostgreSQL at 416 µs an event; with the early exit, 323 (the run in BENCHMARKS.md).
    name: 'masthead_mark_by_user',
    kind: 'function',
    sql: `CREATE OR REPLACE FUNCTION masthead_mark_by_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- A statement that touched no row still fires (an insert that met only conflicts): nothing to mark.
  IF TG_OP = 'INSERT' THEN
    IF NOT EXISTS (SELECT FROM new_rows) THEN RETURN NULL; END IF;
    WITH touched AS (SELECT DISTINCT user_id FROM new_rows),
    ${markedSql}
  ELSIF TG_OP = 'UPDATE' THEN
    IF NOT EXISTS (SELECT FROM new_rows) THEN RETURN NULL; END IF;
    WITH touched AS (SELECT user_id FROM new_rows UNION SELECT user_id FROM old_rows),
    ${markedSql}
  ELSE
    IF NOT EXISTS (SELECT FROM old_rows) THEN RETURN NULL; END IF;
    WITH touched AS (SELECT DISTINCT user_id FROM old_rows),
    ${markedSql}
  END IF;
  RETURN NULL;
END $$;`,
  },
  {
    name: 'masthead_mark_by_customer',
    kind: 'function',
    sql: `CREATE OR REPLACE FUNCTION masthead_mark_by_customer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- A statement that touched no row still fires (an insert that met only conflicts): nothing to mark.
  IF TG_OP = 'INSERT' THEN
    IF NOT EXISTS (SELECT FROM new_rows) THEN RETURN NULL; END IF;
    WITH touched AS (SELECT DISTINCT sc.user_id FROM new_rows n JOIN stripe_customers sc ON sc.customer_id = n.customer_id),
    ${markedSql}
  ELSIF TG_OP = 'UPDATE' THEN
    IF NOT EXISTS (SELECT FROM new_rows) THEN RETURN NULL; END IF;
    WITH touched AS (SELECT sc.user_id FROM new_rows n JOIN stripe_customers sc ON sc.customer_id = n.customer_id
      UNION SELECT sc.user_id FROM old_rows o JOIN stripe_customers sc ON sc.customer_id = o.customer_id),
    ${markedSql}
  ELSE
    IF NOT EXISTS (SELECT FROM old_rows) THEN RETURN NULL; END IF;
    WITH touched AS (SELECT DISTINCT sc.user_id FROM old_rows o JOIN stripe_customers sc ON sc.customer_id = o.customer_id),
    ${markedSql}
  END IF;
  RETURN NULL;
END $$;`,
  },
  {
    // A tier renamed or given other benefits changes the facts of every account with a subscription
    // or a grant of it (trigger entitlement_facts_tiers_update, drizzle/0027).
    name: 'masthead_tier_changed',
    kind: 'function',
    sql: `CREATE OR REPLACE FUNCTION masthead_tier_changed() RETURNS trigger LANGUAGE plpgsql AS $$
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
  ${outOfDateSql}
  RETURN NULL;
END $$;`,
  },
  {
    name: 'masthead_mark_account',
    kind: 'function',
    sql: `CREATE OR REPLACE FUNCTION masthead_mark_account() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO supporters_dirty SELECT id FROM new_rows ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$;`,
  },
  {
    // A member who starts paying keeps only the paid membership: their current comps end, whichever
    // comes first, the paid subscription or the link of its customer to the account (triggers
    // comps_end_on_subscription and comps_end_on_link, drizzle/0006).
    name: 'masthead_end_comps_of_payers',
    kind: 'function',
    sql: `CREATE OR REPLACE FUNCTION masthead_end_comps_of_payers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Most payers have no comp: two index probes say so before the statement that ends them is run.
  IF NOT EXISTS (SELECT 1 FROM stripe_customers sc JOIN grants g ON g.user_id = sc.user_id
      WHERE sc.customer_id = NEW.customer_id AND g.source = 'comp' AND g.revoked_at IS NULL) THEN
    RETURN NULL;
  END IF;
  WITH payers AS (
    SELECT DISTINCT sc.user_id FROM stripe_customers sc JOIN subscriptions s ON s.customer_id = sc.customer_id
    WHERE sc.customer_id = NEW.customer_id AND s.status IN ${paidUp}),
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
END $$;`,
  },
  {
    // The audit log is append-only (trigger audit_log_append_only, drizzle/0006).
    name: 'masthead_audit_log_append_only',
    kind: 'function',
    sql: `CREATE OR REPLACE FUNCTION masthead_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only';
END $$;`,
  },
  {
    // Raised from a subscription upsert's conflict condition when a delivery brings a snapshot of the
    // same second as the stored one: the statement fails as a whole and the app asks Stripe instead
    // (drizzle/0009; src/billing/webhooks/events/subscription-sync.ts, `snapshotTie` in src/db/pg-errors.ts).
    name: 'masthead_snapshot_tie',
    kind: 'function',
    sql: `CREATE OR REPLACE FUNCTION masthead_snapshot_tie(subscription_id text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'subscription % already has a snapshot of the same second', subscription_id
    USING ERRCODE = 'MH001';
END $$;`,
  },
]

/** drizzle's separator between the statements of a migration. */
export const STATEMENT_BREAKPOINT = '--> statement-breakpoint'

/** Every routine as one migration's SQL: what a migration that (re)installs them contains, exactly. */
export function routinesSql(routines: readonly Routine[] = ROUTINES): string {
  const header = '-- Functions, trigger functions and views as src/db/routines.ts defines them (npm run db:routines).\n'
  return `${header}${routines.map((r) => r.sql).join(`${STATEMENT_BREAKPOINT}\n\n`)}\n`
}
