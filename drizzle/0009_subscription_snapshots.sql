-- Subscriptions are now stored from the event's own snapshot, ordered by the event's `created`
-- second; Stripe is asked again only when two snapshots share a second. Existing rows were all
-- re-fetched: they keep that read time and get its second as their snapshot time.
ALTER TABLE "subscriptions" ALTER COLUMN "fetched_at" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "subscriptions" ADD COLUMN "snapshot_at" timestamp with time zone;--> statement-breakpoint
UPDATE "subscriptions" SET "snapshot_at" = date_trunc('second', "fetched_at");--> statement-breakpoint
ALTER TABLE "subscriptions" ALTER COLUMN "snapshot_at" SET NOT NULL;--> statement-breakpoint

-- Raised from an upsert's conflict condition when a delivery brings a snapshot of the same second
-- as the stored one: which of the two is newer cannot be told, so the statement fails as a whole
-- (the event is not stored) and the app asks Stripe for the subscription instead.
CREATE OR REPLACE FUNCTION masthead_snapshot_tie(subscription_id text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'subscription % already has a snapshot of the same second', subscription_id
    USING ERRCODE = 'MH001';
END $$;
