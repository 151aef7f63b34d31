import { parseMajorUnits } from '../util/money'
import { csvRecords, failsOnce, type CsvProblem } from './csv-records'

/**
 * Reads the "members" CSV a Patreon creator exports, so their patrons can become Masthead members.
 *
 * Pure: no database, no clock. A problem with the whole file throws `PatreonCsvError`; a problem with
 * one row puts it in `rejected` with its line, so the person importing can fix the export and the
 * other rows still go through.
 *
 * Only the columns in `COLUMNS` are ever read. Address, phone, Discord, Twitter and "Additional
 * Details" are in the export but Masthead has no use for them, so they never enter the result and
 * cannot end up stored or logged by whatever imports it.
 */

export type PatronStatus = 'active' | 'declined' | 'former' | 'none' // none: a follower or free member

export interface PatreonRow {
  /** 1-based line where the record starts in the file (the header is line 1). */
  line: number
  name: string | null
  /** Trimmed, lowercased and checked. */
  email: string
  status: PatronStatus
  freeMember: boolean
  tier: string | null
  /** Minor units of `currency`. */
  pledgeAmount: number | null
  lifetimeAmount: number | null
  /** Lowercase ISO 4217 code. */
  currency: string | null
  chargeFrequency: string | null
  patronSince: Date | null
  lastChargeDate: Date | null
  lastChargeStatus: string | null
  nextChargeDate: Date | null
  accessExpiration: Date | null
  lastUpdated: Date | null
  patreonUserId: string | null
}

/**
 * A row left out of `rows`; `reason` is written for the person who uploaded the file. It names
 * the line, never the patron's address or name: commands print it to a terminal.
 */
export interface RejectedRow {
  line: number
  reason: string
  /**
   * The row's cells of the columns Masthead reads, in `COLUMNS` order, as they were in the file: kept
   * only when the reader is asked to (`keepRejectedCells`), for the download of the rejected rows.
   */
  cells?: string[]
}

/** Options of a reader: `keepRejectedCells` keeps a rejected row's cells (`RejectedRow.cells`). */
export interface PatreonReaderOptions {
  keepRejectedCells?: boolean
}

export interface PatreonParseResult {
  variant: 'current' | 'older'
  rows: PatreonRow[]
  rejected: RejectedRow[]
}

/** The file as a whole cannot be imported; the message says why, for a person. */
export class PatreonCsvError extends Error {
  override name = 'PatreonCsvError'
}

export interface PatreonImportLimits {
  maxBytes: number
  maxRows: number
}

export const PATREON_IMPORT_LIMITS: PatreonImportLimits = { maxBytes: 20 * 1024 * 1024, maxRows: 200_000 }

/** The columns Masthead reads, by Patreon's header name. Anything not listed here is never looked at. */
export const COLUMNS = {
  name: 'Name',
  email: 'Email',
  status: 'Patron Status',
  freeMember: 'Free Member',
  lifetimeAmount: 'Lifetime Amount',
  pledgeAmount: 'Pledge Amount',
  chargeFrequency: 'Charge Frequency',
  tier: 'Tier',
  patronSince: 'Patronage Since Date',
  lastChargeDate: 'Last Charge Date',
  lastChargeStatus: 'Last Charge Status',
  userId: 'User ID',
  lastUpdated: 'Last Updated',
  currency: 'Currency',
  accessExpiration: 'Access Expiration',
  nextChargeDate: 'Next Charge Date',
} as const
export type Column = keyof typeof COLUMNS

export const COLUMN_KEYS = Object.keys(COLUMNS) as Column[]

/** Present in both variants of the export; a file without them is something else. */
const REQUIRED: Column[] = [
  'name',
  'email',
  'status',
  'lifetimeAmount',
  'pledgeAmount',
  'tier',
  'patronSince',
  'userId',
  'currency',
]

const STATUSES: Record<string, PatronStatus> = {
  'active patron': 'active',
  'declined patron': 'declined',
  'former patron': 'former',
  '': 'none',
}

/**
 * Reads a members export, given as the uploaded bytes or as text, all at once. The variant is told
 * apart by the Free Member column: it is the one difference between the two layouts that changes
 * what a row means.
 */
export function parsePatreonCsv(input: Uint8Array | string, limits = PATREON_IMPORT_LIMITS): PatreonParseResult {
  // A string is never longer in UTF-16 units than in UTF-8 bytes, so this refuses a huge string before copying it.
  if (typeof input === 'string' && input.length > limits.maxBytes) throw tooBig(limits.maxBytes)
  const reader = patreonReader(limits, { countEveryRow: true })
  const first = reader.push(typeof input === 'string' ? new TextEncoder().encode(input) : input)
  const last = reader.end()
  return {
    variant: last.variant,
    rows: [...first.rows, ...last.rows],
    rejected: [...first.rejected, ...last.rejected],
  }
}

export interface PatreonReader {
  /** Feeds the next bytes; returns the rows and rejected rows completed by them. */
  push(bytes: Uint8Array): { rows: PatreonRow[]; rejected: RejectedRow[] }
  /** The end of the file: the last rows, and the file's variant; throws PatreonCsvError for a file-level problem. */
  end(): { rows: PatreonRow[]; rejected: RejectedRow[]; variant: 'current' | 'older'; total: number }
}

/**
 * Reads an export as its bytes arrive, holding no more of it than the record being read (and the
 * addresses seen, to find repeats). A file-level problem is thrown as soon as it shows: by `push`
 * for bytes that are not UTF-8, a file over the size limit, missing columns, broken quoting or one
 * row more than the limit; by `end` for an empty file or one with a header and no rows. Once it has
 * thrown, it throws the same error again.
 */
export function createPatreonReader(limits = PATREON_IMPORT_LIMITS, options: PatreonReaderOptions = {}): PatreonReader {
  return patreonReader(limits, { ...options, countEveryRow: false })
}

/** How much of a chunk is read before its rows are handed on, so that a batch stays near its size. */
const STREAM_PIECE_BYTES = 64 * 1024
const STREAM_BATCH_ROWS = 1000

/**
 * Reads an export from a stream, handing on its rows in batches of about a thousand as they are
 * completed, and reading on only once `onRows` has finished with a batch. On any error (the
 * file's, the stream's or `onRows`'s) the stream is cancelled and the error thrown.
 */
export async function readPatreonStream(
  stream: ReadableStream<Uint8Array>,
  onRows: (rows: PatreonRow[], rejected: RejectedRow[]) => Promise<void>,
  limits = PATREON_IMPORT_LIMITS,
  options: PatreonReaderOptions = {},
): Promise<{ variant: 'current' | 'older'; total: number; rows: number; rejected: number }> {
  const reader = createPatreonReader(limits, options)
  const source = stream.getReader()
  const counts = { rows: 0, rejected: 0 }
  let rows: PatreonRow[] = []
  let rejected: RejectedRow[] = []
  const handOn = async (atLeast: number) => {
    if (rows.length + rejected.length < Math.max(atLeast, 1)) return
    const batch = { rows, rejected }
    rows = []
    rejected = []
    counts.rows += batch.rows.length
    counts.rejected += batch.rejected.length
    await onRows(batch.rows, batch.rejected)
  }
  const take = (read: { rows: PatreonRow[]; rejected: RejectedRow[] }) => {
    for (const row of read.rows) rows.push(row)
    for (const row of read.rejected) rejected.push(row)
  }
  try {
    for (let next = await source.read(); !next.done; next = await source.read()) {
      for (let offset = 0; offset < next.value.byteLength; offset += STREAM_PIECE_BYTES) {
        take(reader.push(next.value.subarray(offset, offset + STREAM_PIECE_BYTES)))
        await handOn(STREAM_BATCH_ROWS)
      }
    }
    const last = reader.end()
    take(last)
    await handOn(1)
    return { variant: last.variant, total: last.total, ...counts }
  } catch (error) {
    await source.cancel(error).catch(() => {})
    throw error
  }
}

function patreonReader(
  limits: PatreonImportLimits,
  options: PatreonReaderOptions & { countEveryRow: boolean },
): PatreonReader {
  // fatal: bytes that are not UTF-8 throw rather than turn into U+FFFD. The byte order mark is
  // dropped here rather than by the decoder: Node's drops a second one too when the first arrives
  // in two pieces.
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
  let started = false
  const firstLineOfEmail = new Map<string, number>()
  let bytesRead = 0
  let hasText = false // anything but whitespace so far: until then the file may yet be empty
  let header: string[] | null = null
  let columns: Map<Column, number> | null = null
  let dataRows = 0
  let done: { rows: PatreonRow[]; rejected: RejectedRow[] } = { rows: [], rejected: [] }

  const records = csvRecords((record, line) => {
    if (header === null) {
      header = record
      // A blank header is "missing every column", unless the whole file turns out to be blank.
      if (hasText) columns = locateColumns(header)
      return
    }
    if (isBlank(record)) return
    dataRows++
    if (dataRows > limits.maxRows) {
      if (options.countEveryRow) return
      throw new PatreonCsvError(
        `The file has more than ${formatCount(limits.maxRows)} rows, the most one import can take.`,
      )
    }
    // Located by now: the first text read has the header checked (in read(), below).
    const at = columns!
    const cell = (column: Column) => record[at.get(column) ?? -1]?.trim() ?? ''
    const read = readRow(cell, line, firstLineOfEmail)
    if ('reason' in read) {
      const cells = options.keepRejectedCells ? COLUMN_KEYS.map((column) => cell(column)) : undefined
      done.rejected.push(cells ? { line, reason: read.reason, cells } : { line, reason: read.reason })
    } else done.rows.push(read)
  }, csvProblem)

  const read = (bytes: Uint8Array | null) => {
    let text: string
    try {
      text = bytes === null ? decoder.decode() : decoder.decode(bytes, { stream: true })
    } catch {
      throw new PatreonCsvError(
        'The file is not UTF-8 text, so names could come out garbled. Export it again from Patreon and upload ' +
          'that file as it is, or save it from your spreadsheet as "CSV UTF-8".',
      )
    }
    if (!started && text !== '') {
      started = true
      if (text.startsWith('\uFEFF')) text = text.slice(1)
    }
    if (!hasText && /\S/.test(text)) {
      hasText = true
      if (header !== null) columns = locateColumns(header)
    }
    records.write(text)
  }
  const completed = () => {
    const batch = done
    done = { rows: [], rejected: [] }
    return batch
  }
  const guarded = failsOnce()

  return {
    push: (bytes) =>
      guarded(() => {
        bytesRead += bytes.byteLength
        if (bytesRead > limits.maxBytes) throw tooBig(limits.maxBytes)
        read(bytes)
        return completed()
      }),
    end: () =>
      guarded(() => {
        read(null)
        records.end()
        if (!hasText || columns === null) throw new PatreonCsvError('The file is empty.')
        if (dataRows === 0) throw new PatreonCsvError('The file has a header but no rows.')
        if (dataRows > limits.maxRows) {
          throw new PatreonCsvError(
            `The file has ${formatCount(dataRows)} rows, more than the ${formatCount(limits.maxRows)} one import can take.`,
          )
        }
        return { ...completed(), variant: columns.has('freeMember') ? 'current' : 'older', total: dataRows }
      }),
  }
}

function tooBig(maxBytes: number): PatreonCsvError {
  return new PatreonCsvError(`The file is too big: one import can take at most ${formatSize(maxBytes)}.`)
}

/** A syntax error of the file as CSV, in words, naming the line its record starts on. */
function csvProblem(problem: CsvProblem, line: number): PatreonCsvError {
  const where = `the row starting on line ${line}`
  return new PatreonCsvError(
    problem === 'quote never closed'
      ? `The file is not valid CSV: a quoted field in ${where} is never closed. ${CSV_ADVICE}`
      : `The file is not valid CSV: ${where} has a quote (") in the middle of a field. ${CSV_ADVICE}`,
  )
}

const CSV_ADVICE = 'Export it again from Patreon and upload that file without editing it.'

/** Where each column Masthead reads sits, matched by name: Patreon has added and moved columns before. */
function locateColumns(header: string[]): Map<Column, number> {
  const indexOfName = new Map<string, number>()
  header.forEach((name, index) => {
    const key = name.trim().toLowerCase()
    if (!indexOfName.has(key)) indexOfName.set(key, index)
  })
  const located = new Map<Column, number>()
  for (const [column, name] of Object.entries(COLUMNS) as [Column, string][]) {
    const index = indexOfName.get(name.toLowerCase())
    if (index !== undefined) located.set(column, index)
  }
  const missing = REQUIRED.filter((column) => !located.has(column)).map((column) => COLUMNS[column])
  if (missing.length === 1) {
    throw new PatreonCsvError(`This is not a Patreon members export: the column ${missing[0]} is missing.`)
  }
  if (missing.length > 1) {
    throw new PatreonCsvError(`This is not a Patreon members export: the columns ${missing.join(', ')} are missing.`)
  }
  return located
}

// eslint-disable-next-line no-control-regex -- control characters are what it finds
const CONTROL = /[\u0000-\u001f\u007f]/

/** One data record as a row, or every reason it cannot be imported. */
function readRow(
  cell: (column: Column) => string,
  line: number,
  firstLineOfEmail: Map<string, number>,
): PatreonRow | { reason: string } {
  const problems: string[] = []
  const email = readEmail(cell('email'), problems)
  if (email !== null) {
    const firstLine = firstLineOfEmail.get(email)
    if (firstLine === undefined) firstLineOfEmail.set(email, line)
    else problems.push(`The e-mail address already appears on line ${firstLine}.`)
  }
  const status = STATUSES[cell('status').toLowerCase()]
  if (status === undefined) {
    problems.push(
      `The Patron Status "${cell('status')}" is not one Patreon uses (Active patron, Declined patron, ` +
        'Former patron, or empty).',
    )
  }
  const name = cell('name')
  // A control character (NUL, a line break) is no part of a name: a damaged cell, refused rather
  // than stored and later written into mail and exports.
  if (CONTROL.test(name)) problems.push('The name holds a control character (such as NUL or a line break).')
  // Amounts are in the row's currency's decimals (¥1000, $5.00); a row without one is in dollars.
  const amountCurrency = /^[a-z]{3}$/i.test(cell('currency')) ? cell('currency').toLowerCase() : 'usd'
  const row = {
    line,
    name: name || null,
    email: email ?? '',
    status: status ?? 'none',
    freeMember: readFreeMember(cell('freeMember'), status === 'none', problems),
    tier: cell('tier') || null,
    pledgeAmount: readAmount(COLUMNS.pledgeAmount, cell('pledgeAmount'), amountCurrency, problems),
    lifetimeAmount: readAmount(COLUMNS.lifetimeAmount, cell('lifetimeAmount'), amountCurrency, problems),
    currency: readCurrency(cell('currency'), problems),
    chargeFrequency: cell('chargeFrequency').toLowerCase() || null,
    patronSince: readDate(COLUMNS.patronSince, cell('patronSince'), problems),
    lastChargeDate: readDate(COLUMNS.lastChargeDate, cell('lastChargeDate'), problems),
    lastChargeStatus: cell('lastChargeStatus') || null,
    nextChargeDate: readDate(COLUMNS.nextChargeDate, cell('nextChargeDate'), problems),
    accessExpiration: readDate(COLUMNS.accessExpiration, cell('accessExpiration'), problems),
    lastUpdated: readDate(COLUMNS.lastUpdated, cell('lastUpdated'), problems),
    patreonUserId: cell('userId') || null,
  }
  return problems.length > 0 ? { reason: problems.join(' ') } : row
}

/** Deliberately loose: Patreon has already checked the address; this only catches damaged cells. */
function readEmail(text: string, problems: string[]): string | null {
  const email = text.toLowerCase()
  if (email === '') {
    problems.push('The row has no e-mail address.')
    return null
  }
  const [local, domain, ...rest] = email.split('@')
  const domainOk = domain !== undefined && /^[^.]+(\.[^.]+)+$/.test(domain)
  if (rest.length > 0 || !local || !domainOk || /\s/.test(email) || CONTROL.test(email) || email.length > 254) {
    problems.push('The e-mail address is not valid.')
    return null
  }
  return email
}

/** The current export says "Yes"/"No"; the older one has no such column, where an empty status means free. */
function readFreeMember(text: string, statusIsNone: boolean, problems: string[]): boolean {
  const value = text.toLowerCase()
  if (value === '') return statusIsNone
  if (['yes', 'true', '1'].includes(value)) return true
  if (['no', 'false', '0'].includes(value)) return false
  problems.push(`The Free Member value "${text}" should be Yes or No.`)
  return false
}

function readAmount(column: string, text: string, currency: string, problems: string[]): number | null {
  if (text === '') return null
  if (text.startsWith('-')) {
    problems.push(`The ${column} "${text}" is negative.`)
    return null
  }
  const parsed = parseMajorUnits(text, currency)
  if (parsed.ok) return parsed.amount
  const hint = parsed.message.charAt(0).toLowerCase() + parsed.message.slice(1)
  problems.push(`The ${column} "${text}" is not an amount Masthead can read: ${hint}`)
  return null
}

function readCurrency(text: string, problems: string[]): string | null {
  if (text === '') return null
  if (/^[a-z]{3}$/i.test(text)) return text.toLowerCase()
  problems.push(`The Currency "${text}" is not a three-letter code like USD.`)
  return null
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2}))?$/

/** Patreon writes "2026-08-10 13:37:12" with no zone; its exports are in UTC. */
function readDate(column: string, text: string, problems: string[]): Date | null {
  if (text === '') return null
  const parts = DATE.exec(text)
    ?.slice(1)
    .map((part) => Number(part ?? 0))
  if (parts) {
    const [year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0] = parts
    const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second))
    // Date.UTC rolls 2026-02-30 over to March 2; reading the parts back refuses it instead.
    const asWritten = [year, month - 1, day, hour, minute, second].join()
    const asRead = [
      date.getUTCFullYear(),
      date.getUTCMonth(),
      date.getUTCDate(),
      date.getUTCHours(),
      date.getUTCMinutes(),
      date.getUTCSeconds(),
    ].join()
    if (asWritten === asRead) return date
  }
  problems.push(`The ${column} "${text}" is not a date like 2026-08-10 13:37:12.`)
  return null
}

function isBlank(record: string[]): boolean {
  return record.every((field) => field.trim() === '')
}

function formatCount(n: number): string {
  return n.toLocaleString('en')
}

function formatSize(bytes: number): string {
  const megabytes = bytes / (1024 * 1024)
  return Number.isInteger(megabytes) ? `${megabytes} MB` : `${formatCount(bytes)} bytes`
}
