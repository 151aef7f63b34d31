import { createHmac, timingSafeEqual } from 'node:crypto'

/**
 * HS256 JSON Web Tokens signed and checked with node:crypto (workerd has it under nodejs_compat),
 * for the page-view cookie, which is signed whenever a reader's session is read and checked on
 * the first request that carries it. Web Crypto's HMAC cost about 40 µs of CPU per call on Node
 * here (the job goes through a thread pool), this about 2 (BENCHMARKS.md, path). The tokens are
 * the standard ones (hono/jwt verifies them: tests/entitlements/page-view.test.ts).
 */
const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url')

const mac = (input: string, secret: string) => createHmac('sha256', secret).update(input).digest()

export function signHs256(claims: Record<string, unknown>, secret: string): string {
  const input = `${HEADER}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`
  return `${input}.${mac(input, secret).toString('base64url')}`
}

/**
 * The claims of a token signed with `secret` by HS256, or null for anything else: another
 * algorithm (`none` included) named in its header, a signature that does not match, a token that
 * is not three parts of base64url, claims that are not a JSON object. Expiry is the caller's.
 */
export function verifyHs256(token: string, secret: string): Record<string, unknown> | null {
  const parts = token.split('.')
  if (parts.length !== 3) return null
  const [header, payload, signature] = parts as [string, string, string]
  try {
    const alg = (JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as { alg?: unknown }).alg
    if (alg !== 'HS256') return null
    const given = Buffer.from(signature, 'base64url')
    const expected = mac(`${header}.${payload}`, secret)
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null
    const claims: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
    return claims !== null && typeof claims === 'object' && !Array.isArray(claims)
      ? (claims as Record<string, unknown>)
      : null
  } catch {
    return null
  }
}
