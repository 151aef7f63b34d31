-- Existing rows get the epoch, so that the next read from Stripe always replaces them.
ALTER TABLE "subscriptions" ADD COLUMN "fetched_at" timestamp with time zone DEFAULT to_timestamp(0) NOT NULL;--> statement-breakpoint
ALTER TABLE "subscriptions" ALTER COLUMN "fetched_at" DROP DEFAULT;
