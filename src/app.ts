import { Hono } from 'hono'
import { requestId } from 'hono/request-id'
import { articlesAdmin } from './articles/editor-routes'
import { staff } from './staff/routes'
import { supporters } from './supporters/routes'
import { tiers } from './billing/tiers/routes'
import { account } from './accounts/account-routes'
import { sameOriginOnly, session } from './accounts/session'
import { auth } from './accounts/sign-in-routes'
import { billing } from './billing/checkout-routes'
import { webhooks } from './billing/webhooks/routes'
import { content } from './articles/routes'
import { health } from './http/health'
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
import { devMailboxRoutes } from './mail/dev-mailbox'
import { assets } from './ui/stylesheet'

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
