/**
 * The demo publication (src/dev/demo-origin.ts) for bench/gateway.bench.ts, served as `npm run demo:origin`
 * serves it, but with articles of a chosen length: src/cli/demo-origin.ts has no setting for that.
 *   DEMO_ORIGIN_PORT   default 8788
 *   DEMO_ORIGIN_WORDS  filler words per article, default 1500
 */
import { serve } from '@hono/node-server'
import { createDemoOrigin } from '../src/dev/demo-origin'

const port = Number(process.env.DEMO_ORIGIN_PORT ?? 8788)
const words = Number(process.env.DEMO_ORIGIN_WORDS ?? 1500)
serve({ fetch: createDemoOrigin({ words }).fetch, port, hostname: '127.0.0.1' }, (info) => {
  console.log(`The demo publication is serving http://127.0.0.1:${info.port} (${words} words per article)`)
})
