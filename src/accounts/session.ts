import { createMiddleware } from 'hono/factory'
import { ANONYMOUS, entitlementsFrom } from '../entitlements/entitlements'
import type { Role } from '../db/schema'
import { AppError, wantsJson } from '../http/errors'
import type { AppEnv } from '../services'
import { clearSessionCookie, readSessionCookie, setSessionCookie, validateSession } from './sessions'

/** Paths that never need to know who is asking, so they cost no session lookup. */
const ANONYMOUS_PATHS = ['/assets/', '/healthz']

/**
 * Puts `user`, `session` and `entitlements` on the context (null and the
 * empty set when signed out), renewing or clearing the cookie. One database
 * round trip: the session lookup reads the entitlement facts too.
 */
export const session = createMiddleware<AppEnv>(async (c, next) => {
  c.set('user', null)
  c.set('session', null)
  c.set('entitlements', ANONYMOUS)
  const cookies = c.req.header('cookie')
  if (cookies && !ANONYMOUS_PATHS.some((p) => c.req.path.startsWith(p))) {
    const { sessionDb: db, config } = c.var.services
    const sessionId = readSessionCookie(db, config, cookies)
    if (sessionId) {
      const result = await validateSession(db, config, sessionId)
      if (result.session) {
        c.set('user', result.user)
        c.set('session', result.session)
        c.set('entitlements', entitlementsFrom(result.facts, c.var.services.clock.now(), config))
        if (result.session.fresh) setSessionCookie(c, db, config, result.session.id)
      } else {
        clearSessionCookie(c, db, config)
      }
    }
  }
  await next()
})

const RANK: Record<Role, number> = { reader: 0, editor: 1, admin: 2 }

/**
 * Lets through accounts with at least `role`. API clients get 401 or 403;
 * people are sent to sign in, and brought back afterwards.
 */
export const requireRole = (role: Role) =>
  createMiddleware<AppEnv>(async (c, next) => {
    const user = c.var.user
    if (user && RANK[user.role] >= RANK[role]) return next()
    if (wantsJson(c)) {
      if (!user) throw new AppError('unauthorized', 'Sign in first: you are not signed in, or your session has ended.')
      throw new AppError('forbidden', `This needs the ${role} role; your account is a ${user.role}.`)
    }
    // After signing in, come back here; a form post cannot be replayed, so go to the account instead.
    const back = c.req.method === 'GET' ? c.req.path : '/account'
    const query = new URLSearchParams({ next: back })
    if (user) query.set('reason', 'role')
    return c.redirect(`/auth/sign-in?${query}`, 303)
  })

export const requireUser = requireRole('reader')

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * CSRF protection for every state change: a browser always says where a
 * request comes from (Origin, or Sec-Fetch-Site), and it must be this site.
 * Stripe's webhooks carry no cookies and are signed, so they are exempt.
 */
export const sameOriginOnly = createMiddleware<AppEnv>(async (c, next) => {
  if (SAFE_METHODS.has(c.req.method) || c.req.path.startsWith('/webhooks/')) return next()
  const origin = c.req.header('origin')
  const allowed = [new URL(c.var.services.config.APP_URL).origin, new URL(c.req.url).origin]
  const fetchSite = c.req.header('sec-fetch-site')
  const foreign = origin
    ? origin === 'null' || !allowed.includes(origin)
    : fetchSite !== undefined && fetchSite !== 'same-origin' && fetchSite !== 'none'
  if (foreign) {
    throw new AppError('forbidden', 'This request came from another site, so it was refused. Try again from this site.')
  }
  return next()
})
