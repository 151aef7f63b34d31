-- Long work off the request path, and imports that are never held whole (issue #16):
-- a preview's rows are kept a part at a time (import_batch_parts), and work too long for a
-- request runs as a job, in steps (jobs). A preview written before this keeps its one encrypted
-- document as its only part: the document's format and its encryption context are unchanged.
CREATE TABLE "import_batch_parts" (
	"batch_id" text NOT NULL,
	"part" integer NOT NULL,
	"rows" text NOT NULL,
	CONSTRAINT "import_batch_parts_batch_id_part_pk" PRIMARY KEY("batch_id","part")
);
--> statement-breakpoint
CREATE TABLE "jobs" (
	"id" text PRIMARY KEY NOT NULL,
	"kind" text NOT NULL,
	"key" text NOT NULL,
	"state" text NOT NULL,
	"payload" jsonb NOT NULL,
	"progress" jsonb NOT NULL,
	"run_at" timestamp with time zone NOT NULL,
	"lease" text,
	"locked_until" timestamp with time zone,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text,
	"created_by" text,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	"finished_at" timestamp with time zone,
	CONSTRAINT "jobs_kind_valid" CHECK ("jobs"."kind" in ('patreon_import', 'patreon_invitations')),
	CONSTRAINT "jobs_state_valid" CHECK ("jobs"."state" in ('queued', 'running', 'done', 'failed'))
);
--> statement-breakpoint
ALTER TABLE "import_batches" ADD COLUMN "variant" text DEFAULT 'current' NOT NULL;--> statement-breakpoint
ALTER TABLE "import_batches" ADD COLUMN "total" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "import_batches" ADD COLUMN "parts" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "import_batch_parts" ADD CONSTRAINT "import_batch_parts_batch_id_import_batches_id_fk" FOREIGN KEY ("batch_id") REFERENCES "public"."import_batches"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_created_by_users_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "jobs_one_open_per_key" ON "jobs" USING btree ("kind","key") WHERE "jobs"."state" in ('queued', 'running');--> statement-breakpoint
CREATE INDEX "jobs_due" ON "jobs" USING btree ("run_at") WHERE "jobs"."state" in ('queued', 'running');--> statement-breakpoint
CREATE INDEX "jobs_recent" ON "jobs" USING btree ("kind","created_at");--> statement-breakpoint
INSERT INTO "import_batch_parts" ("batch_id", "part", "rows") SELECT "id", 0, "rows" FROM "import_batches";--> statement-breakpoint
UPDATE "import_batches" SET "parts" = 1;--> statement-breakpoint
ALTER TABLE "import_batches" DROP COLUMN "rows";