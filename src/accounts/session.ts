import { createMiddleware } from 'hono/factory'
import { ANONYMOUS, entitlementsFrom } from '../entitlements/entitlements'
import { ANONYMOUS_VIEW, pageViewOf } from '../entitlements/page-view'
import type { AppEnv } from '../services'
import { getCookie } from 'hono/cookie'
import { clearSessionCookie, SESSION_COOKIE, setSessionCookie, validateSession } from './sessions'

/**
 * Puts `user`, `session` and `entitlements` on the context (null and the
 * empty set when signed out), renewing or clearing the cookie. One database
 * round trip: the session lookup reads the entitlement facts too, and every
 * handler and guard of the request uses what it found. Mounted after the
 * machines' routes (health, assets, webhooks), which never need to know who
 * is asking, and after the readers' routes, which decide from the page-view
 * cookie (src/accounts/reader.ts).
 */
export const session = createMiddleware<AppEnv>(async (c, next) => {
  c.set('user', null)
  c.set('session', null)
  c.set('entitlements', ANONYMOUS)
  c.set('view', ANONYMOUS_VIEW)
  // Hono's parser, not Lucia's: Lucia's decodes every cookie of the header and throws on one that
  // is not valid percent-encoding (`x=%FF`, planted by anyone who can set a cookie), which failed
  // every page. A token that is not one simply opens no session, and the cookie is cleared.
  const token = getCookie(c, SESSION_COOKIE)
  if (token) {
    const { lookupDb: db, config } = c.var.services
    const result = await validateSession(db, config, token)
    if (result.session) {
      c.set('user', result.user)
      c.set('session', result.session)
      const entitlements = entitlementsFrom(result.facts, c.var.services.clock.now(), config)
      c.set('entitlements', entitlements)
      c.set('view', pageViewOf(result.user, entitlements))
      // Renewed: the cookie gets the token back (the session holds only its hash), with the new expiry.
      if (result.session.fresh) setSessionCookie(c, db, config, token)
    } else {
      clearSessionCookie(c, db, config)
    }
  }
  await next()
})
