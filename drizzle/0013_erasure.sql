-- Deleting an account leaves no address or name in the audit log (src/db/schema.ts auditLog).
-- Until now each entry copied its actor's address, which outlived the account, and an export
-- kept the search that staff typed (`filter.q`, often a name or an address) and the tier filter
-- as typed. From now on entries name their actor by id only (pages look the address up while the
-- account exists), and typed terms are kept as an HMAC under a key derived from
-- ENTITLEMENT_TOKEN_SECRET (src/audit/search-terms.ts). SQL cannot compute that HMAC (no
-- pgcrypto, and the secret is not in the database), so the terms stored so far are replaced by a
-- fixed marker, which the audit page shows as "a search (term removed)"; a tier filter that names
-- a tier that exists is a tier id, not typed text, and is kept.
-- The log is append-only (trigger audit_log_append_only): the trigger is set aside for this
-- migration's own statements only, inside its transaction.
ALTER TABLE "audit_log" DISABLE TRIGGER "audit_log_append_only";--> statement-breakpoint
UPDATE "audit_log" SET "details" = jsonb_set("details", '{filter,q}', '"[term removed]"')
  WHERE jsonb_typeof("details" -> 'filter') = 'object' AND "details" -> 'filter' ->> 'q' IS NOT NULL;--> statement-breakpoint
UPDATE "audit_log" SET "details" = jsonb_set("details", '{filter,tier}', '"[term removed]"')
  WHERE jsonb_typeof("details" -> 'filter') = 'object' AND "details" -> 'filter' ->> 'tier' IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM "tiers" WHERE "tiers"."id" = "audit_log"."details" -> 'filter' ->> 'tier');--> statement-breakpoint
ALTER TABLE "audit_log" DROP COLUMN "actor_email";--> statement-breakpoint
ALTER TABLE "audit_log" ENABLE TRIGGER "audit_log_append_only";
