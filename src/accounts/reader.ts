import type { Context } from 'hono'
import { getCookie } from 'hono/cookie'
import {
  clearSessionCookie,
  cookieIsSecure,
  SESSION_COOKIE,
  sessionIdOf,
  setSessionCookie,
  validateSession,
} from './sessions'
import type { AppEnv } from '../services'
import { entitlementsFrom } from '../entitlements/entitlements'
import {
  ANONYMOUS_VIEW,
  clearViewCookie,
  issueViewCookie,
  pageViewOf,
  readViewCookie,
  VIEW_COOKIE,
  type ReaderView,
} from '../entitlements/page-view'

/**
 * Who is reading, for the routes that need nothing else: the gateway's page views, Masthead's own
 * front page and articles, and `GET /api/entitlements`. From the page-view cookie while it is fresh
 * and bound to the session cookie sent with it, with no database work; otherwise from one session
 * lookup, which issues the cookie (src/entitlements/page-view.ts says how stale it can be). With no
 * session cookie, the anonymous view, for nothing. Cookies set on the way (sendCookie) go out with
 * whatever the route answers (src/http/cookies.ts).
 *
 * Sets `view` on the context (what the layout and these routes read); after a lookup, also `user`,
 * `session` and `entitlements`, as the session middleware does. Asked twice in a request, it
 * answers from the context.
 */
export async function readerOf(c: Context<AppEnv>): Promise<ReaderView> {
  const decided = c.get('view')
  if (decided) return decided
  // Most requests are decided from the cookies alone, with nothing to await.
  const finding = findReader(c)
  const found = finding instanceof Promise ? await finding : finding
  c.set('view', found)
  return found
}

/** From the cookies when they suffice (synchronously), else from one session lookup. */
function findReader(c: Context<AppEnv>): ReaderView | Promise<ReaderView> {
  const { config, clock } = c.get('services') // the database only below, when a lookup is due: building it costs
  const secure = cookieIsSecure(config)
  const cookies = readerCookies(c) // read once for both
  const sessionToken = cookies.session
  if (!sessionToken) {
    // Signed out elsewhere: a leftover page view vouches for no one.
    if (cookies.view !== undefined) clearViewCookie(c, secure)
    return ANONYMOUS_VIEW
  }
  const now = clock.now()
  const token = cookies.view
  const vouched = token
    ? readViewCookie(token, { secret: config.ENTITLEMENT_TOKEN_SECRET, now, sessionId: sessionIdOf(sessionToken) })
    : null
  if (vouched) return vouched
  return lookUpReader(c, sessionToken, now, secure)
}

async function lookUpReader(c: Context<AppEnv>, sessionToken: string, now: Date, secure: boolean): Promise<ReaderView> {
  const { config, lookupDb } = c.get('services')
  const result = await validateSession(lookupDb, config, sessionToken)
  if (!result.session) {
    clearSessionCookie(c, lookupDb, config)
    clearViewCookie(c, secure)
    return ANONYMOUS_VIEW
  }
  if (result.session.fresh) setSessionCookie(c, lookupDb, config, sessionToken)
  const entitlements = entitlementsFrom(result.facts, now, config)
  c.set('user', result.user)
  c.set('session', result.session)
  c.set('entitlements', entitlements)
  const view = pageViewOf(result.user, entitlements)
  issueViewCookie(c, view, {
    secret: config.ENTITLEMENT_TOKEN_SECRET,
    now,
    secure,
    sessionId: result.session.id,
    changesAt: entitlements.changesAt,
  })
  return view
}

/** Masthead's session tokens as they are made (randomToken: base64url): read as they come. */
const PLAIN_TOKEN = /^[\w-]+$/

/**
 * The session and page-view cookies of the request. Hono's getCookie parses every cookie, tests
 * each value against a pattern and builds an object: about 1 µs a request with a page-view cookie
 * here, a fiftieth of the route. Read here by a scan for the two names, the last of each name
 * winning, as with getCookie; a session token that is not made as Masthead makes them (quoted,
 * %-encoded, or anything else) is left to getCookie, which reads it as it always has. The
 * page-view cookie needs no such care: it counts only if its signature checks out, so one that is
 * not exactly what Masthead wrote (quoted, encoded) is sent to the session lookup, as a forged one is.
 */
function readerCookies(c: Context<AppEnv>): { session: string | undefined; view: string | undefined } {
  const header = c.req.header('cookie')
  if (header === undefined) return { session: undefined, view: undefined }
  let session: string | undefined
  let view: string | undefined
  for (let start = 0; start < header.length;) {
    let end = header.indexOf(';', start)
    if (end === -1) end = header.length
    const equals = header.indexOf('=', start)
    if (equals !== -1 && equals < end) {
      const name = header.slice(start, equals).trim()
      if (name === SESSION_COOKIE) session = header.slice(equals + 1, end).trim()
      else if (name === VIEW_COOKIE) view = header.slice(equals + 1, end).trim()
    }
    start = end + 1
  }
  if (session !== undefined && !PLAIN_TOKEN.test(session)) session = getCookie(c)[SESSION_COOKIE]
  return { session, view }
}
