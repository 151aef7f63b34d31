import { desc, getTableColumns, lt } from 'drizzle-orm'
import type { SessionUser } from '../accounts/sessions'
import type { Database } from '../db/client'
import { auditLog } from '../db/schema'
import type { Keyring } from '../privacy/keys'
import { addressesById } from '../accounts/users'

export type AuditAction =
  | 'supporter.viewed'
  | 'supporters.exported'
  | 'supporter.erased'
  | 'role.changed'
  | 'tier.created'
  | 'tier.updated'
  | 'comp.granted'
  | 'comp.revoked'
  | 'patreon.imported'
  | 'patreon.rejected_exported'
  | 'ghost.imported'
  | 'ghost.rejected_exported'
  | 'stripe.adopted'
  | 'membership.duplicate_refunded'
  | 'statements.sending_started'

/**
 * Appends to the audit log: who looked at donor data or changed who may do
 * what. Append-only in the database too (a trigger refuses updates and
 * deletes). Accounts are named by id, never by address; details hold ids and
 * filters, with what staff typed as a keyed hash (search-terms.ts), never
 * card or address data.
 */
export async function audit(
  db: Database,
  now: Date,
  actor: Pick<SessionUser, 'id'> | null,
  action: AuditAction,
  subjectUserId: string | null,
  details: Record<string, unknown> = {},
): Promise<void> {
  await db.insert(auditLog).values({
    at: now,
    actorId: actor?.id ?? null,
    action,
    subjectUserId,
    details,
  })
}

/** An entry with its actor's address while the account exists (null for a command, or an account since deleted). */
export type AuditEntry = typeof auditLog.$inferSelect & { actorEmail: string | null }

/**
 * Newest first, a page at a time (`before` is the last id of the previous page). Actors'
 * addresses are stored encrypted: each actor's is decrypted once, however many entries are theirs
 * (a page is mostly a few staff members).
 */
export async function listAudit(
  db: Database,
  keyring: Keyring,
  before: number | undefined,
  limit = 100,
): Promise<AuditEntry[]> {
  const entries = await db
    .select(getTableColumns(auditLog))
    .from(auditLog)
    .where(before === undefined ? undefined : lt(auditLog.id, before))
    .orderBy(desc(auditLog.id))
    .limit(limit)
  const actors = await addressesById(
    db,
    keyring,
    entries.flatMap((e) => (e.actorId === null ? [] : [e.actorId])),
  )
  return entries.map((entry) => ({
    ...entry,
    actorEmail: entry.actorId === null ? null : (actors.get(entry.actorId) ?? null),
  }))
}
