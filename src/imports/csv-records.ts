/**
 * A CSV tokenizer that reads text as it arrives (src/imports/patreon-csv.ts feeds it a Patreon
 * export a chunk at a time), so that no file is ever held whole. Pure: no I/O.
 */

/** What can be wrong with a file as CSV, and the line of the record it is in. */
export type CsvProblem = 'quote in field' | 'quote never closed'

const QUOTE = 0x22
const COMMA = 0x2c
const CR = 0x0d
const LF = 0x0a

/**
 * Splits CSV text into records as it arrives, calling `onRecord` with each record's fields and the
 * line it starts on (1-based, counting line feeds, so a CRLF inside a quoted field is one line).
 *
 * It reads exactly as csv-parse did with `bom` and `relax_column_count`, which the line numbers and
 * messages of earlier imports came from: the first line break outside quotes (CRLF, LF or CR) is the
 * record delimiter from then on, and the other two are ordinary characters; "" inside quotes is a
 * quote; a quote inside an unquoted field, or anything but a comma or the line break after a closing
 * quote, is an error, and so is a quote still open at the end. An empty line is a record of one
 * empty field. The byte order mark is the caller's to drop. A syntax error is thrown as `fail` makes it.
 */
export function csvRecords(
  onRecord: (record: string[], line: number) => void,
  fail: (problem: CsvProblem, line: number) => Error,
): { write(text: string): void; end(): void } {
  let delimiter: '\r\n' | '\n' | '\r' | null = null
  let mode: 'unquoted' | 'quoted' | 'closing' = 'unquoted' // closing: just after a quote inside quotes
  let field = ''
  let record: string[] = []
  let line = 1
  let lineFeeds = 0
  let heldCr = false // a CR at the end of one piece of text means nothing until the next character

  const endRecord = () => {
    record.push(field)
    field = ''
    const completed = record
    record = []
    onRecord(completed, line)
    line = lineFeeds + 1
  }
  const quoteError = () => fail('quote in field', line)

  const scan = (text: string) => {
    const length = text.length
    let i = 0
    while (i < length) {
      if (mode === 'quoted') {
        const quote = text.indexOf('"', i)
        const stop = quote === -1 ? length : quote
        for (let lf = text.indexOf('\n', i); lf !== -1 && lf < stop; lf = text.indexOf('\n', lf + 1)) lineFeeds++
        field += text.slice(i, stop)
        if (quote === -1) return
        i = quote + 1
        mode = 'closing'
        continue
      }
      if (mode === 'closing') {
        const char = text.charCodeAt(i)
        if (char === QUOTE) {
          field += '"'
          mode = 'quoted'
          i++
        } else if (char === COMMA) {
          record.push(field)
          field = ''
          mode = 'unquoted'
          i++
        } else if (char === LF && (delimiter ?? '\n') === '\n') {
          delimiter = '\n'
          lineFeeds++
          mode = 'unquoted'
          i++
          endRecord()
        } else if (char === CR) {
          const crlf = text.charCodeAt(i + 1) === LF
          delimiter ??= crlf ? '\r\n' : '\r'
          if (delimiter === '\n' || (delimiter === '\r\n' && !crlf)) throw quoteError()
          if (delimiter === '\r\n') lineFeeds++
          mode = 'unquoted'
          i += delimiter.length
          endRecord()
        } else {
          throw quoteError()
        }
        continue
      }
      let stop = i
      let char = NaN
      while (stop < length) {
        char = text.charCodeAt(stop)
        if (char === COMMA || char === QUOTE || char === LF || char === CR) break
        stop++
      }
      if (stop > i) field += text.slice(i, stop)
      if (stop === length) return
      i = stop + 1
      if (char === COMMA) {
        record.push(field)
        field = ''
      } else if (char === QUOTE) {
        if (field !== '') throw quoteError()
        mode = 'quoted'
      } else if (char === LF) {
        lineFeeds++
        delimiter ??= '\n'
        if (delimiter === '\n') endRecord()
        else field += '\n'
      } else {
        const crlf = text.charCodeAt(i) === LF
        delimiter ??= crlf ? '\r\n' : '\r'
        if (delimiter === '\r') {
          endRecord()
        } else if (delimiter === '\r\n' && crlf) {
          lineFeeds++
          i++
          endRecord()
        } else {
          field += '\r'
        }
      }
    }
  }

  return {
    write: (text) => {
      if (heldCr) text = '\r' + text
      heldCr = text.endsWith('\r')
      scan(heldCr ? text.slice(0, -1) : text)
    },
    end: () => {
      if (heldCr) scan('\r')
      heldCr = false
      if (mode === 'quoted') {
        throw fail('quote never closed', line)
      }
      if (mode === 'closing' || record.length > 0 || field !== '') endRecord()
      mode = 'unquoted'
    },
  }
}

/**
 * For an incremental reader: runs each step, and once one has failed, fails every later step with
 * the same error, so that a reader given more bytes after a refusal never reads on from a broken state.
 */
export function failsOnce(): <T>(step: () => T) => T {
  let failure: unknown = null
  return (step) => {
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- the same error again, whatever it was
    if (failure !== null) throw failure
    try {
      return step()
    } catch (error) {
      failure = error
      throw error
    }
  }
}
