import { sql } from 'drizzle-orm'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import type { DatabaseHandle } from '../../src/db/client'
import { migratePgliteClient } from '../../src/db/migrate'
import { openPglite } from '../../src/db/pglite'
import { users } from '../../src/db/schema'
import { describeError, describeErrorText, log, redact, redactText } from '../../src/http/log'
import { keyringOf } from '../../src/privacy/keys'
import { sealPerson, type SealedPerson } from '../../src/privacy/people'
import { createTestApp, type TestApp } from '../helpers/app'

describe('log redaction', () => {
  it('masks e-mail addresses, URL credentials and bearer tokens inside text', () => {
    expect(redactText('sent to reader@example.org today')).toBe('sent to [email] today')
    const url = redactText('postgres://masthead:hunter2@db.internal:5432/app')
    expect(url).not.toContain('hunter2')
    expect(url).not.toContain('masthead:')
    expect(redactText('Authorization was Bearer abc.def-ghi')).toBe('Authorization was Bearer [redacted]')
    expect(redactText('BEARER xyz')).toBe('BEARER [redacted]')
  })

  it('leaves text with neither an @ nor a bearer token as it is', () => {
    expect(redactText('/articles/council-budget?page=2')).toBe('/articles/council-budget?page=2')
    expect(redactText('')).toBe('')
  })

  it('blanks fields whose names say they are personal or secret, at any depth', () => {
    expect(
      redact({ path: '/unsubscribe/reader@example.org', user: { email: 'a@b.co', displayName: 'Ana' }, status: 200 }),
    ).toEqual({ path: '[email]', user: { email: '[redacted]', displayName: '[redacted]' }, status: 200 })
  })
})

describe('internationalised addresses', () => {
  it.each([
    ['jörg@bücher.de', 'an umlaut on either side'],
    ['用户@例子.广告', 'Chinese, with a Chinese top-level domain'],
    ['用户＠例子．广告', 'a fullwidth at-sign and full stop (typed with CJK input)'],
    ['josé﹫correo.es', 'the small commercial at'],
    ['reader%40example.org', 'a percent-encoded at-sign, as in a path'],
    ['postmaster@localhost', 'no dot in the domain'],
    ['"jane doe"@example.org', 'a quoted local part'],
  ])('masks %s (%s), and the fast path lets none through', (address) => {
    const masked = redactText(`bounced: ${address}; retrying`)
    expect(masked).toBe('bounced: [email]; retrying')
    expect((redact({ path: `/unsubscribe/${address}` }) as { path: string }).path).toMatch(
      /^(\/unsubscribe\/)?\[email\]$/,
    )
  })

  it('leaves text with no at-sign in any form exactly as it was', () => {
    for (const text of ['/articles/ümlaut-straße', '用户 例子', 'price 40% off', 'at 12:00']) {
      expect(redactText(text)).toBe(text)
    }
  })
})

describe('database errors', () => {
  const address = 'jörg@bücher.de'
  const name = 'Jörg Bücher'
  let t: TestApp
  let pglite: DatabaseHandle
  /** The address and name as stored: the values the failing insert binds, which no log may carry either. */
  let sealed: SealedPerson
  beforeAll(async () => {
    t = await createTestApp()
    sealed = await sealPerson(await keyringOf(t.services.config), { email: address, name })
    const handle = await openPglite()
    await migratePgliteClient(handle.client)
    pglite = handle
    for (const db of [t.database.db, pglite.db]) await db.insert(users).values(account('first'))
    // A route of this test only: what an unforeseen unique violation looks like to the app.
    t.app.post('/api/duplicate', async () => {
      await t.database.db.insert(users).values(account('second'))
      return new Response('not reached')
    })
  }, 60_000)
  afterAll(async () => {
    await pglite.close()
    await t.close()
  })
  afterEach(() => vi.restoreAllMocks())

  // The same address each time: the second insert breaks the unique address index.
  const account = (id: string) => ({
    id,
    ...sealed,
    nameOrder: '',
    role: 'reader' as const,
    createdAt: new Date(),
    updatedAt: new Date(),
  })

  function captureConsole() {
    const lines: string[] = []
    const keep = (...args: unknown[]) => void lines.push(args.map(String).join(' '))
    vi.spyOn(console, 'log').mockImplementation(keep)
    vi.spyOn(console, 'error').mockImplementation(keep)
    return lines
  }

  function expectNoOneIn(text: string) {
    for (const personal of [address, 'jörg', 'bücher', 'Jörg', 'Bücher', 'xn--']) expect(text).not.toContain(personal)
    for (const stored of [sealed.emailIndex, sealed.card]) expect(text).not.toContain(stored)
  }

  it('through the app: the unhandled unique violation is logged with its SQLSTATE and constraint, never the values', async () => {
    const lines = captureConsole()
    const res = await t.app.request('/api/duplicate', { method: 'POST' })
    expect(res.status).toBe(500)
    expectNoOneIn(await res.text())
    expectNoOneIn(lines.join('\n'))
    const logged = lines.map((l) => JSON.parse(l)).find((l) => l.event === 'unhandled_error')
    // Drizzle's wrapper names the query; the driver's error it wraps says why.
    expect(logged.message).toMatch(/^Failed query: insert into "users"/)
    expect(logged.cause).toMatchObject({ sqlState: '23505', constraint: 'users_email_index_key', table: 'users' })
    expect(logged.cause.message).toContain('duplicate key value violates unique constraint "users_email_index_key"')
  })

  it.each(['postgres or the default', 'pglite'] as const)(
    'from %s: neither describeError, nor the error logged whole, nor the CLI text carries a value',
    async (which) => {
      const db = which === 'pglite' ? pglite.db : t.database.db
      const error = await db
        .insert(users)
        .values(account('third'))
        .catch((e: unknown) => e)
      expect(error).toBeInstanceOf(Error)
      const lines = captureConsole()
      log('error', 'unhandled_error', describeError(error))
      log('error', 'import_failed', { error, cause: (error as Error).cause, attempt: 1 })
      vi.restoreAllMocks()
      expectNoOneIn(lines.join('\n'))
      expect(lines.join('\n')).toContain('23505')
      const text = describeErrorText(error)
      expectNoOneIn(text)
      expect(text).toContain('duplicate key value violates unique constraint "users_email_index_key"')
      expect(text).toContain('sqlState 23505')
    },
  )

  it('takes out a value the message quotes, and keeps the identifiers', async () => {
    const error = await t.database.db.execute(sql`select ${name}::integer`).catch((e: unknown) => e)
    const described = describeError(error)
    expect(JSON.stringify(described)).not.toContain('Bücher')
    expect((described.cause as { message: string }).message).toBe('invalid input syntax for type integer: "[value]"')
    expect(describeErrorText(error)).toBe('invalid input syntax for type integer: "[value]" (sqlState 22P02)')
  })
})
