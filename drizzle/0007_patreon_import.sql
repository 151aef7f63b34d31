CREATE TABLE "import_batches" (
	"id" text PRIMARY KEY NOT NULL,
	"created_by" text,
	"rows" jsonb NOT NULL,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "patreon_members" (
	"user_id" text PRIMARY KEY NOT NULL,
	"patreon_user_id" text,
	"status" text NOT NULL,
	"patreon_tier" text,
	"tier_id" text,
	"pledge_amount" integer,
	"lifetime_amount" integer,
	"currency" text,
	"charge_frequency" text,
	"patron_since" timestamp with time zone,
	"last_charge_at" timestamp with time zone,
	"next_charge_at" timestamp with time zone,
	"access_expires_at" timestamp with time zone,
	"invited_at" timestamp with time zone,
	"imported_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "patreon_members_status_valid" CHECK ("patreon_members"."status" in ('active', 'declined', 'former', 'none'))
);
--> statement-breakpoint
ALTER TABLE "supporters" ADD COLUMN "patreon_status" text;--> statement-breakpoint
ALTER TABLE "supporters" ADD COLUMN "moved_from_patreon" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "import_batches" ADD CONSTRAINT "import_batches_created_by_users_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "patreon_members" ADD CONSTRAINT "patreon_members_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "patreon_members" ADD CONSTRAINT "patreon_members_tier_id_tiers_id_fk" FOREIGN KEY ("tier_id") REFERENCES "public"."tiers"("id") ON DELETE set null ON UPDATE no action;