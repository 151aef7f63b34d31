/**
 * Structured logs, one JSON object per line. Donors' identities are sensitive,
 * so every field passes through `redact` first: keys that name personal data
 * or secrets are blanked, and e-mail addresses or credentials inside strings
 * are masked. Log events and ids, never people.
 */
export type LogLevel = 'info' | 'warn' | 'error'
export type LogFields = Record<string, unknown>

const SENSITIVE_KEY =
  /e-?mail|name|token|secret|password|passwd|authori[sz]ation|cookie|session|phone|address|api[-_]?key|signature/i
const EMAIL = /[^\s@"'<>(),;:]+@[^\s@"'<>(),;:]+\.[a-z]{2,}/gi
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi
const BEARER = /\b(bearer)\s+[a-z0-9._~+/=-]+/gi

export function redactText(text: string): string {
  // Every pattern needs an @ or the word bearer: most log fields (ids, paths, methods) have neither.
  if (!text.includes('@') && !/bearer/i.test(text)) return text
  return text.replace(URL_CREDENTIALS, '$1[redacted]@').replace(EMAIL, '[email]').replace(BEARER, '$1 [redacted]')
}

export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactText(value)
  if (value === null || typeof value !== 'object') return value
  if (depth > 5) return '[nested]'
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1))
  const out: Record<string, unknown> = {}
  for (const [key, v] of Object.entries(value)) {
    out[key] = SENSITIVE_KEY.test(key) ? '[redacted]' : redact(v, depth + 1)
  }
  return out
}

export function log(level: LogLevel, event: string, fields: LogFields = {}): void {
  const line = JSON.stringify({ time: new Date().toISOString(), level, event, ...(redact(fields) as LogFields) })
  if (level === 'info') console.log(line)
  else console.error(line)
}

/** What can be said safely about a thrown value: its kind, message and stack, redacted. */
export function describeError(error: unknown): LogFields {
  if (error instanceof Error) {
    return { errorType: error.name, message: error.message, stack: error.stack?.split('\n').slice(0, 8).join('\n') }
  }
  return { errorType: typeof error }
}
