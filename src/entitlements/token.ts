import { sign, verify } from 'hono/jwt'
import type { Entitlements } from './entitlements'
import { BENEFITS, type Benefit } from '../db/schema'

/**
 * Entitlement tokens: a short-lived JWT (HS256) saying what the reader may
 * have, for a publication's own site or CDN worker to check without calling
 * Masthead. It names no one: no e-mail, no account id, only benefits, tiers
 * and the membership's state. README.md ("Entitlement tokens") shows how to
 * verify one.
 */
export const TOKEN_AUDIENCE = 'masthead:entitlements'

export interface EntitlementClaims {
  iss: string
  aud: string
  iat: number
  nbf: number
  exp: number
  benefits: Benefit[]
  tiers: string[]
  status: string
}

export async function issueEntitlementToken(
  entitlements: Pick<Entitlements, 'benefits' | 'tierIds'> & {
    membership: Pick<Entitlements['membership'], 'entitled' | 'status'>
  },
  options: { issuer: string; secret: string; now: Date; ttlSeconds: number },
): Promise<{ token: string; claims: EntitlementClaims }> {
  const iat = Math.floor(options.now.getTime() / 1000)
  const claims: EntitlementClaims = {
    iss: options.issuer,
    aud: TOKEN_AUDIENCE,
    iat,
    nbf: iat,
    exp: iat + options.ttlSeconds,
    benefits: entitlements.benefits,
    tiers: entitlements.tierIds,
    status: entitlements.membership.entitled ? entitlements.membership.status : 'none',
  }
  return { token: await sign({ ...claims }, options.secret, 'HS256'), claims }
}

/**
 * Verifies a token as a publication's edge would: signature (HS256 only, so
 * an `alg: none` or RS/HS confusion token is refused), issuer, audience and
 * expiry against the current time. Throws on any failure.
 */
export async function verifyEntitlementToken(
  token: string,
  options: { issuer: string; secret: string },
): Promise<EntitlementClaims> {
  const payload = await verify(token, options.secret, { alg: 'HS256', iss: options.issuer, aud: TOKEN_AUDIENCE })
  const benefits = Array.isArray(payload.benefits) ? payload.benefits : []
  return {
    ...(payload as unknown as EntitlementClaims),
    benefits: BENEFITS.filter((b) => benefits.includes(b)),
  }
}
