/**
 * The cookies Masthead sets (the session's and the page view's): a handler hands each over as
 * Set-Cookie text (sendCookie), and the frame writes them on whatever answer goes out, an error's
 * included (src/http/middleware.ts), with the rule that comes with them: an answer that sets a
 * cookie is never for a shared cache, whatever the route said, or the cache would hand one
 * reader's cookie to the next. On Node they go straight onto the outgoing response with its head
 * (FramedResponse, src/http/node-server.ts): through Hono's context each made a Fetch Headers
 * object for the answer, validated every header again and left the frame to read it back. Lint
 * keeps hono/cookie's setters and `c.header('Set-Cookie')` out of everywhere else.
 */
import type { Context } from 'hono'
import type { AppEnv } from '../services'

/** Sets a cookie on this request's answer: `text` is a whole Set-Cookie value (name=value; attributes). */
export function sendCookie(c: Context, text: string): void {
  const context = c as Context<AppEnv>
  const cookies = context.get('cookies')
  if (cookies) cookies.push(text)
  else context.set('cookies', [text])
}

/** Cache-Control for an answer that sets a cookie and whose own said none or let shared caches keep it. */
export const PRIVATE_WITH_COOKIES = 'private, no-cache'

/** Whether an answer's own Cache-Control already keeps it from shared caches (then it stays). */
export function keptFromSharedCaches(cacheControl: string | null | undefined): boolean {
  return cacheControl != null && /\b(private|no-store)\b/i.test(cacheControl)
}

/**
 * The Set-Cookie text of a cookie for every path of the site, readable by no script, sent with
 * top-level navigations from elsewhere (Lax) and only over https where `secure`: the attributes
 * in the order hono/cookie writes them. `maxAge` 0 forgets the cookie.
 */
export function siteCookie(name: string, value: string, maxAge: number, secure: boolean): string {
  return `${name}=${value}; Max-Age=${maxAge}; Path=/; HttpOnly${secure ? '; Secure' : ''}; SameSite=Lax`
}

/**
 * Adds the cookies to a Fetch answer's headers (on Workers, and on Node under any server but
 * Masthead's own), and makes the answer private unless its own Cache-Control already is.
 */
export function putCookies(headers: Headers, cookies: readonly string[]): void {
  for (const cookie of cookies) headers.append('Set-Cookie', cookie)
  if (!keptFromSharedCaches(headers.get('cache-control'))) headers.set('Cache-Control', PRIVATE_WITH_COOKIES)
}
