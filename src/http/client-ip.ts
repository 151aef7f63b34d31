import type { Context } from 'hono'
import type { AppEnv } from '../services'

interface NodeBindings {
  incoming?: { socket?: { remoteAddress?: string } }
}

/**
 * The client's address, for rate limits. On Node it is the socket's peer
 * (or, with TRUST_PROXY, the nearest X-Forwarded-For hop); on Workers,
 * Cloudflare sets CF-Connecting-IP and no client can forge it.
 */
export function clientIp(c: Context<AppEnv>): string {
  const node = (c.env as NodeBindings | undefined)?.incoming
  if (node) {
    if (c.var.services.config.TRUST_PROXY) {
      const forwarded = c.req.header('x-forwarded-for')?.split(',').pop()?.trim()
      if (forwarded) return forwarded
    }
    return node.socket?.remoteAddress ?? 'unknown'
  }
  return c.req.header('cf-connecting-ip') ?? 'unknown'
}
