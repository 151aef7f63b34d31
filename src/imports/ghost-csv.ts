import { csvRecords, failsOnce, type CsvProblem } from './csv-records'
import type { RejectedRow } from './patreon-csv'

/**
 * Reads the members CSV Ghost exports (Members → Export), so its members can become Masthead
 * accounts. Pure: no database, no clock. A problem with the whole file throws `GhostCsvError`; a
 * problem with one row rejects it with its line.
 *
 * Only the columns in `COLUMNS` are read. Ghost's `note` and `labels` (an editor's free text and
 * tags, which can say anything about a person), `subscribed_to_emails` and Ghost's member `id` are
 * never looked at, so they cannot be stored or logged by whatever imports the rows.
 */

export interface GhostRow {
  /** 1-based line where the record starts (the header is line 1). */
  line: number
  /** Trimmed, lower-cased and checked. */
  email: string
  name: string | null
  /** `complimentary_plan` true: a comp of `tiers`' tier. */
  comp: boolean
  /** The Ghost tier names of the member (`tiers`, or `products` in older exports). */
  tiers: string[]
  /** `cus_…`: the Stripe customer whose live subscriptions become the member's membership. */
  stripeCustomerId: string | null
  /** When the member joined Ghost: the new account's creation date. */
  createdAt: Date | null
}

export type { RejectedRow }

/** The file as a whole cannot be imported; the message says why, for a person. */
export class GhostCsvError extends Error {
  override name = 'GhostCsvError'
}

export const GHOST_IMPORT_LIMITS = { maxBytes: 20 * 1024 * 1024, maxRows: 200_000 }
export type GhostImportLimits = typeof GHOST_IMPORT_LIMITS

/** `current`: a `tiers` column (Ghost 5); `older`: `products` (Ghost 4). */
export type GhostVariant = 'current' | 'older'

const COLUMNS = {
  email: 'email',
  name: 'name',
  comp: 'complimentary_plan',
  stripeCustomerId: 'stripe_customer_id',
  createdAt: 'created_at',
  deletedAt: 'deleted_at',
  tiers: 'tiers',
  products: 'products',
} as const
type Column = keyof typeof COLUMNS
/**
 * The columns a rejected row's cells are kept of (`keepRejectedCells`), in this order, under these
 * headers: what Masthead reads, for the download of the rejected rows (src/imports/rejected-csv.ts).
 */
const CELL_COLUMNS = ['email', 'name', 'comp', 'stripeCustomerId', 'createdAt', 'tiers'] as const
export const GHOST_CELL_HEADERS = CELL_COLUMNS.map((column) => COLUMNS[column])

/** `keepRejectedCells` keeps a rejected row's cells (`RejectedRow.cells`, `GHOST_CELL_HEADERS` order). */
export interface GhostReaderOptions {
  keepRejectedCells?: boolean
}
const REQUIRED: Column[] = ['email', 'name', 'comp', 'stripeCustomerId', 'createdAt', 'deletedAt']

export interface GhostBatch {
  rows: GhostRow[]
  rejected: RejectedRow[]
  /** Members deleted in Ghost (deleted_at set): not imported. */
  deleted: number
}

export interface GhostReader {
  push(bytes: Uint8Array): GhostBatch
  end(): GhostBatch & { variant: GhostVariant; total: number }
}

/**
 * Reads an export as its bytes arrive, holding no more of it than the record being read (and the
 * addresses seen, to find repeats). A file-level problem (not UTF-8, too big, too many rows, not a
 * Ghost export, broken quoting, empty) is thrown as soon as it shows, and again on every later call.
 */
export function createGhostReader(
  limits: GhostImportLimits = GHOST_IMPORT_LIMITS,
  options: GhostReaderOptions = {},
): GhostReader {
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
  let started = false
  let bytesRead = 0
  let columns: Map<Column, number> | null = null
  let dataRows = 0
  let done: GhostBatch = { rows: [], rejected: [], deleted: 0 }
  const firstLineOfEmail = new Map<string, number>()

  const records = csvRecords((record, line) => {
    if (columns === null) {
      columns = locateColumns(record)
      return
    }
    if (record.every((field) => field.trim() === '')) return
    dataRows++
    if (dataRows > limits.maxRows) {
      throw new GhostCsvError(`The file has more than ${count(limits.maxRows)} members, the most one import can take.`)
    }
    const at = columns
    const cell = (column: Column) => record[at.get(column) ?? -1]?.trim() ?? ''
    if (cell('deletedAt') !== '') {
      done.deleted++
      return
    }
    const tierColumn = at.has('tiers') ? 'tiers' : 'products'
    const read = readRow(cell, line, firstLineOfEmail, tierColumn)
    if ('reason' in read) {
      const cells = options.keepRejectedCells
        ? CELL_COLUMNS.map((column) => cell(column === 'tiers' ? tierColumn : column))
        : undefined
      done.rejected.push(cells ? { line, reason: read.reason, cells } : { line, reason: read.reason })
    } else done.rows.push(read)
  }, csvProblem)

  const decode = (bytes: Uint8Array | null) => {
    let text: string
    try {
      text = bytes === null ? decoder.decode() : decoder.decode(bytes, { stream: true })
    } catch {
      throw new GhostCsvError(
        'The file is not UTF-8 text. Export the members again from Ghost and upload that file as it is.',
      )
    }
    if (!started && text !== '') {
      started = true
      if (text.startsWith('\uFEFF')) text = text.slice(1)
    }
    records.write(text)
  }
  const completed = () => {
    const batch = done
    done = { rows: [], rejected: [], deleted: 0 }
    return batch
  }
  const guarded = failsOnce()
  return {
    push: (bytes) =>
      guarded(() => {
        bytesRead += bytes.byteLength
        if (bytesRead > limits.maxBytes) {
          throw new GhostCsvError(`The file is too big: one import can take at most ${size(limits.maxBytes)}.`)
        }
        decode(bytes)
        return completed()
      }),
    end: () =>
      guarded(() => {
        decode(null)
        records.end()
        if (columns === null) throw new GhostCsvError('The file is empty.')
        if (dataRows === 0) throw new GhostCsvError('The file has a header but no members.')
        const variant: GhostVariant = columns.has('tiers') ? 'current' : 'older'
        return { ...completed(), variant, total: dataRows }
      }),
  }
}

/** Reads a whole export at once (the command line). */
export function parseGhostCsv(input: Uint8Array | string, limits = GHOST_IMPORT_LIMITS) {
  if (typeof input === 'string' && input.length > limits.maxBytes) {
    throw new GhostCsvError(`The file is too big: one import can take at most ${size(limits.maxBytes)}.`)
  }
  const reader = createGhostReader(limits)
  const first = reader.push(typeof input === 'string' ? new TextEncoder().encode(input) : input)
  const last = reader.end()
  return {
    variant: last.variant,
    total: last.total,
    rows: [...first.rows, ...last.rows],
    rejected: [...first.rejected, ...last.rejected],
    deleted: first.deleted + last.deleted,
  }
}

const PIECE_BYTES = 64 * 1024
const BATCH_ROWS = 1000

/**
 * Reads an export from a stream, handing on its rows about a thousand at a time, reading on only
 * once `onRows` is done with a batch. On any error the stream is cancelled and the error thrown.
 */
export async function readGhostStream(
  stream: ReadableStream<Uint8Array>,
  onRows: (batch: GhostBatch) => Promise<void>,
  limits = GHOST_IMPORT_LIMITS,
  options: GhostReaderOptions = {},
): Promise<{ variant: GhostVariant; total: number; deleted: number }> {
  const reader = createGhostReader(limits, options)
  const source = stream.getReader()
  let pending: GhostBatch = { rows: [], rejected: [], deleted: 0 }
  let deleted = 0
  const take = (batch: GhostBatch) => {
    pending.rows.push(...batch.rows)
    pending.rejected.push(...batch.rejected)
    pending.deleted += batch.deleted
    deleted += batch.deleted
  }
  const handOn = async (atLeast: number) => {
    if (pending.rows.length + pending.rejected.length < Math.max(atLeast, 1)) return
    const batch = pending
    pending = { rows: [], rejected: [], deleted: 0 }
    await onRows(batch)
  }
  try {
    for (let next = await source.read(); !next.done; next = await source.read()) {
      for (let offset = 0; offset < next.value.byteLength; offset += PIECE_BYTES) {
        take(reader.push(next.value.subarray(offset, offset + PIECE_BYTES)))
        await handOn(BATCH_ROWS)
      }
    }
    const last = reader.end()
    take(last)
    await handOn(1)
    return { variant: last.variant, total: last.total, deleted }
  } catch (error) {
    await source.cancel(error).catch(() => {})
    throw error
  }
}

function locateColumns(header: string[]): Map<Column, number> {
  const indexOfName = new Map<string, number>()
  header.forEach((name, index) => {
    const key = name.trim().toLowerCase()
    if (!indexOfName.has(key)) indexOfName.set(key, index)
  })
  const located = new Map<Column, number>()
  for (const [column, name] of Object.entries(COLUMNS) as [Column, string][]) {
    const index = indexOfName.get(name)
    if (index !== undefined) located.set(column, index)
  }
  const missing: string[] = REQUIRED.filter((column) => !located.has(column)).map((column) => COLUMNS[column])
  if (!located.has('tiers') && !located.has('products')) missing.push('tiers (or products)')
  if (missing.length > 0) {
    throw new GhostCsvError(
      `This is not a Ghost members export: the ${missing.length === 1 ? 'column' : 'columns'} ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing.`,
    )
  }
  return located
}

function csvProblem(problem: CsvProblem, line: number): GhostCsvError {
  const where = `the row starting on line ${line}`
  return new GhostCsvError(
    problem === 'quote never closed'
      ? `The file is not valid CSV: a quoted field in ${where} is never closed. Export it again from Ghost and upload it unedited.`
      : `The file is not valid CSV: ${where} has a quote (") in the middle of a field. Export it again from Ghost and upload it unedited.`,
  )
}

// eslint-disable-next-line no-control-regex -- control characters are what it finds
const CONTROL = /[\u0000-\u001f\u007f]/
const CUSTOMER = /^cus_[A-Za-z0-9]{1,250}$/

function readRow(
  cell: (column: Column) => string,
  line: number,
  firstLineOfEmail: Map<string, number>,
  tierColumn: 'tiers' | 'products',
): GhostRow | { reason: string } {
  const problems: string[] = []
  const email = cell('email').toLowerCase()
  const [local, domain, ...rest] = email.split('@')
  if (email === '') problems.push('The row has no e-mail address.')
  else if (
    rest.length > 0 ||
    !local ||
    domain === undefined ||
    !/^[^.]+(\.[^.]+)+$/.test(domain) ||
    /\s/.test(email) ||
    CONTROL.test(email) ||
    email.length > 254
  ) {
    problems.push('The e-mail address is not valid.')
  } else {
    const first = firstLineOfEmail.get(email)
    if (first === undefined) firstLineOfEmail.set(email, line)
    else problems.push(`The e-mail address already appears on line ${first}.`)
  }
  const name = cell('name')
  if (CONTROL.test(name)) problems.push('The name holds a control character (such as NUL or a line break).')
  const compText = cell('comp').toLowerCase()
  const comp = compText === 'true' || compText === '1' || compText === 'yes'
  if (!comp && !['', 'false', '0', 'no'].includes(compText)) {
    problems.push(`The complimentary_plan value "${cell('comp')}" should be true or false.`)
  }
  const customer = cell('stripeCustomerId')
  if (customer !== '' && !CUSTOMER.test(customer)) {
    problems.push(`The stripe_customer_id "${customer}" is not a Stripe customer id (cus_…).`)
  }
  const createdText = cell('createdAt')
  const createdAt = createdText === '' ? null : new Date(createdText)
  if (createdAt !== null && (!/^\d{4}-\d{2}-\d{2}/.test(createdText) || Number.isNaN(createdAt.getTime()))) {
    problems.push(`The created_at "${createdText}" is not a date like 2024-03-01T10:20:30.000Z.`)
  }
  const tiers = cell(tierColumn)
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '')
  if (problems.length > 0) return { reason: problems.join(' ') }
  return {
    line,
    email,
    name: name || null,
    comp,
    tiers,
    stripeCustomerId: customer || null,
    createdAt,
  }
}

const count = (n: number) => n.toLocaleString('en')
const size = (bytes: number) => `${bytes / (1024 * 1024)} MB`
