-- The one reminder to move from Patreon (issue #18): sent PATREON_REMINDER_DAYS after the invitation
-- to an active patron who has neither moved nor unsubscribed; its time is kept so it goes once.
ALTER TABLE "patreon_members" ADD COLUMN "reminded_at" timestamp with time zone;