CREATE TABLE "gifts" (
	"id" text PRIMARY KEY NOT NULL,
	"tier_id" text,
	"months" integer NOT NULL,
	"amount" integer NOT NULL,
	"currency" text NOT NULL,
	"giver_user_id" text,
	"giver_email" text,
	"recipient_email" text,
	"recipient_email_index" text,
	"message" text,
	"deliver_at" timestamp with time zone NOT NULL,
	"checkout_session_id" text,
	"payment_intent_id" text,
	"paid_at" timestamp with time zone,
	"receipt_sent_at" timestamp with time zone,
	"token_hash" text,
	"delivered_at" timestamp with time zone,
	"redeemed_at" timestamp with time zone,
	"recipient_user_id" text,
	"grant_id" text,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "gifts_months_valid" CHECK ("gifts"."months" in (3, 6, 12)),
	CONSTRAINT "gifts_amount_positive" CHECK ("gifts"."amount" > 0),
	CONSTRAINT "gifts_currency_code" CHECK ("gifts"."currency" ~ '^[a-z]{3}$')
);
--> statement-breakpoint
ALTER TABLE "grants" DROP CONSTRAINT "grants_source_valid";--> statement-breakpoint
ALTER TABLE "jobs" DROP CONSTRAINT "jobs_kind_valid";--> statement-breakpoint
ALTER TABLE "payments" DROP CONSTRAINT "payments_kind_valid";--> statement-breakpoint
ALTER TABLE "gifts" ADD CONSTRAINT "gifts_tier_id_tiers_id_fk" FOREIGN KEY ("tier_id") REFERENCES "public"."tiers"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "gifts" ADD CONSTRAINT "gifts_giver_user_id_users_id_fk" FOREIGN KEY ("giver_user_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "gifts" ADD CONSTRAINT "gifts_recipient_user_id_users_id_fk" FOREIGN KEY ("recipient_user_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "gifts" ADD CONSTRAINT "gifts_grant_id_grants_id_fk" FOREIGN KEY ("grant_id") REFERENCES "public"."grants"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "gifts_checkout_session_key" ON "gifts" USING btree ("checkout_session_id");--> statement-breakpoint
CREATE UNIQUE INDEX "gifts_token_hash_key" ON "gifts" USING btree ("token_hash");--> statement-breakpoint
CREATE INDEX "gifts_recipient_email_index_idx" ON "gifts" USING btree ("recipient_email_index");--> statement-breakpoint
CREATE INDEX "gifts_recipient_user_id_idx" ON "gifts" USING btree ("recipient_user_id");--> statement-breakpoint
CREATE INDEX "gifts_giver_user_id_idx" ON "gifts" USING btree ("giver_user_id");--> statement-breakpoint
ALTER TABLE "grants" ADD CONSTRAINT "grants_source_valid" CHECK ("grants"."source" in ('comp', 'gift'));--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_kind_valid" CHECK ("jobs"."kind" in ('patreon_import', 'patreon_invitations', 'ghost_import', 'year_end_statements', 'gift_delivery', 'gift_start'));--> statement-breakpoint
ALTER TABLE "payments" ADD CONSTRAINT "payments_kind_valid" CHECK ("payments"."kind" in ('subscription', 'donation', 'refund', 'gift'));