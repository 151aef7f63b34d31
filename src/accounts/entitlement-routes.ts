import { Hono, type Context } from 'hono'
import { showsAds, showsSupportPrompts } from '../entitlements/entitlements'
import { readerOf } from './reader'
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
 * JSON with PRIVATE_JSON. With no cookie set on the way, a Response with plain headers, which
 * @hono/node-server writes as they are; Hono's c.json would build a Fetch Headers object for them.
 */
function privateJson(c: Context<AppEnv>, body: unknown, setCookies: boolean): Response {
  if (!setCookies) return new Response(JSON.stringify(body), { headers: PRIVATE_JSON })
  for (const [name, value] of Object.entries(PRIVATE_JSON)) c.header(name, value)
  return c.json(body)
}

/** The reader's benefits and membership; the empty set, not an error, for anonymous readers. */
entitlementsApi.get('/', async (c) => {
  const { view, setCookies } = await readerOf(c)
  const { membership } = view
  return privateJson(
    c,
    {
      signedIn: view.signedIn,
      benefits: view.benefits,
      tiers: view.tierIds,
      ads: showsAds(view),
      supportPrompts: showsSupportPrompts(view),
      membership: {
        status: membership.status,
        source: membership.source,
        entitled: membership.entitled,
        until: membership.until,
        tierId: membership.tierId,
        tierName: membership.tierName,
      },
      donorUntil: view.donorUntil,
    },
    setCookies,
  )
})

/** The same benefits as a short-lived signed token, for the publication's site or CDN to verify on its own. */
entitlementsApi.get('/token', async (c) => {
  const { config, clock } = c.get('services')
  const { view, setCookies } = await readerOf(c)
  const { token, claims } = await issueEntitlementToken(view, {
    issuer: config.APP_URL,
    secret: config.ENTITLEMENT_TOKEN_SECRET,
    now: clock.now(),
    ttlSeconds: config.ENTITLEMENT_TOKEN_TTL_SECONDS,
  })
  return privateJson(
    c,
    { token, expiresAt: new Date(claims.exp * 1000).toISOString(), benefits: claims.benefits },
    setCookies,
  )
})
