CREATE TABLE "statement_sends" (
	"user_id" text NOT NULL,
	"year" integer NOT NULL,
	"sent_at" timestamp with time zone NOT NULL,
	CONSTRAINT "statement_sends_user_id_year_pk" PRIMARY KEY("user_id","year")
);
--> statement-breakpoint
CREATE TABLE "tier_prices" (
	"tier_id" text NOT NULL,
	"currency" text NOT NULL,
	"monthly_amount" integer NOT NULL,
	"yearly_amount" integer NOT NULL,
	"stripe_monthly_price_id" text,
	"stripe_yearly_price_id" text,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "tier_prices_tier_id_currency_pk" PRIMARY KEY("tier_id","currency"),
	CONSTRAINT "tier_prices_amounts_positive" CHECK ("tier_prices"."monthly_amount" > 0 and "tier_prices"."yearly_amount" > 0),
	CONSTRAINT "tier_prices_currency_code" CHECK ("tier_prices"."currency" ~ '^[a-z]{3}$')
);
--> statement-breakpoint
CREATE TABLE "welcome_mails" (
	"subscription_id" text PRIMARY KEY NOT NULL,
	"sent_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "jobs" DROP CONSTRAINT "jobs_kind_valid";--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "fee_cover_amount" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "receipt_sent_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "subscriptions" ADD COLUMN "fee_cover_amount" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "tiers" ADD COLUMN "trial_days" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "statement_sends" ADD CONSTRAINT "statement_sends_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tier_prices" ADD CONSTRAINT "tier_prices_tier_id_tiers_id_fk" FOREIGN KEY ("tier_id") REFERENCES "public"."tiers"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_kind_valid" CHECK ("jobs"."kind" in ('patreon_import', 'patreon_invitations', 'ghost_import', 'year_end_statements'));--> statement-breakpoint
ALTER TABLE "payments" ADD CONSTRAINT "payments_fee_cover_within" CHECK ("payments"."fee_cover_amount" >= 0 and "payments"."fee_cover_amount" <= abs("payments"."amount"));--> statement-breakpoint
ALTER TABLE "tiers" ADD CONSTRAINT "tiers_trial_days_range" CHECK ("tiers"."trial_days" between 0 and 730);