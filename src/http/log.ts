/**
 * Structured logs, one JSON object per line. Donors' identities are sensitive,
 * so every field passes through `redact` first: keys that name personal data
 * or secrets are blanked, and e-mail addresses or credentials inside strings
 * are masked. Errors are described by `describeError`, which never takes the
 * values a database error echoes. Log events and ids, never people.
 */
export type LogLevel = 'info' | 'warn' | 'error'
export type LogFields = Record<string, unknown>

const SENSITIVE_KEY =
  /e-?mail|name|token|secret|password|passwd|authori[sz]ation|cookie|session|phone|address|api[-_]?key|signature|detail|param|hint/i

/**
 * The at-sign in every form an address is written in: ASCII, fullwidth (U+FF20, CJK input),
 * small (U+FE6B) and percent-encoded (in paths). A new form must be added here: the fast path
 * of `redactText` tests for these too.
 */
const AT = '(?:[@\\uFF20\\uFE6B]|%40)'
/** What cannot be part of an address's local part or domain: spaces, every at-sign, quotes and brackets. */
const NOT_IN_ADDRESS = '[^\\s@\\uFF20\\uFE6B"\'<>()\\[\\],;:]'
/**
 * An address: any characters on either side of the at-sign, so internationalised addresses
 * (jörg@bücher.de, 用户@例子.广告) and ones with no dot are masked too. Masking a version
 * string like pkg@1.2.3 is the price of never missing an address.
 */
const EMAIL = new RegExp(`(?:"[^"\\n]*"|${NOT_IN_ADDRESS}+)${AT}${NOT_IN_ADDRESS}+`, 'gu')
const URL_CREDENTIALS = new RegExp(`\\b([a-z][a-z0-9+.-]*:\\/\\/)[^\\s/@\\uFF20\\uFE6B]+${AT}`, 'gi')
const BEARER = /\b(bearer)\s+[a-z0-9._~+/=-]+/gi
/** Every pattern above needs one of these: text without any (most fields: ids, paths, methods) is left alone. */
const MAY_NEED_REDACTING = new RegExp(`${AT}|bearer`, 'i')

export function redactText(text: string): string {
  if (!MAY_NEED_REDACTING.test(text)) return text
  return text.replace(URL_CREDENTIALS, '$1[redacted]@').replace(EMAIL, '[email]').replace(BEARER, '$1 [redacted]')
}

export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactText(value)
  if (value === null || typeof value !== 'object') return value
  if (depth > 5) return '[nested]'
  // An error's own fields can be a database's query parameters and details: only describeError's.
  if (value instanceof Error) return redact(describeError(value), depth + 1)
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1))
  const out: Record<string, unknown> = {}
  for (const [key, v] of Object.entries(value)) {
    out[key] = SENSITIVE_KEY.test(key) ? '[redacted]' : redact(v, depth + 1)
  }
  return out
}

/**
 * Where log lines go. By default the console, one call per line: on Workers that is what Workers
 * Logs collects, per invocation. The Node server writes them in batches instead (src/http/log-sink.ts).
 */
export interface LogSink {
  write(level: LogLevel, line: string): void
}

const consoleSink: LogSink = {
  write: (level, line) => (level === 'info' ? console.log(line) : console.error(line)),
}

// The one piece of state here: where lines go is the process's choice, made once by its entry.
let sink: LogSink = consoleSink

/** The Node entry sends lines to its batched writer; tests may capture them. Returns the sink it replaced. */
export function setLogSink(next: LogSink): LogSink {
  const previous = sink
  sink = next
  return previous
}

/**
 * A plain line for a person at the terminal (the development mailer's), written as a log line is: in order
 * with the log, and batched on the Node server. The caller makes sure it holds nothing personal.
 */
export function printLine(line: string): void {
  sink.write('info', line)
}

export function log(level: LogLevel, event: string, fields: LogFields = {}): void {
  sink.write(level, JSON.stringify({ time: new Date().toISOString(), level, event, ...(redact(fields) as LogFields) }))
}

/** What the access log says of one request; `extra` is a handler's logFields (ids and outcomes, never a person). */
export interface AccessEntry {
  requestId: string
  method: string
  path: string
  status: number
  ms: number
  extra?: Record<string, string | number | boolean> | undefined
}

/**
 * One access-log line, the same JSON as `log` writes, built as a string: it runs on every request,
 * where building an object and walking it through `redact` cost more than the rest of a cheap
 * request (BENCHMARKS.md, path). Only strings can hold personal data: each is written by
 * `jsonString`, which redacts whatever could hold an address or a credential; an extra field whose
 * name says personal data is blanked, as `redact` does.
 */
export function logAccess(entry: AccessEntry): void {
  let line =
    `{"time":"${isoNow()}","level":"${entry.status >= 500 ? 'error' : 'info'}","event":"request",` +
    `"requestId":${jsonString(entry.requestId)},"method":${jsonString(entry.method)},` +
    `"path":${jsonString(entry.path)},"status":${entry.status},"ms":${entry.ms}`
  if (entry.extra) {
    for (const key in entry.extra) {
      const value = entry.extra[key]
      const text = SENSITIVE_KEY.test(key)
        ? '"[redacted]"'
        : typeof value === 'string'
          ? jsonString(value)
          : JSON.stringify(value)
      line += `,${jsonString(key)}:${text}`
    }
  }
  sink.write(entry.status >= 500 ? 'error' : 'info', `${line}}`)
}

/**
 * Text that JSON writes as it is and that no redaction pattern can match (each needs an at-sign,
 * `%40`, `://` or a space): letters, digits and `_-=./`, as request ids, methods and most paths are.
 */
const PLAIN_TEXT = /^[\w\-=./]*$/

/** A string as JSON, redacted: plain text is quoted as it is (JSON.stringify and redactText cost more than the line). */
function jsonString(text: string): string {
  return PLAIN_TEXT.test(text) ? `"${text}"` : JSON.stringify(redactText(text))
}

let isoMillisecond = Number.NaN
let isoText = ''

/** The time as ISO 8601, made once per millisecond: a busy server logs many requests in each. */
function isoNow(): string {
  const now = Date.now()
  if (now !== isoMillisecond) {
    isoMillisecond = now
    isoText = new Date(now).toISOString()
  }
  return isoText
}

/**
 * What can be said safely about a thrown value: its kind, message and stack
 * frames, and for a database error its SQLSTATE and the constraint, table and
 * column it names. Never a database error's detail (`Key (email)=(…)`), its
 * query parameters, or values its message quotes; `log` redacts the rest.
 */
export function describeError(error: unknown, depth = 0): LogFields {
  if (!(error instanceof Error)) return { errorType: typeof error }
  const fields: LogFields = { errorType: error.name, message: safeMessage(error), stack: framesOf(error) }
  Object.assign(fields, databaseFields(error))
  const code = (error as { code?: unknown }).code
  if (fields.sqlState === undefined && typeof code === 'string' && /^[\w.-]{1,40}$/.test(code)) fields.code = code
  if (error.cause instanceof Error && depth < 2) fields.cause = describeError(error.cause, depth + 1)
  return fields
}

/** The same as one line of text, for commands that print to a terminal. */
export function describeErrorText(error: unknown): string {
  if (!(error instanceof Error)) return redactText(String(error))
  // Drizzle's wrapper says which query failed; the driver's error it wraps says why.
  const reason = isDrizzleQueryError(error) && error.cause instanceof Error ? error.cause : error
  const named = Object.entries(databaseFields(reason)).map(([key, value]) => `${key} ${String(value)}`)
  return redactText(safeMessage(reason)) + (named.length > 0 ? ` (${named.join(', ')})` : '')
}

/** The stack's frames only: its first line repeats the message, which may span lines (Drizzle's adds the parameters). */
function framesOf(error: Error): string | undefined {
  const frames = error.stack
    ?.split('\n')
    .filter((line) => /^\s+at /.test(line))
    .slice(0, 8)
  return frames && frames.length > 0 ? frames.join('\n') : undefined
}

function isDatabaseError(error: Error): error is Error & Record<string, unknown> {
  const e = error as Error & { code?: unknown; severity?: unknown }
  return typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) && typeof e.severity === 'string'
}

/** Drizzle wraps a driver's error in one whose message is `Failed query: …\nparams: …`, the values bound. */
function isDrizzleQueryError(error: Error): boolean {
  return error.message.startsWith('Failed query: ') && 'params' in error
}

/** The words after which PostgreSQL quotes an identifier, never a value. */
const IDENTIFIER_WORDS =
  /^(?:constraint|relation|table|column|index|function|type|schema|sequence|view|trigger|database|role|extension|operator|domain|encoding|cursor|savepoint|parameter|routine|procedure|policy|publication|subscription)$/i

/**
 * A database error's message with every quoted value taken out. PostgreSQL quotes identifiers
 * after the word naming them (constraint "users_email_key", relation "users"), which are kept;
 * other quoted strings are values (invalid input syntax for type uuid: "…", value "…" is out of range).
 */
function withoutQuotedValues(message: string): string {
  return message.replace(/(\S*)(\s*)"(?:[^"]|"")*"/g, (quoted, word: string, space: string) =>
    space && IDENTIFIER_WORDS.test(word) ? quoted : `${word}${space}"[value]"`,
  )
}

function safeMessage(error: Error): string {
  if (isDrizzleQueryError(error)) return error.message.split('\nparams:')[0]!
  if (isDatabaseError(error)) return withoutQuotedValues(error.message)
  return error.message
}

/** The identifiers a database error names: postgres.js calls them constraint_name…, PGlite (pg-protocol) constraint…. */
function databaseFields(error: Error): LogFields {
  if (!isDatabaseError(error)) return {}
  const pick = (...keys: string[]) => {
    for (const key of keys) if (typeof error[key] === 'string') return error[key]
    return undefined
  }
  const out: LogFields = { sqlState: error.code }
  const constraint = pick('constraint_name', 'constraint')
  const table = pick('table_name', 'table')
  const column = pick('column_name', 'column')
  if (constraint !== undefined) out.constraint = constraint
  if (table !== undefined) out.table = table
  if (column !== undefined) out.column = column
  return out
}
