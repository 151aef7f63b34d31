import type { Clock } from '../services'
import type { EdgeCache } from './edge-cache'

/**
 * Rewritten pages kept in the Node server's memory, as Cloudflare's cache keeps them on Workers
 * (src/gateway/edge-cache.ts): one copy per URL and benefit set (the key names no one), for as long
 * as the origin lets shared caches keep the page (`s-maxage`, else `max-age`, less its `Age`; at
 * most MAX_LIFETIME_S), within `maxBytes`, the least recently used going first. Only what
 * `sharable` allows is put here: a public 200 without cookies.
 */

/** However long the origin allows, a kept page is fetched and rewritten again after this long. */
export const MAX_LIFETIME_S = 600

interface Entry {
  status: number
  headers: [string, string][]
  body: Uint8Array<ArrayBuffer>
  storedAt: number
  expires: number
}

/** How long the origin lets a shared cache keep this response, in seconds (0: not at all). */
export function sharedLifetime(headers: Headers): number {
  const control = (headers.get('cache-control') ?? '').toLowerCase()
  const directive = (name: string) => {
    const match = new RegExp(`(?:^|,)\\s*${name}\\s*=\\s*"?(\\d+)"?`).exec(control)
    return match ? Number(match[1]) : undefined
  }
  const lifetime = directive('s-maxage') ?? directive('max-age') ?? 0
  const age = Number(headers.get('age') ?? 0)
  return Math.max(0, Math.min(lifetime, MAX_LIFETIME_S) - (Number.isFinite(age) ? age : 0))
}

export function memoryPageCache(options: { maxBytes: number; clock: Clock }): EdgeCache {
  const entries = new Map<string, Entry>() // in order of use: the first is the least recently used
  let bytes = 0
  const drop = (key: string) => {
    const entry = entries.get(key)
    if (!entry) return
    entries.delete(key)
    bytes -= entry.body.byteLength
  }
  // One page may take at most an eighth of the cache, so that a few huge pages do not empty it.
  const largest = Math.floor(options.maxBytes / 8)

  return {
    async match(request) {
      const entry = entries.get(request.url)
      if (!entry) return undefined
      const now = options.clock.now().getTime()
      if (now >= entry.expires) {
        drop(request.url)
        return undefined
      }
      entries.delete(request.url)
      entries.set(request.url, entry)
      const headers = new Headers(entry.headers)
      headers.set('age', String(Math.floor((now - entry.storedAt) / 1000)))
      return new Response(entry.body, { status: entry.status, headers })
    },
    async put(request, response) {
      const lifetime = sharedLifetime(response.headers)
      const reader = response.body?.getReader()
      // The copy is read to its end whatever happens, so that the reader's side of the tee never waits for it.
      const chunks: Uint8Array[] = []
      let size = 0
      if (reader) {
        for (let read = await reader.read(); !read.done; read = await reader.read()) {
          size += read.value.byteLength
          if (size <= largest) chunks.push(read.value)
        }
      }
      if (lifetime === 0 || size > largest || options.maxBytes === 0) return
      const body = new Uint8Array(size)
      let at = 0
      for (const chunk of chunks) {
        body.set(chunk, at)
        at += chunk.byteLength
      }
      const now = options.clock.now().getTime()
      drop(request.url)
      entries.set(request.url, {
        status: response.status,
        headers: [...response.headers],
        body,
        storedAt: now,
        expires: now + lifetime * 1000,
      })
      bytes += size
      for (const key of entries.keys()) {
        if (bytes <= options.maxBytes) break
        drop(key)
      }
    },
  }
}
