-- The card alone (ARCHITECTURE.md, "Personal data at rest"): an account's address and name are
-- kept only in users.card, one AES-GCM value, instead of three (email, name and both together).
-- SQL cannot decrypt, so the columns stay for what databases from before still hold: the pass
-- after the migrations (src/accounts/seal-existing.ts) writes the card where it is missing and
-- clears them. `named` says whether an account has a name, as `name is not null` did.
ALTER TABLE "supporters" ALTER COLUMN "email" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "users" ALTER COLUMN "email" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "named" boolean DEFAULT false NOT NULL;--> statement-breakpoint
UPDATE "users" SET "named" = true WHERE "name" IS NOT NULL;
