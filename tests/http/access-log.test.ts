import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { log, logAccess, setLogSink, type LogLevel } from '../../src/http/log'
import { createTestApp, type TestApp } from '../helpers/app'

const root = join(import.meta.dirname, '../..')

function capture() {
  const lines: { level: LogLevel; line: string }[] = []
  const previous = setLogSink({ write: (level, line) => void lines.push({ level, line }) })
  return { lines, restore: () => setLogSink(previous) }
}

describe('the access log', () => {
  let t: TestApp
  beforeAll(async () => (t = await createTestApp()))
  afterAll(() => t.close())

  it('writes one JSON line per request, with the request id the response carries', async () => {
    const { lines, restore } = capture()
    try {
      const res = await t.app.request('/api/entitlements')
      const [entry] = lines.map((l) => JSON.parse(l.line))
      expect(lines).toHaveLength(1)
      expect(entry).toMatchObject({
        level: 'info',
        event: 'request',
        method: 'GET',
        path: '/api/entitlements',
        status: 200,
        requestId: res.headers.get('x-request-id'),
      })
      expect(typeof entry.ms).toBe('number')
      expect(Date.parse(entry.time)).not.toBeNaN()
    } finally {
      restore()
    }
  })

  it('masks an address in the path, blanks extra fields named for personal data, and escapes what it quotes', () => {
    const { lines, restore } = capture()
    try {
      logAccess({
        requestId: 'abc',
        method: 'GET',
        path: '/unsubscribe/reader%40example.org/"quoted"\n',
        status: 503,
        ms: 1.5,
        extra: { outcome: 'ignored', email: 'a@b.co', note: 'mail to x@y.z', count: 3, ok: true },
      })
      expect(lines[0]!.level).toBe('error') // a 5xx is an error line, as `log` would write it
      const entry = JSON.parse(lines[0]!.line)
      // The address is masked with what surrounds it up to a space or a quote, as `redactText` always has.
      expect(entry.path).toBe('[email]"quoted"\n')
      expect(entry).toMatchObject({
        outcome: 'ignored',
        email: '[redacted]',
        note: 'mail to [email]',
        count: 3,
        ok: true,
      })
      expect(lines[0]!.line).not.toContain('example.org')
    } finally {
      restore()
    }
  })

  it('writes plain text as it is and sends anything else through redaction, with the time of the request', () => {
    const { lines, restore } = capture()
    try {
      const before = Date.now()
      const paths = [
        '/api/entitlements',
        '/articles/a.b-c_d=e',
        '/unsubscribe/reader%40example.org', // %40: an at-sign, so not plain
        '/auth/bearer abc', // a space: not plain
        '/a\\b"c',
      ]
      for (const path of paths) logAccess({ requestId: 'proxy-id_1=', method: 'GET', path, status: 200, ms: 0.4 })
      const entries = lines.map((l) => JSON.parse(l.line) as { time: string; path: string; requestId: string })
      expect(entries.map((e) => e.path)).toEqual([
        '/api/entitlements',
        '/articles/a.b-c_d=e',
        '[email]',
        '/auth/bearer [redacted]',
        '/a\\b"c',
      ])
      expect(entries.every((e) => e.requestId === 'proxy-id_1=')).toBe(true)
      for (const { time } of entries) {
        expect(time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
        expect(Date.parse(time)).toBeGreaterThanOrEqual(before)
        expect(Date.parse(time)).toBeLessThanOrEqual(Date.now())
      }
    } finally {
      restore()
    }
  })

  it('does not log the stylesheet, which is answered before the request chain', async () => {
    const { lines, restore } = capture()
    try {
      const res = await t.app.request('/assets/style.css')
      expect(res.status).toBe(200)
      expect(lines).toEqual([])
    } finally {
      restore()
    }
  })
})

describe("the Node server's batched log writer (src/http/log-sink.ts)", () => {
  const dir = mkdtempSync(join(tmpdir(), 'masthead-log-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  // A process that logs through the batched sink, then ends in the way given: every line must be in its output.
  const script = (ending: string) => `
    import { log, setLogSink } from '${pathToFileURL(join(root, 'src/http/log.ts')).href}'
    import { batchedLogSink } from '${pathToFileURL(join(root, 'src/http/log-sink.ts')).href}'
    setLogSink(batchedLogSink())
    for (let i = 0; i < 5000; i++) log('info', 'line', { i })
    log('warn', 'warned', { after: 4999 })
    for (let i = 5000; i < 10000; i++) log('info', 'line', { i })
    ${ending}
  `

  it.each([
    ['process.exit(0) right after, as the server does on SIGTERM', 'process.exit(0)'],
    ['an uncaught error', "throw new Error('boom')"],
    ['the event loop running dry', ''],
  ])('writes every line, in order, when the process ends by %s', async (_, ending) => {
    const file = join(dir, `${Math.random()}.mjs`)
    const out = join(dir, `${Math.random()}.out`)
    const { writeFileSync } = await import('node:fs')
    writeFileSync(file, script(ending))
    await promisify(execFile)('sh', ['-c', `"${process.execPath}" --import tsx "${file}" > "${out}" 2>&1 || true`], {
      cwd: root,
    })
    const lines = readFileSync(out, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { event: string; i?: number })
    const numbered = lines.filter((l) => l.event === 'line').map((l) => l.i)
    expect(numbered).toEqual(Array.from({ length: 10_000 }, (_, i) => i))
    // The warning comes after the lines logged before it and before those logged after.
    expect(lines.findIndex((l) => l.event === 'warned')).toBe(5000)
  })
})

describe('log()', () => {
  it('goes to the sink in force, redacted', () => {
    const { lines, restore } = capture()
    try {
      log('info', 'hello', { email: 'a@b.co', where: 'x@y.z' })
      expect(JSON.parse(lines[0]!.line)).toMatchObject({ event: 'hello', email: '[redacted]', where: '[email]' })
    } finally {
      restore()
    }
  })
})
