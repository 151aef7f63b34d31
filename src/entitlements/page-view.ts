import type { Context } from 'hono'
import { deleteCookie, getCookie, setCookie } from 'hono/cookie'
import { sign, verify } from 'hono/jwt'
import { BENEFITS, type Benefit, type Role } from '../db/schema'
import type { Entitlements } from './entitlements'

/**
 * What one page view of the publication's own site may see (gateway mode):
 * the reader's benefits and tiers, whether they are signed in or staff. It
 * names no one. The gateway decides every page view from it.
 */
export interface PageView {
  signedIn: boolean
  staff: boolean
  benefits: Benefit[]
  tierIds: string[]
}

export const ANONYMOUS_VIEW: PageView = { signedIn: false, staff: false, benefits: [], tierIds: [] }

export function pageViewOf(user: { role: Role } | null, entitlements: Entitlements): PageView {
  if (!user) return ANONYMOUS_VIEW
  return {
    signedIn: true,
    staff: user.role !== 'reader',
    benefits: entitlements.benefits,
    tierIds: entitlements.tierIds,
  }
}

/**
 * The page-view cookie: the PageView, signed (HS256, ENTITLEMENT_TOKEN_SECRET)
 * and short-lived, so that page views cost no database work: it is issued from
 * the session when missing or expired, once per reader per five minutes at
 * most. That is also how stale it can be: a cancellation or a new payment shows
 * on the site within five minutes (the thanks page after checkout and signing
 * out clear it at once). Its audience differs from the public entitlement
 * token's, so neither can stand in for the other.
 */
export const VIEW_COOKIE = 'masthead_view'

/**
 * The HMAC key of a secret, imported once: importing it is most of what a
 * check costs (about 60 µs of 70 on Node here). A CryptoKey holds no socket,
 * so keeping it across requests is safe on Workers too; secrets are few, and
 * a rotation cannot grow this without bound.
 */
const keys = new Map<string, Promise<CryptoKey>>()
function keyOf(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret)
  if (!key) {
    if (keys.size >= 4) keys.clear()
    const hmac = { name: 'HMAC', hash: 'SHA-256' }
    key = crypto.subtle.importKey('raw', new TextEncoder().encode(secret), hmac, false, ['sign', 'verify'])
    keys.set(secret, key)
  }
  return key
}
export const VIEW_TTL_SECONDS = 300
const AUDIENCE = 'masthead:page-view'

export async function issueViewCookie(
  c: Context,
  view: PageView,
  options: { secret: string; now: Date; secure: boolean },
): Promise<void> {
  const iat = Math.floor(options.now.getTime() / 1000)
  const claims = {
    aud: AUDIENCE,
    iat,
    exp: iat + VIEW_TTL_SECONDS,
    staff: view.staff,
    benefits: view.benefits,
    tiers: view.tierIds,
  }
  setCookie(c, VIEW_COOKIE, await sign(claims, await keyOf(options.secret), 'HS256'), {
    path: '/',
    httpOnly: true,
    secure: options.secure,
    sameSite: 'Lax',
    maxAge: VIEW_TTL_SECONDS,
  })
}

/**
 * Cookies already verified, by their exact text (signature included, so a
 * forged or altered cookie is never found here), with what they vouch for and
 * until when. A reader sends the same cookie for up to five minutes: checking
 * its signature once, not on every page view, saves the HMAC and, on Node,
 * the asynchronous WebCrypto job with it (BENCHMARKS.md, gateway). Entries
 * name no one and hold nothing the cookie does not; the map is bounded, and
 * emptied when full, so a flood of cookies costs checks, never memory.
 */
const VERIFIED_LIMIT = 10_000
const verified = new Map<string, { view: PageView; exp: number; iat: number; secret: string }>()

/** The page view the cookie vouches for, or null when it is missing, forged, for another use or expired (by `now`). */
export async function readViewCookie(token: string, options: { secret: string; now: Date }): Promise<PageView | null> {
  const now = options.now.getTime() / 1000
  const known = verified.get(token)
  if (known && known.secret === options.secret) return fresh(known, now) ? known.view : null
  const checked = await verifyViewCookie(token, options.secret)
  if (!checked) return null
  if (verified.size >= VERIFIED_LIMIT) verified.clear()
  verified.set(token, { ...checked, secret: options.secret })
  return fresh(checked, now) ? checked.view : null
}

/** Not expired, and not issued in the future (a minute of clock skew allowed). */
const fresh = (claims: { exp: number; iat: number }, now: number) => claims.exp > now && claims.iat <= now + 60

/** The cookie's signature and audience checked, its claims read; expiry is the caller's (by the app's clock). */
async function verifyViewCookie(
  token: string,
  secret: string,
): Promise<{ view: PageView; exp: number; iat: number } | null> {
  try {
    // Expiry is checked against the app's clock below, not the machine's.
    const claims = await verify(token, await keyOf(secret), {
      alg: 'HS256',
      aud: AUDIENCE,
      exp: false,
      nbf: false,
      iat: false,
    })
    if (typeof claims.exp !== 'number' || typeof claims.iat !== 'number') return null
    const benefits = Array.isArray(claims.benefits) ? claims.benefits : []
    const tiers = Array.isArray(claims.tiers) ? claims.tiers.filter((t): t is string => typeof t === 'string') : []
    // Frozen: one verified view serves every page view that carries the same cookie.
    const view: PageView = Object.freeze({
      signedIn: true,
      staff: claims.staff === true,
      benefits: Object.freeze(BENEFITS.filter((b) => benefits.includes(b))) as Benefit[],
      tierIds: Object.freeze(tiers) as string[],
    })
    return { view, exp: claims.exp, iat: claims.iat }
  } catch {
    return null
  }
}

/**
 * Forgets the page view, so that the next one reads the session again
 * (sign-out, a finished checkout). True when there was one to forget (a
 * Set-Cookie was added).
 */
export function clearViewCookie(c: Context, secure: boolean): boolean {
  if (getCookie(c, VIEW_COOKIE) === undefined) return false
  deleteCookie(c, VIEW_COOKIE, { path: '/', secure })
  return true
}
