import { Hono } from 'hono'
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

/** The reader's benefits and membership; the empty set, not an error, for anonymous readers. */
entitlementsApi.get('/', async (c) => {
  const { view } = await readerOf(c)
  const { membership } = view
  c.header('Cache-Control', 'private, no-store')
  c.header('Vary', 'Cookie')
  return c.json({
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
  })
})

/** The same benefits as a short-lived signed token, for the publication's site or CDN to verify on its own. */
entitlementsApi.get('/token', async (c) => {
  const { config, clock } = c.var.services
  const { view } = await readerOf(c)
  const { token, claims } = await issueEntitlementToken(view, {
    issuer: config.APP_URL,
    secret: config.ENTITLEMENT_TOKEN_SECRET,
    now: clock.now(),
    ttlSeconds: config.ENTITLEMENT_TOKEN_TTL_SECONDS,
  })
  c.header('Cache-Control', 'private, no-store')
  c.header('Vary', 'Cookie')
  return c.json({ token, expiresAt: new Date(claims.exp * 1000).toISOString(), benefits: claims.benefits })
})
