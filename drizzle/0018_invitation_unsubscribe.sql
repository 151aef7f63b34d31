-- Invitations people can stop (issue #18): each invitation carries a one-click unsubscribe link
-- (List-Unsubscribe); only the SHA-256 of its token is kept, and a patron who used it gets no more.
ALTER TABLE "patreon_members" ADD COLUMN "unsubscribe_token_hash" text;--> statement-breakpoint
ALTER TABLE "patreon_members" ADD COLUMN "unsubscribed_at" timestamp with time zone;--> statement-breakpoint
CREATE UNIQUE INDEX "patreon_members_unsubscribe_token_key" ON "patreon_members" USING btree ("unsubscribe_token_hash");