/**
 * bench/bare-proxy-app.ts on Node (@hono/node-server), for bench/gateway.bench.ts.
 *   ORIGIN_URL           required
 *   BARE_PROXY_PORT      default 8789
 *   BARE_PROXY_HANDLERS  none (default), anonymous or supporter
 */
import { serve } from '@hono/node-server'
import { bareProxyApp, isReader } from './bare-proxy-app'

const origin = process.env.ORIGIN_URL
if (!origin) throw new Error('bare-proxy needs ORIGIN_URL')
const port = Number(process.env.BARE_PROXY_PORT ?? 8789)
const reader = process.env.BARE_PROXY_HANDLERS ?? 'none'
if (!isReader(reader)) throw new Error(`unknown BARE_PROXY_HANDLERS ${reader}`)

serve({ fetch: bareProxyApp(origin, reader).fetch, port, hostname: '127.0.0.1' }, (info) => {
  console.log(`The bare proxy is serving http://127.0.0.1:${info.port} (handlers: ${reader}) in front of ${origin}`)
})
