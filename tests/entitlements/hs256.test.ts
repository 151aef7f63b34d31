import { sign, verify } from 'hono/jwt'
import { describe, expect, it } from 'vitest'
import { signHs256, verifyHs256 } from '../../src/entitlements/hs256'

const secret = 'a-secret-of-the-publication-0123456789'
const claims = {
  aud: 'masthead:page-view',
  iat: 1_700_000_000,
  exp: 1_700_000_300,
  benefits: ['adFree'],
  name: 'Jörg ✓',
}

describe('HS256 through node:crypto (src/entitlements/hs256.ts)', () => {
  it('makes the tokens hono/jwt makes, and each verifies the other’s', async () => {
    const ours = signHs256(claims, secret)
    expect(await verify(ours, secret, { alg: 'HS256', exp: false, iat: false, nbf: false })).toEqual(claims)
    const theirs = await sign(claims, secret, 'HS256')
    expect(verifyHs256(theirs, secret)).toEqual(claims)
    expect(ours).toBe(theirs)
  })

  it('refuses another secret, a changed payload or signature, alg none and anything malformed', () => {
    const token = signHs256(claims, secret)
    const [header, payload, signature] = token.split('.') as [string, string, string]
    expect(verifyHs256(token, 'another-secret')).toBeNull()
    const changed = Buffer.from(JSON.stringify({ ...claims, benefits: ['earlyAccess'] })).toString('base64url')
    expect(verifyHs256(`${header}.${changed}.${signature}`, secret)).toBeNull()
    const flipped = signature.slice(0, -2) + (signature.at(-2) === 'A' ? 'B' : 'A') + signature.at(-1)
    expect(verifyHs256(`${header}.${payload}.${flipped}`, secret)).toBeNull()
    const none = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')
    expect(verifyHs256(`${none}.${payload}.`, secret)).toBeNull()
    expect(verifyHs256(`${none}.${payload}.${signature}`, secret)).toBeNull()
    for (const bad of [
      '',
      'a.b',
      'a.b.c.d',
      `${header}.${payload}`,
      '%%%.%%%.%%%',
      `${header}.bm90IGpzb24.${signature}`,
    ]) {
      expect(verifyHs256(bad, secret)).toBeNull()
    }
    const array = Buffer.from('[1,2]').toString('base64url')
    const input = `${header}.${array}`
    expect(verifyHs256(`${input}.${signHs256({}, secret).split('.')[2]}`, secret)).toBeNull()
  })
})
