import type { Context } from 'hono'
import { proxy } from 'hono/proxy'
import { SESSION_COOKIE } from '../accounts/sessions'
import { VIEW_COOKIE } from '../entitlements/page-view'
import { clientIp } from '../http/client-ip'
import { AppError } from '../http/errors'
import type { AppEnv } from '../services'

/** Headers for one hop only (RFC 9110 7.6.1), never forwarded; plus those the Connection header names. */
const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]

/** Masthead's own cookies: the origin never sees them. */
const OWN_COOKIES = new Set([SESSION_COOKIE, VIEW_COOKIE])

/** The Cookie header without Masthead's cookies, or null when nothing is left. */
export function originCookies(header: string | undefined): string | null {
  if (!header) return null
  const kept = header
    .split(';')
    .map((part) => part.trim())
    .filter((part) => part !== '' && !OWN_COOKIES.has(part.slice(0, part.indexOf('=')).trim()))
  return kept.length > 0 ? kept.join('; ') : null
}

/**
 * Forwards the request to the origin as it came: method, path, query, body
 * (streamed) and headers, less hop-by-hop headers and Masthead's
 * cookies, plus X-Forwarded-For/-Host/-Proto. The origin's status, redirects
 * (not followed), Set-Cookie and cache headers come back as they are. No
 * answer within ORIGIN_TIMEOUT_MS is a 504, none at all a 502; the body, once
 * it streams, is not timed.
 */
export async function forwardToOrigin(c: Context<AppEnv>, origin: string, timeoutMs: number): Promise<Response> {
  const url = new URL(c.req.url)
  const raw = c.req.raw
  const headers = new Headers(raw.headers)
  for (const name of headers.get('connection')?.split(',') ?? []) headers.delete(name.trim())
  for (const name of [...HOP_BY_HOP, 'host']) headers.delete(name)
  const cookies = originCookies(c.req.header('cookie'))
  if (cookies) headers.set('cookie', cookies)
  else headers.delete('cookie')
  headers.set('x-forwarded-for', clientIp(c))
  headers.set('x-forwarded-host', url.host)
  headers.set('x-forwarded-proto', url.protocol.replace(':', ''))

  const timeout = new AbortController()
  const timer = setTimeout(() => timeout.abort(), timeoutMs)
  try {
    // The body only when there is one: on Node, reading `raw.body` builds a whole Request (about 0.1 ms).
    const bodyless = c.req.method === 'GET' || c.req.method === 'HEAD'
    return await proxy(`${origin}${url.pathname}${url.search}`, {
      method: c.req.method,
      headers,
      ...(bodyless ? {} : { body: raw.body, duplex: 'half' }),
      redirect: 'manual',
      signal: timeout.signal,
    })
  } catch (error) {
    if (timeout.signal.aborted) {
      throw new AppError(
        'origin_timeout',
        `The site did not answer within ${timeoutMs / 1000} seconds. Try again in a moment.`,
      )
    }
    throw new AppError('origin_unavailable', 'The site cannot be reached right now. Try again in a moment.', {
      cause: error,
    })
  } finally {
    clearTimeout(timer)
  }
}
