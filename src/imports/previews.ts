import { eq, sql } from 'drizzle-orm'
import type { Database } from '../db/client'
import { importBatches } from '../db/schema'
import { AppError } from '../http/errors'
import { decrypt, encrypt } from '../privacy/cipher'
import type { Keyring } from '../privacy/keys'
import { CONTEXT } from '../privacy/people'
import { randomId } from '../util/random'
import type { PatreonRow, RejectedRow } from './patreon-csv'

/**
 * Previews awaiting confirmation: the parsed rows (never the file: it holds postal addresses and
 * phone numbers) wait in import_batches until the admin confirms. The rows hold addresses and
 * names, so the document is encrypted whole (`import_batches.rows`): nothing in it is looked up by
 * the database, and one value costs one encryption however many rows the file has.
 */

/** How long a preview waits for its confirmation. */
export const PREVIEW_TTL_MS = 3600_000

/** A preview's document, as it is encrypted: `rows` and `rejected`, dates as ISO strings. */
export interface PreviewDocument {
  rows: (Omit<PatreonRow, DateKeys> & Record<DateKeys, string | null>)[]
  rejected: RejectedRow[]
}

type DateKeys = 'patronSince' | 'lastChargeDate' | 'nextChargeDate' | 'accessExpiration' | 'lastUpdated'

/** The stored value of a preview's rows (also for rewriting one, as deleting an account does). */
export function sealPreview(
  keyring: Keyring,
  parsed: { rows: readonly PatreonRow[] | PreviewDocument['rows']; rejected: readonly RejectedRow[] },
): Promise<string> {
  return encrypt(keyring, JSON.stringify({ rows: parsed.rows, rejected: parsed.rejected }), CONTEXT.importRows)
}

/** A preview's document from its stored value. */
export async function openPreview(keyring: Keyring, stored: string): Promise<PreviewDocument> {
  return JSON.parse(await decrypt(keyring, stored, CONTEXT.importRows)) as PreviewDocument
}

export async function savePreview(
  db: Database,
  keyring: Keyring,
  now: Date,
  createdBy: string,
  parsed: { rows: PatreonRow[]; rejected: RejectedRow[] },
) {
  const id = randomId()
  await db.insert(importBatches).values({ id, createdBy, rows: await sealPreview(keyring, parsed), createdAt: now })
  return id
}

export async function loadPreview(
  db: Database,
  keyring: Keyring,
  now: Date,
  id: string,
): Promise<{ rows: PatreonRow[]; rejected: RejectedRow[] }> {
  const [batch] = await db.select().from(importBatches).where(eq(importBatches.id, id))
  if (!batch || now.getTime() - batch.createdAt.getTime() > PREVIEW_TTL_MS) {
    throw new AppError('not_found', 'This preview has expired or was already imported. Upload the file again.')
  }
  const stored = await openPreview(keyring, batch.rows)
  const date = (v: string | null) => (v === null ? null : new Date(v))
  return {
    rejected: stored.rejected,
    rows: stored.rows.map((r) => ({
      ...r,
      patronSince: date(r.patronSince),
      lastChargeDate: date(r.lastChargeDate),
      nextChargeDate: date(r.nextChargeDate),
      accessExpiration: date(r.accessExpiration),
      lastUpdated: date(r.lastUpdated),
    })),
  }
}

export async function dropPreview(db: Database, id: string, now: Date) {
  await db
    .delete(importBatches)
    .where(
      sql`${importBatches.id} = ${id} or ${importBatches.createdAt} < ${new Date(now.getTime() - PREVIEW_TTL_MS).toISOString()}::timestamptz`,
    )
}
