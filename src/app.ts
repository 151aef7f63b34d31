import { Hono } from 'hono'
import { requestId } from 'hono/request-id'
import { articlesAdmin } from './admin/articles'
import { staff } from './admin/staff'
import { supporters } from './admin/supporters'
import { tiers } from './admin/tiers'
import { account } from './auth/account'
import { sameOriginOnly, session } from './auth/middleware'
import { auth } from './auth/routes'
import { billing } from './billing/checkout'
import { webhooks } from './billing/webhooks'
import { content } from './content/routes'
import { health } from './health'
import { imports } from './imports/routes'
import { notFound, onError } from './http/errors'
import {
  accessLog,
  bodyLimit,
  neverCacheCookies,
  provideServices,
  secureHeaders,
  stripeFormTargets,
} from './http/middleware'
import type { AppEnv, ServiceProvider } from './services'
import { devMailboxRoutes } from './mail/routes'
import { assets } from './views/assets'

/**
 * The composition root, shared by the Worker entry (src/worker.ts) and the
 * Node entry (src/node.ts). They differ only in the `services` they provide.
 */
export function createApp(services: ServiceProvider) {
  const app = new Hono<AppEnv>()

  app.use(requestId({ limitLength: 64 }))
  app.use(stripeFormTargets)
  app.use(secureHeaders)
  app.use(accessLog)
  app.use(provideServices(services))
  app.use(bodyLimit)
  app.use(sameOriginOnly)
  app.use(neverCacheCookies)
  app.use(session)

  app.route('/', health)
  app.route('/', assets)
  app.route('/', content)
  app.route('/', auth)
  app.route('/', account)
  app.route('/', staff)
  app.route('/', tiers)
  app.route('/', articlesAdmin)
  app.route('/', supporters)
  app.route('/', imports)
  app.route('/', billing)
  app.route('/', webhooks)
  app.route('/', devMailboxRoutes)

  app.notFound(notFound)
  app.onError(onError)
  return app
}

export type App = ReturnType<typeof createApp>
