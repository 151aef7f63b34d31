/**
 * A stand-in for Cloudflare's cache, for the benches' workerd: workerd sends a Worker's Cache API
 * calls (`caches.default`) to the service named by `cacheApiOutbound`, and run alone it has none
 * (`match` throws "No Cache was configured"). This is that service, on a loopback port, speaking
 * workerd's cache protocol: PUT <key URL> with the response serialised as HTTP/1.1 in the body;
 * GET <key URL> answered with the kept response, or 504 with `CF-Cache-Status: MISS`. A response is
 * kept for its shared lifetime (`s-maxage`, else `max-age`, as src/gateway/page-cache.ts reads it).
 * In memory, for one bench run; no eviction, no Vary, no conditional requests.
 */
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { sharedLifetime } from '../src/gateway/page-cache'

interface Kept {
  status: number
  headers: [string, string][]
  body: Buffer
  expires: number
}

export interface CacheApiServer {
  /** host:port, for workerd's external service. */
  address: string
  stats(): { hits: number; misses: number; puts: number }
  stop(): Promise<void>
}

const bodyOf = async (request: IncomingMessage) => {
  const chunks: Buffer[] = []
  for await (const chunk of request) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/** An HTTP/1.1 response as bytes: status line, headers, a blank line, the body. */
function parseResponse(raw: Buffer): Omit<Kept, 'expires'> | null {
  const end = raw.indexOf('\r\n\r\n')
  if (end < 0) return null
  const [statusLine = '', ...lines] = raw.subarray(0, end).toString('latin1').split('\r\n')
  const status = Number(/^HTTP\/\d(?:\.\d)? (\d{3})/.exec(statusLine)?.[1])
  if (!status) return null
  const headers = lines.flatMap((line): [string, string][] => {
    const colon = line.indexOf(':')
    return colon > 0 ? [[line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()]] : []
  })
  return { status, headers, body: raw.subarray(end + 4) }
}

export async function startCacheApi(): Promise<CacheApiServer> {
  const kept = new Map<string, Kept>()
  const counts = { hits: 0, misses: 0, puts: 0 }
  const server = createServer((request, response) => {
    void (async () => {
      const key = request.url ?? ''
      if (request.method === 'PUT') {
        const parsed = parseResponse(await bodyOf(request))
        const lifetime = parsed ? sharedLifetime(new Headers(parsed.headers)) : 0
        if (parsed && lifetime > 0) kept.set(key, { ...parsed, expires: Date.now() + lifetime * 1000 })
        counts.puts += 1
        response.writeHead(204).end()
        return
      }
      if (request.method === 'GET') {
        const hit = kept.get(key)
        if (hit && hit.expires > Date.now()) {
          counts.hits += 1
          response.writeHead(hit.status, [...hit.headers.flat(), 'cf-cache-status', 'HIT'])
          response.end(hit.body)
          return
        }
        counts.misses += 1
        response.writeHead(504, { 'cf-cache-status': 'MISS' }).end()
        return
      }
      if (request.method === 'PURGE') {
        response.writeHead(kept.delete(key) ? 200 : 404).end()
        return
      }
      response.writeHead(405).end()
    })()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    address: `127.0.0.1:${port}`,
    stats: () => ({ ...counts }),
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  }
}
