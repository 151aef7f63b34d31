/**
 * The outside reference of the HTTP benches: a bare Hono app on @hono/node-server, the same
 * versions Masthead runs, with no middleware. Run with plain `node bench/bare-hono.ts` (Node strips
 * the types), so it imports nothing but hono and @hono/node-server.
 *   BARE_HONO_PORT  default 8790
 */
import { serve } from '@hono/node-server'
import { Hono } from 'hono'

const app = new Hono()
app.get('/ping', (c) => c.json({ ok: true }))
// For the webhooks bench: the body read whole, as Masthead reads a webhook's raw body to check its signature.
app.post('/ping', async (c) => {
  await c.req.text()
  return c.json({ ok: true })
})

const port = Number(process.env.BARE_HONO_PORT ?? 8790)
serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, (info) => {
  console.log(`Bare Hono is serving http://127.0.0.1:${info.port}/ping`)
})
