CREATE TABLE "entitlement_facts" (
	"user_id" text PRIMARY KEY NOT NULL,
	"generation" bigint NOT NULL,
	"facts" json
);
--> statement-breakpoint
ALTER TABLE "entitlement_facts" ADD CONSTRAINT "entitlement_facts_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;