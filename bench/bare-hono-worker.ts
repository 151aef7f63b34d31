/**
 * The outside reference of bench/worker.bench.ts: a bare Hono app in workerd, bundled by wrangler
 * as Masthead's Worker is, answering every request with a few bytes of text and nothing else.
 */
import { Hono } from 'hono'

export default new Hono().all('*', (c) => c.text('ok'))
