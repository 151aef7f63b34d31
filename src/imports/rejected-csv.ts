import type { Config } from '../config'
import type { Database } from '../db/client'
import type { Keyring } from '../privacy/keys'
import { csvStream, type CsvColumn } from '../supporters/csv'
import { toMajorUnits } from '../util/money'
import { COLUMN_KEYS, COLUMNS, type Column, type PatreonRow } from './patreon-csv'
import { planImport, type TierMapping } from './patreon-import'
import { previewParts } from './previews'
import type { PriceMapping, TierCatalogEntry } from '../billing/adopt'
import { GHOST_CELL_HEADERS, type GhostRow } from './ghost-csv'
import { planGhostImport } from './ghost-import'
import { ghostPreviewParts } from './ghost-previews'

/**
 * The rejected rows of a stored preview as a CSV the editor can fix and upload again: the columns
 * Masthead reads, under Patreon's header names (the reader finds columns by name, so the file
 * imports as an export does), plus `reason`. A row the reader refused keeps its cells as they were
 * in the file (`RejectedRow.cells`); a row the plan refused (its tier not mapped, an active patron
 * with no tier) is written back from what was read. The columns Masthead never reads (addresses,
 * phone numbers) were never kept, so they are not in it.
 */

const STATUS_TEXT: Record<PatreonRow['status'], string> = {
  active: 'Active patron',
  declined: 'Declined patron',
  former: 'Former patron',
  none: '',
}

/** Patreon's own way of writing a date: "2026-08-10 13:37:12", UTC. */
const dateText = (date: Date | null) => (date ? date.toISOString().slice(0, 19).replace('T', ' ') : '')
const amountText = (amount: number | null, currency: string | null) =>
  amount === null ? '' : toMajorUnits(amount, currency ?? 'usd')

const CELL: Record<Column, (row: PatreonRow) => string> = {
  name: (r) => r.name ?? '',
  email: (r) => r.email,
  status: (r) => STATUS_TEXT[r.status],
  freeMember: (r) => (r.freeMember ? 'Yes' : 'No'),
  lifetimeAmount: (r) => amountText(r.lifetimeAmount, r.currency),
  pledgeAmount: (r) => amountText(r.pledgeAmount, r.currency),
  chargeFrequency: (r) => r.chargeFrequency ?? '',
  tier: (r) => r.tier ?? '',
  patronSince: (r) => dateText(r.patronSince),
  lastChargeDate: (r) => dateText(r.lastChargeDate),
  lastChargeStatus: (r) => r.lastChargeStatus ?? '',
  userId: (r) => r.patreonUserId ?? '',
  lastUpdated: (r) => dateText(r.lastUpdated),
  currency: (r) => r.currency?.toUpperCase() ?? '',
  accessExpiration: (r) => dateText(r.accessExpiration),
  nextChargeDate: (r) => dateText(r.nextChargeDate),
}

/** A read row's cells, in `COLUMNS` order. */
export const rowCells = (row: PatreonRow): string[] => COLUMN_KEYS.map((column) => CELL[column](row))

/** One line of the download: the row's cells, then why it was rejected. */
type RejectedLine = string[]

const COLUMNS_OUT: CsvColumn<RejectedLine>[] = [
  ...COLUMN_KEYS.map((column, i) => ({ header: COLUMNS[column], value: (line: RejectedLine) => line[i] })),
  { header: 'reason', value: (line: RejectedLine) => line[COLUMN_KEYS.length] },
]

/**
 * Every rejected row of a preview under `mapping`, in line order (the preview lists at most
 * REJECTED_LISTED; this has them all), planned a part at a time as the preview page plans them.
 */
export async function rejectedLines(
  db: Database,
  keyring: Keyring,
  config: Pick<Config, 'PAST_DUE_GRACE_DAYS'>,
  batchId: string,
  mapping: TierMapping,
  now: Date,
): Promise<RejectedLine[]> {
  const lines: RejectedLine[] = []
  for await (const part of previewParts(db, keyring, batchId)) {
    const plan = await planImport(db, keyring, config, part.rows, part.rejected, mapping, now)
    const byLine = new Map(part.rows.map((row) => [row.line, row]))
    for (const rejected of plan.rejected) {
      const row = byLine.get(rejected.line)
      const cells = rejected.cells ?? (row ? rowCells(row) : COLUMN_KEYS.map(() => ''))
      lines.push([...cells, rejected.reason])
    }
  }
  return lines
}

/** The download, formula-safe (csvStream neutralizes every text cell), with a byte order mark for Excel. */
export const rejectedCsv = (lines: RejectedLine[]) =>
  csvStream(
    COLUMNS_OUT,
    (async function* () {
      yield lines
    })(),
  )

// ---------------------------------------------------------------- Ghost

/** Ghost's own way of writing a row's cells back: the columns Masthead reads, under Ghost's names. */
const ghostCells = (row: GhostRow): string[] => [
  row.email,
  row.name ?? '',
  row.comp ? 'true' : 'false',
  row.stripeCustomerId ?? '',
  row.createdAt?.toISOString() ?? '',
  row.tiers.join(', '),
]

const GHOST_COLUMNS_OUT: CsvColumn<RejectedLine>[] = [
  ...GHOST_CELL_HEADERS.map((header, i) => ({ header, value: (line: RejectedLine) => line[i] })),
  { header: 'reason', value: (line: RejectedLine) => line[GHOST_CELL_HEADERS.length] },
]

/**
 * Every rejected row of a Ghost preview under `mapping`, in line order: a row the reader refused
 * with its cells as they were in the file, a row the plan refused (a comp's tier not mapped, its
 * customer linked to another account) written back from what was read. Ghost's `note`, `labels`,
 * `subscribed_to_emails` and member id were never read, so they are not in it.
 */
export async function ghostRejectedLines(
  db: Database,
  keyring: Keyring,
  batchId: string,
  catalog: readonly TierCatalogEntry[],
  mapping: PriceMapping,
  now: Date,
): Promise<RejectedLine[]> {
  const lines: RejectedLine[] = []
  for await (const part of ghostPreviewParts(db, keyring, batchId)) {
    const plan = await planGhostImport(db, keyring, catalog, part.rows, part.rejected, mapping, now)
    const byLine = new Map(part.rows.map((row) => [row.line, row]))
    for (const rejected of plan.rejected) {
      const row = byLine.get(rejected.line)
      const cells = rejected.cells ?? (row ? ghostCells(row) : GHOST_CELL_HEADERS.map(() => ''))
      lines.push([...cells, rejected.reason])
    }
  }
  return lines
}

/** The Ghost download, formula-safe, as `rejectedCsv`. */
export const ghostRejectedCsv = (lines: RejectedLine[]) =>
  csvStream(
    GHOST_COLUMNS_OUT,
    (async function* () {
      yield lines
    })(),
  )
