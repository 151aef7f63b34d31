/**
 * CSV exports of supporter lists, streamed so an export of any size uses the memory of one batch.
 * Web streams only (no node:stream), so the same code runs on Workers and Node:
 * `new Response(csvStream(columns, batches), { headers: { 'Content-Type': 'text/csv; charset=utf-8' } })`.
 */

export type CsvCell = string | number | Date | null | undefined

export type CsvColumn<T> = { header: string; value: (row: T) => CsvCell }

// Excel reads a CSV without a byte order mark in the system's legacy code page, turning
// "Zoë" into "ZoÃ«"; with the BOM it reads UTF-8. Other tools (csv-parse with `bom: true`,
// LibreOffice, Google Sheets) skip it.
const UTF8_BOM = '\uFEFF'

// RFC 4180: CRLF line endings, and a cell quoted only when it must be (a comma, a quote, CR or
// LF), its quotes doubled.
const LINE_END = '\r\n'
const NEEDS_QUOTES = /[",\r\n]/

const FORMULA_TRIGGER = /^[=+\-@\t\r\n]/

/**
 * Stops a cell from being run as a formula (OWASP "CSV injection"). Spreadsheets treat a cell
 * starting with =, +, - or @ as a formula, so a supporter named `=HYPERLINK("https://evil…")`
 * or `@SUM(…)+cmd|…` would run in the staff member's spreadsheet when they open the export; a
 * leading tab, carriage return or line feed can hide such a prefix from a trimming importer. A
 * leading single quote makes the spreadsheet show the cell as text, and it stays visible, so
 * nothing is silently changed. A line break inside a cell cannot start a row of its own: every
 * cell holding one is quoted (`quoted`), so the spreadsheet reads the whole cell as one value.
 */
export function neutralizeCell(value: string): string {
  return FORMULA_TRIGGER.test(value) ? `'${value}` : value
}

/**
 * One cell as text. Numbers are written as they are, even negative ones: -5 comes from our own
 * numeric data, and a spreadsheet reads "-5" as the number it is, never as a formula. A string
 * "-5" came from a person and is neutralized like any other string, since only strings can
 * carry "-1+cmd|…". Non-finite numbers are not numbers a spreadsheet knows, so they are treated
 * as text.
 */
function formatCell(value: CsvCell): string {
  if (value === null || value === undefined) return ''
  if (value instanceof Date) return value.toISOString()
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : quoted(neutralizeCell(String(value)))
  return quoted(neutralizeCell(value))
}

const quoted = (text: string) => (NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text)

/**
 * Rows as CSV lines, written straight into one string: an export writes 100,000 rows, and a
 * general-purpose stringifier's array of cells per row and options handling per cell cost more
 * than the database read (BENCHMARKS.md, supporters).
 */
function csvLines<T>(columns: readonly CsvColumn<T>[], rows: readonly T[]): string {
  let text = ''
  for (const row of rows) {
    for (let i = 0; i < columns.length; i++) {
      if (i > 0) text += ','
      text += formatCell(columns[i]!.value(row))
    }
    text += LINE_END
  }
  return text
}

/**
 * A CSV file as a byte stream: BOM, header line, then one line per row, from batches of rows
 * (e.g. a database cursor). Pull-based: a batch is fetched only when the consumer has read what
 * came before (with the default one-chunk queue, at most one batch ahead), so a slow download
 * holds back the database rather than filling memory.
 *
 * If the batches fail, the stream errors instead of ending, so a cut-short export is never
 * mistaken for a complete one. If the consumer cancels (the download is aborted), the iterator's
 * `return()` is called so the cursor behind it closes.
 */
export function csvStream<T>(columns: CsvColumn<T>[], rows: AsyncIterable<T[]>): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder()
  // Opened on the first pull, so a stream that is never read never opens a cursor.
  let batches: AsyncIterator<T[]> | undefined

  const closeBatches = async () => {
    await batches?.return?.()
  }

  return new ReadableStream<Uint8Array>({
    start(controller) {
      const header = columns.map((column) => quoted(column.header)).join(',')
      controller.enqueue(encoder.encode(UTF8_BOM + header + LINE_END))
    },

    async pull(controller) {
      batches ??= rows[Symbol.asyncIterator]()
      try {
        // An empty batch enqueues nothing, and the stream would not call pull() again for a
        // reader already waiting, so keep going until there is something to give it.
        for (;;) {
          const next = await batches.next()
          if (next.done) return controller.close()
          if (next.value.length === 0) continue
          return controller.enqueue(encoder.encode(csvLines(columns, next.value)))
        }
      } catch (error) {
        // A failing column (not the iterator) leaves the cursor open: close it, then fail the stream.
        await closeBatches().catch(() => {})
        throw error
      }
    },

    cancel: closeBatches,
  })
}
