CREATE TABLE "patreon_tier_mappings" (
	"patreon_tier" text PRIMARY KEY NOT NULL,
	"tier_id" text NOT NULL,
	"saved_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "patreon_webhook_counts" (
	"outcome" text NOT NULL,
	"detail" text DEFAULT '' NOT NULL,
	"count" integer DEFAULT 0 NOT NULL,
	"last_at" timestamp with time zone NOT NULL,
	CONSTRAINT "patreon_webhook_counts_outcome_detail_pk" PRIMARY KEY("outcome","detail"),
	CONSTRAINT "patreon_webhook_counts_outcome_valid" CHECK ("patreon_webhook_counts"."outcome" in ('applied', 'ignored', 'rejected'))
);
--> statement-breakpoint
ALTER TABLE "patreon_members" ADD COLUMN "webhook_facts_key" text;--> statement-breakpoint
ALTER TABLE "patreon_tier_mappings" ADD CONSTRAINT "patreon_tier_mappings_tier_id_tiers_id_fk" FOREIGN KEY ("tier_id") REFERENCES "public"."tiers"("id") ON DELETE cascade ON UPDATE no action;