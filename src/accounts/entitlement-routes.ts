import { Hono } from 'hono'
import { showsAds, showsSupportPrompts } from '../entitlements/entitlements'
import { readerOf } from './reader'
import type { ReaderView } from '../entitlements/page-view'
import { issueEntitlementToken } from '../entitlements/token'
import type { AppEnv } from '../services'

/**
 * The reader's entitlements for API clients, under /api/entitlements: as JSON,
 * and as a short-lived signed token for the publication's own site or CDN.
 * Both decide from the page-view cookie while it is fresh, else from one
 * session lookup, which issues it (src/accounts/reader.ts): app.ts mounts
 * this router before the session middleware.
 */
export const entitlementsApi = new Hono<AppEnv>()

/** What every answer here carries: the reader's own, for no cache to keep; it depends on the cookies. */
const PRIVATE_JSON = {
  'Content-Type': 'application/json',
  'Cache-Control': 'private, no-store',
  Vary: 'Cookie',
} as const

/**
 * JSON text with PRIVATE_JSON, as a Response with plain headers, which @hono/node-server writes as
 * they are; cookies set on the way go out with it through the frame (src/http/cookies.ts), which
 * on Node writes them with the head. Through Hono's context it would build a Fetch Headers object.
 */
const privateJson = (json: string): Response => new Response(json, { headers: PRIVATE_JSON })

/**
 * The answer for a view, made once per view: a view read from the page-view cookie is the same
 * frozen object for every request that carries that cookie (src/entitlements/page-view.ts), and
 * the anonymous view is one object, so most answers here are a lookup. Held weakly: a view that
 * is no longer cached takes its answer with it. A view made by a session lookup is new, not
 * frozen, and serves one request: its answer is not kept (a weak entry per lookup cost the
 * collector more than it saved).
 */
const answers = new WeakMap<ReaderView, string>()

/** A date as JSON writes it, without JSON.stringify's generic toJSON call (2 % of a session lookup's CPU samples under perf). */
const iso = (date: Date | null) => (date === null ? null : date.toISOString())

function entitlementsJson(view: ReaderView): string {
  const shared = Object.isFrozen(view)
  let json = shared ? answers.get(view) : undefined
  if (json === undefined) {
    const { membership } = view
    json = JSON.stringify({
      signedIn: view.signedIn,
      benefits: view.benefits,
      tiers: view.tierIds,
      ads: showsAds(view),
      supportPrompts: showsSupportPrompts(view),
      membership: {
        status: membership.status,
        source: membership.source,
        entitled: membership.entitled,
        until: iso(membership.until),
        tierId: membership.tierId,
        tierName: membership.tierName,
      },
      donorUntil: iso(view.donorUntil),
    })
    if (shared) answers.set(view, json)
  }
  return json
}

/** The reader's benefits and membership; the empty set, not an error, for anonymous readers. */
entitlementsApi.get('/', async (c) => {
  const view = await readerOf(c)
  return privateJson(entitlementsJson(view))
})

/** The same benefits as a short-lived signed token, for the publication's site or CDN to verify on its own. */
entitlementsApi.get('/token', async (c) => {
  const { config, clock } = c.get('services')
  const view = await readerOf(c)
  const { token, claims } = await issueEntitlementToken(view, {
    issuer: config.APP_URL,
    secret: config.ENTITLEMENT_TOKEN_SECRET,
    now: clock.now(),
    ttlSeconds: config.ENTITLEMENT_TOKEN_TTL_SECONDS,
  })
  return privateJson(
    JSON.stringify({ token, expiresAt: new Date(claims.exp * 1000).toISOString(), benefits: claims.benefits }),
  )
})
