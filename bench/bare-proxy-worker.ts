/**
 * bench/bare-proxy-app.ts as a Worker, for the workerd half of bench/gateway.bench.ts, which bundles it
 * with wrangler as Masthead's Worker is bundled. Bindings: ORIGIN_URL, BARE_PROXY_HANDLERS.
 */
import type { Hono } from 'hono'
import { bareProxyApp, isReader } from './bare-proxy-app'

const apps = new WeakMap<object, Hono>()

export default {
  fetch(request: Request, env: Record<string, string>): Response | Promise<Response> {
    let app = apps.get(env)
    if (!app) {
      const reader = env.BARE_PROXY_HANDLERS ?? 'none'
      if (!env.ORIGIN_URL || !isReader(reader))
        throw new Error('bare proxy Worker: set ORIGIN_URL and BARE_PROXY_HANDLERS')
      app = bareProxyApp(env.ORIGIN_URL, reader)
      apps.set(env, app)
    }
    return app.fetch(request, env)
  },
}
