import { and, asc, eq, gte, lt, sql } from 'drizzle-orm'
import type { Database } from '../db/client'
import { importBatches, importBatchParts } from '../db/schema'
import { AppError } from '../http/errors'
import { decrypt, encrypt } from '../privacy/cipher'
import type { Keyring } from '../privacy/keys'
import { CONTEXT } from '../privacy/people'
import { randomId } from '../util/random'
import type { PatreonRow, RejectedRow } from './patreon-csv'
import { tierPledges, type PatreonTierPrice } from './patreon-import'

/**
 * Previews awaiting confirmation: the parsed rows (never the file: it holds postal addresses and
 * phone numbers) wait in import_batch_parts until the admin confirms, a part at a time as the
 * upload was read (about a thousand rows each), so that no step of an import holds every row. A
 * part's rows hold addresses and names, so each part is one encrypted JSON document: nothing in it
 * is looked up by the database, and a part costs one encryption however many rows it has.
 */

/** How long a preview waits for its confirmation. */
export const PREVIEW_TTL_MS = 3600_000

/** A part's document, as it is encrypted: `rows` and `rejected`, dates as ISO strings. */
export interface PreviewDocument {
  rows: (Omit<PatreonRow, DateKeys> & Record<DateKeys, string | null>)[]
  rejected: RejectedRow[]
}

type DateKeys = 'patronSince' | 'lastChargeDate' | 'nextChargeDate' | 'accessExpiration' | 'lastUpdated'

export interface PreviewBatch {
  id: string
  createdBy: string | null
  createdAt: Date
  variant: string
  /** Records read, imported or rejected. */
  total: number
  parts: number
}

/** The stored value of a part's rows (also for rewriting one, as deleting an account does). */
export function sealPreview(
  keyring: Keyring,
  parsed: { rows: readonly PatreonRow[] | PreviewDocument['rows']; rejected: readonly RejectedRow[] },
): Promise<string> {
  return encrypt(keyring, JSON.stringify({ rows: parsed.rows, rejected: parsed.rejected }), CONTEXT.importRows)
}

/** A part's document from its stored value. */
export async function openPreview(keyring: Keyring, stored: string): Promise<PreviewDocument> {
  return JSON.parse(await decrypt(keyring, stored, CONTEXT.importRows)) as PreviewDocument
}

/** Rows and rejected lines, as a reader of the file hands them over. */
export type RowsSink = (rows: PatreonRow[], rejected: RejectedRow[]) => Promise<void>

/**
 * Stores an upload as a preview while it is read: `read` reads the file, handing each run of rows
 * to the sink given it, which seals and writes it as the next part. One transaction: a file that
 * turns out to be unreadable half-way leaves nothing behind. Returns the preview and the Patreon
 * tiers its rows use, each with what its patrons most often pledge a month (for the suggested mapping).
 */
export async function storePreview(
  db: Database,
  keyring: Keyring,
  now: Date,
  createdBy: string,
  read: (sink: RowsSink) => Promise<{ variant: string; total: number }>,
): Promise<{ batch: PreviewBatch; tiers: [string, PatreonTierPrice[]][] }> {
  const id = randomId()
  const pledges = tierPledges()
  return db.transaction(async (tx) => {
    await tx.insert(importBatches).values({ id, createdBy, createdAt: now })
    let parts = 0
    const read_ = await read(async (rows, rejected) => {
      if (rows.length === 0 && rejected.length === 0) return
      pledges.add(rows)
      await tx
        .insert(importBatchParts)
        .values({ batchId: id, part: parts, rows: await sealPreview(keyring, { rows, rejected }) })
      parts += 1
    })
    await tx
      .update(importBatches)
      .set({ variant: read_.variant, total: read_.total, parts })
      .where(eq(importBatches.id, id))
    return {
      batch: { id, createdBy, createdAt: now, variant: read_.variant, total: read_.total, parts },
      tiers: pledges.prices(),
    }
  })
}

/** A preview still waiting, or not found: expired, imported already, or never there. */
export async function findPreview(db: Database, now: Date, id: string): Promise<PreviewBatch> {
  const [batch] = await db.select().from(importBatches).where(eq(importBatches.id, id))
  if (!batch || now.getTime() - batch.createdAt.getTime() > PREVIEW_TTL_MS) {
    throw new AppError('not_found', 'This preview has expired or was already imported. Upload the file again.')
  }
  return batch
}

/**
 * A Patreon preview still waiting (findPreview); a Ghost one (src/imports/ghost-previews.ts) is
 * not found here, so that neither import reads the other's rows.
 */
export async function findPatreonPreview(db: Database, now: Date, id: string): Promise<PreviewBatch> {
  const batch = await findPreview(db, now, id)
  if (batch.variant !== 'current' && batch.variant !== 'older') {
    throw new AppError('not_found', 'No such Patreon preview. Upload the file again.')
  }
  return batch
}

const date = (v: string | null) => (v === null ? null : new Date(v))

/**
 * The sealed documents of a preview's parts `from` to `to` (excluded), read one at a time, in order:
 * which parts there are first, then each as it is needed, never two parts' rows at once. For either
 * import's previews (previewParts here, ghostPreviewParts in ghost-previews.ts), which open them.
 */
export async function* sealedParts(
  db: Database,
  batchId: string,
  from: number,
  to: number,
): AsyncGenerator<{ part: number; sealed: string }> {
  const parts = await db
    .select({ part: importBatchParts.part })
    .from(importBatchParts)
    .where(and(eq(importBatchParts.batchId, batchId), gte(importBatchParts.part, from), lt(importBatchParts.part, to)))
    .orderBy(asc(importBatchParts.part))
  for (const { part } of parts) {
    const [stored] = await db
      .select({ rows: importBatchParts.rows })
      .from(importBatchParts)
      .where(and(eq(importBatchParts.batchId, batchId), eq(importBatchParts.part, part)))
    if (stored) yield { part, sealed: stored.rows } // gone meanwhile: the preview was imported or dropped
  }
}

/** Parts `from` to `to` (excluded) of a preview, opened one at a time, in order. */
export async function* previewParts(
  db: Database,
  keyring: Keyring,
  batchId: string,
  from = 0,
  to = 2 ** 31 - 1,
): AsyncGenerator<{ part: number; rows: PatreonRow[]; rejected: RejectedRow[] }> {
  for await (const { part, sealed } of sealedParts(db, batchId, from, to)) {
    const document = await openPreview(keyring, sealed)
    yield {
      part,
      rejected: document.rejected,
      rows: document.rows.map((r) => ({
        ...r,
        patronSince: date(r.patronSince),
        lastChargeDate: date(r.lastChargeDate),
        nextChargeDate: date(r.nextChargeDate),
        accessExpiration: date(r.accessExpiration),
        lastUpdated: date(r.lastUpdated),
      })),
    }
  }
}

/** Drops a preview (its parts go with it), and any that have expired, unless an import of it is under way. */
export async function dropPreview(db: Database, id: string, now: Date) {
  const expired = sql`${importBatches.createdAt} < ${new Date(now.getTime() - PREVIEW_TTL_MS).toISOString()}::timestamptz`
  await db.delete(importBatches).where(
    sql`(${importBatches.id} = ${id} or (${expired} and not exists (select 1 from jobs
          where jobs.kind in ('patreon_import', 'ghost_import') and jobs.key = ${importBatches.id} and jobs.state in ('queued', 'running'))))`,
  )
}
