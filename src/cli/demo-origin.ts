/**
 * `npm run demo:origin`: serves the sample publication site (src/dev/demo-origin.ts), to try
 * gateway mode: `ORIGIN_URL=http://127.0.0.1:8788 npm start`, then open http://127.0.0.1:8787/.
 *   DEMO_ORIGIN_PORT  default 8788
 */
import { serve } from '@hono/node-server'
import { createDemoOrigin } from '../dev/demo-origin'

const port = Number(process.env.DEMO_ORIGIN_PORT ?? 8788)
serve({ fetch: createDemoOrigin().fetch, port, hostname: '127.0.0.1' }, (info) => {
  console.log(`The demo publication is serving http://127.0.0.1:${info.port}`)
  console.log(`Put Masthead in front of it: ORIGIN_URL=http://127.0.0.1:${info.port} npm start`)
})
