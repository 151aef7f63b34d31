import { describe, expect, it } from 'vitest'
import { redact, redactText } from '../../src/http/log'

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
