import { Hono } from 'hono'
import { requestId } from 'hono/request-id'
import { content } from './content/routes'
import { health } from './health'
import { notFound, onError } from './http/errors'
import { accessLog, bodyLimit, provideServices, secureHeaders } from './http/middleware'
import type { AppEnv, ServiceProvider } from './services'
import { assets } from './views/assets'

/**
 * The composition root, shared by the Worker entry (src/worker.ts) and the
 * Node entry (src/node.ts). They differ only in the `services` they provide.
 */
export function createApp(services: ServiceProvider) {
  const app = new Hono<AppEnv>()

  app.use(requestId({ limitLength: 64 }))
  app.use(secureHeaders)
  app.use(accessLog)
  app.use(provideServices(services))
  app.use(bodyLimit)

  app.route('/', health)
  app.route('/', assets)
  app.route('/', content)

  app.notFound(notFound)
  app.onError(onError)
  return app
}

export type App = ReturnType<typeof createApp>
