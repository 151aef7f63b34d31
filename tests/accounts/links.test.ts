import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { safeNextPath } from '../../src/accounts/links'

const FALLBACK = '/members/account'
const SITE = 'https://news.example.org'

/** What a browser does with a Location header of `path` on this site: where it goes. */
const followed = (path: string) => new URL(path, `${SITE}/members/auth/verify`)

/** The pieces redirect tricks are made of, joined at random, plus arbitrary text. */
const PIECES = [
  '/',
  '//',
  '\\',
  '.',
  '..',
  './',
  '../',
  '/./',
  '/../',
  '%2f',
  '%2F',
  '%5c',
  '%2e',
  '%2e%2e',
  '@',
  ':',
  '?',
  '#',
  'evil.example',
  'https:',
  'javascript:',
  'http://evil.example',
  ' ',
  '\t',
  '\n',
  '\u0000',
  '\u2028',
  'é',
  '%',
  'account',
  'articles',
  '?next=//evil.example',
  '#//evil',
]
const tricky = fc
  .array(fc.oneof(fc.constantFrom(...PIECES), fc.string({ maxLength: 4 })), { maxLength: 12 })
  .map((parts) => parts.join(''))
const anything = fc.oneof(tricky, fc.string({ unit: 'binary', maxLength: 40 }), fc.constantFrom('/'.repeat(600)))

describe('safeNextPath', () => {
  it('gives a path on this site, or the fallback, whatever it is given', () => {
    fc.assert(
      fc.property(anything, (next) => {
        const path = safeNextPath(next, FALLBACK)
        if (path === FALLBACK) return
        expect(path.startsWith('/') && !path.startsWith('//') && !path.startsWith('/\\'), path).toBe(true)
        expect(followed(path).origin, `${JSON.stringify(next)} → ${path}`).toBe(SITE)
        // eslint-disable-next-line no-control-regex -- none may reach a header
        expect(path).not.toMatch(/[\u0000-\u001f\u007f\\]/)
        expect(path.length).toBeLessThanOrEqual(512)
        // Given again, it gives itself: nothing further to normalise.
        expect(safeNextPath(path, FALLBACK)).toBe(path)
      }),
      { numRuns: 5_000, seed: 20261205 },
    )
  })

  it('does not let dot segments make another site of a path', () => {
    for (const next of ['/.//evil.example', '/..//evil.example', '/a/..//evil.example', '/%2e//evil.example']) {
      expect(safeNextPath(next, FALLBACK), next).toBe(FALLBACK)
    }
  })

  it('keeps ordinary paths, queries and fragments as they are', () => {
    for (const next of ['/account', '/articles/budget-2027?ref=mail', '/members/join?tier=reader#top', '/a/./b']) {
      expect(safeNextPath(next, FALLBACK)).toBe(next === '/a/./b' ? '/a/b' : next)
    }
  })
})
