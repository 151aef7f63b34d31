import { Hono } from 'hono'
import { showsAds, showsSupportPrompts } from './entitlements'
import { issueEntitlementToken } from './token'
import type { AppEnv } from '../services'

/**
 * The reader's entitlements for API clients, under /api/entitlements: as JSON,
 * and as a short-lived signed token for the publication's own site or CDN.
 * Both come from what the session middleware read with the session.
 */
export const entitlementsApi = new Hono<AppEnv>()

/** The reader's benefits and membership; the empty set, not an error, for anonymous readers. */
entitlementsApi.get('/', (c) => {
  const { entitlements } = c.var
  const { membership } = entitlements
  c.header('Cache-Control', 'private, no-store')
  c.header('Vary', 'Cookie')
  return c.json({
    signedIn: c.var.user !== null,
    benefits: entitlements.benefits,
    tiers: entitlements.tierIds,
    ads: showsAds(entitlements),
    supportPrompts: showsSupportPrompts(entitlements),
    membership: {
      status: membership.status,
      source: membership.source,
      entitled: membership.entitled,
      until: membership.until,
      tierId: membership.tierId,
      tierName: membership.tierName,
    },
    donorUntil: entitlements.donorUntil,
  })
})

/** The same benefits as a short-lived signed token, for the publication's site or CDN to verify on its own. */
entitlementsApi.get('/token', async (c) => {
  const { config, clock } = c.var.services
  const { token, claims } = await issueEntitlementToken(c.var.entitlements, {
    issuer: config.APP_URL,
    secret: config.ENTITLEMENT_TOKEN_SECRET,
    now: clock.now(),
    ttlSeconds: config.ENTITLEMENT_TOKEN_TTL_SECONDS,
  })
  c.header('Cache-Control', 'private, no-store')
  c.header('Vary', 'Cookie')
  return c.json({ token, expiresAt: new Date(claims.exp * 1000).toISOString(), benefits: claims.benefits })
})
