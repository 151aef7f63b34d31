import type { Context } from 'hono'
import { getCookie } from 'hono/cookie'
import { BENEFITS, type Benefit, type Role } from '../db/schema'
import { sendCookie, siteCookie } from '../http/cookies'
import type { Entitlements } from './entitlements'
import { signHs256, verifyHs256 } from './hs256'
import type { CurrentMembership, MembershipSource, MembershipStatus } from './membership'

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

/**
 * What the reader's own pages and `GET /api/entitlements` show besides: the membership as the
 * reader sees it (no amount, no subscription id) and a recent donation. Still no one's name.
 */
export interface ReaderView extends PageView {
  membership: Pick<CurrentMembership, 'status' | 'source' | 'entitled' | 'until' | 'tierId' | 'tierName'>
  donorUntil: Date | null
}

export const ANONYMOUS_VIEW: ReaderView = Object.freeze({
  signedIn: false,
  staff: false,
  benefits: [],
  tierIds: [],
  membership: Object.freeze({
    status: 'none' as const,
    source: null,
    entitled: false,
    until: null,
    tierId: null,
    tierName: null,
  }),
  donorUntil: null,
})

export function pageViewOf(user: { role: Role } | null, entitlements: Entitlements): ReaderView {
  if (!user) return ANONYMOUS_VIEW
  const { status, source, entitled, until, tierId, tierName } = entitlements.membership
  return {
    signedIn: true,
    staff: user.role !== 'reader',
    benefits: entitlements.benefits,
    tierIds: entitlements.tierIds,
    membership: { status, source, entitled, until, tierId, tierName },
    donorUntil: entitlements.donorUntil,
  }
}

/**
 * The page-view cookie: the ReaderView, signed (HS256, ENTITLEMENT_TOKEN_SECRET)
 * and short-lived, so that the reader's requests cost no database work: the
 * gateway's page views, Masthead's own article pages and `GET /api/entitlements`
 * decide from it (src/accounts/reader.ts). It is issued from the session when
 * missing or expired, once per reader per five minutes at most, and bound to
 * that session: it names the first 16 hex digits of the session's id (itself the
 * SHA-256 of the session cookie's token), so it vouches for no one alongside
 * another session's cookie or none.
 *
 * How stale it can be: five minutes (VIEW_TTL_SECONDS), and never past the first
 * moment its facts would decide otherwise by time alone (Entitlements.changesAt:
 * a period or a grant ending, a donation's benefit running out). So a change made
 * elsewhere (a cancellation by webhook, a comp granted by an editor, signing out
 * on another device) shows within five minutes; the thanks page after checkout
 * and signing out on this browser clear it at once. Its audience differs from the
 * public entitlement token's, so neither can stand in for the other.
 */
export const VIEW_COOKIE = 'masthead_view'

export const VIEW_TTL_SECONDS = 300
const AUDIENCE = 'masthead:page-view'

export function issueViewCookie(
  c: Context,
  view: ReaderView,
  options: { secret: string; now: Date; secure: boolean; sessionId: string; changesAt?: Date | null },
): void {
  const iat = Math.floor(options.now.getTime() / 1000)
  const changes = options.changesAt ? Math.floor(options.changesAt.getTime() / 1000) : Infinity
  const exp = Math.max(iat + 1, Math.min(iat + VIEW_TTL_SECONDS, changes))
  const seconds = (date: Date | null) => (date ? Math.floor(date.getTime() / 1000) : null)
  const claims = {
    aud: AUDIENCE,
    iat,
    exp,
    sid: sessionBinding(options.sessionId),
    staff: view.staff,
    benefits: view.benefits,
    tiers: view.tierIds,
    m: { ...view.membership, until: seconds(view.membership.until) },
    donor: seconds(view.donorUntil),
  }
  sendCookie(c, siteCookie(VIEW_COOKIE, signHs256(claims, options.secret), exp - iat, options.secure))
}

/** What binds a page-view cookie to its session: the first 16 hex digits (64 bits) of the session's id. */
const sessionBinding = (sessionId: string) => sessionId.slice(0, 16)

/**
 * Cookies already verified, found by their signature and kept with their exact
 * text (so a forged or altered cookie is never taken for one verified: the
 * whole text must be the same), with what they vouch for and until when. A
 * reader sends the same cookie for up to five minutes: checking its signature
 * once, not on every page view, saves the HMAC and parsing the claims again
 * (BENCHMARKS.md, gateway). Keyed by the signature alone (43 characters), not
 * the whole cookie (about 450), which each request's lookup would hash. Entries
 * name no one and hold nothing the cookie does not; the map is bounded, and
 * emptied when full, so a flood of cookies costs checks, never memory.
 */
const VERIFIED_LIMIT = 10_000
const verified = new Map<string, Verified & { secret: string; token: string }>()
const signatureOf = (token: string) => token.slice(token.lastIndexOf('.') + 1)

interface Verified {
  view: ReaderView
  exp: number
  iat: number
  sid: string
}

/**
 * The reader view the cookie vouches for, or null when it is missing, forged, for another use or
 * another session (`sessionId`, the id of the session cookie sent with it), or expired (by `now`).
 */
export function readViewCookie(
  token: string,
  options: { secret: string; now: Date; sessionId: string },
): ReaderView | null {
  const now = options.now.getTime() / 1000
  const signature = signatureOf(token)
  const known = verified.get(signature)
  let checked: Verified | null = known && known.token === token && known.secret === options.secret ? known : null
  if (!checked) {
    checked = verifyViewCookie(token, options.secret)
    if (!checked) return null
    if (verified.size >= VERIFIED_LIMIT) verified.clear()
    verified.set(signature, { ...checked, secret: options.secret, token })
  }
  if (checked.sid !== sessionBinding(options.sessionId)) return null
  return fresh(checked, now) ? checked.view : null
}

/** Not expired, and not issued in the future (a minute of clock skew allowed). */
const fresh = (claims: { exp: number; iat: number }, now: number) => claims.exp > now && claims.iat <= now + 60

/** The cookie's signature and audience checked, its claims read; expiry is the caller's (by the app's clock). */
function verifyViewCookie(token: string, secret: string): Verified | null {
  try {
    // Expiry is checked against the app's clock by the caller, not the machine's.
    const claims = verifyHs256(token, secret)
    if (!claims || claims.aud !== AUDIENCE) return null
    if (typeof claims.exp !== 'number' || typeof claims.iat !== 'number' || typeof claims.sid !== 'string') return null
    const benefits = Array.isArray(claims.benefits) ? claims.benefits : []
    const tiers = Array.isArray(claims.tiers) ? claims.tiers.filter((t): t is string => typeof t === 'string') : []
    const m = (claims.m ?? {}) as Record<string, unknown>
    const text = (value: unknown) => (typeof value === 'string' ? value : null)
    const date = (value: unknown) => (typeof value === 'number' ? new Date(value * 1000) : null)
    // Frozen: one verified view serves every request that carries the same cookie.
    const view: ReaderView = Object.freeze({
      signedIn: true,
      staff: claims.staff === true,
      benefits: Object.freeze(BENEFITS.filter((b) => benefits.includes(b))) as Benefit[],
      tierIds: Object.freeze(tiers) as string[],
      membership: Object.freeze({
        status: (text(m.status) ?? 'none') as MembershipStatus,
        source: text(m.source) as MembershipSource | null,
        entitled: m.entitled === true,
        until: date(m.until),
        tierId: text(m.tierId),
        tierName: text(m.tierName),
      }),
      donorUntil: date(claims.donor),
    })
    return { view, exp: claims.exp, iat: claims.iat, sid: claims.sid }
  } catch {
    return null
  }
}

/**
 * Forgets the page view, so that the next one reads the session again
 * (sign-out, a finished checkout), when the request carries one.
 */
export function clearViewCookie(c: Context, secure: boolean): void {
  if (getCookie(c, VIEW_COOKIE) !== undefined) sendCookie(c, siteCookie(VIEW_COOKIE, '', 0, secure))
}
