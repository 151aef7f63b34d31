import { desc, lt } from 'drizzle-orm'
import type { SessionUser } from '../accounts/sessions'
import type { Database } from '../db/client'
import { auditLog } from '../db/schema'

export type AuditAction =
  | 'supporter.viewed'
  | 'supporters.exported'
  | 'role.changed'
  | 'tier.created'
  | 'tier.updated'
  | 'comp.granted'
  | 'comp.revoked'
  | 'patreon.imported'
  | 'membership.duplicate_refunded'

/**
 * Appends to the audit log: who looked at donor data or changed who may do
 * what. Append-only in the database too (a trigger refuses updates and
 * deletes). Details hold ids and filters, never card or address data.
 */
export async function audit(
  db: Database,
  now: Date,
  actor: Pick<SessionUser, 'id' | 'email'> | null,
  action: AuditAction,
  subjectUserId: string | null,
  details: Record<string, unknown> = {},
): Promise<void> {
  await db.insert(auditLog).values({
    at: now,
    actorId: actor?.id ?? null,
    actorEmail: actor?.email ?? null,
    action,
    subjectUserId,
    details,
  })
}

export type AuditEntry = typeof auditLog.$inferSelect

/** Newest first, a page at a time (`before` is the last id of the previous page). */
export async function listAudit(db: Database, before: number | undefined, limit = 100): Promise<AuditEntry[]> {
  return db
    .select()
    .from(auditLog)
    .where(before === undefined ? undefined : lt(auditLog.id, before))
    .orderBy(desc(auditLog.id))
    .limit(limit)
}
