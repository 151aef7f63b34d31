/**
 * Cloudflare Workers entry (wrangler.toml `main`). Config comes from the
 * Worker's vars and secrets; the database is reached through the Hyperdrive
 * binding HYPERDRIVE (or DATABASE_URL), with a fresh postgres.js client per
 * request that uses it, because a Worker may not reuse a socket across requests.
 */
import type { ExecutionContext } from 'hono'
import { appOptions, createApp, type App } from './app'
import { ConfigError, loadConfig, type Config } from './config'
import { connectPostgres, type DatabaseHandle } from './db/client'
import { AppError } from './http/errors'
import { createServices, sharedFor, systemClock, type ServiceProvider } from './services'

interface Hyperdrive {
  connectionString: string
}

// Parsing is pure, so one result per bindings object is safe to keep.
const configs = new WeakMap<object, Config>()

function configOf(env: Record<string, unknown>): Config {
  let config = configs.get(env)
  if (!config) {
    config = loadConfig(env)
    configs.set(env, config)
  }
  return config
}

const workerServices: ServiceProvider = (c) => {
  const env = c.env
  const config = configOf(env)
  const hyperdrive = env.HYPERDRIVE as Hyperdrive | undefined
  const url = hyperdrive?.connectionString ?? config.DATABASE_URL
  if (!url) {
    throw new AppError('misconfigured', 'No database is configured: bind Hyperdrive as HYPERDRIVE or set DATABASE_URL.')
  }
  // Opened on first use: a request that reads nothing (a page view with its cookie, an asset) opens no connection.
  let handle: DatabaseHandle | undefined
  // Workers allow 6 connections open at once per invocation, sockets and fetches together: 3 to the
  // database (no request runs more statements at once) leaves room for Stripe and the mail provider.
  const open = () => (handle ??= connectPostgres(url, { max: 3, connectTimeout: 5 })).db
  return {
    services: createServices({ config, db: open, clock: systemClock, shared: sharedFor(config) }),
    // Only a request that opened the database has something to close: a page view streams without waiting for it.
    get release() {
      const opened = handle
      return opened ? () => opened.close() : undefined
    },
  }
}

// The app's shape (MASTHEAD_PATH, gateway mode) comes from the config, which the Worker learns
// with its first request: one app per bindings object. An invalid config gets the plain app,
// whose services then fail to build and answer 500 `misconfigured`, as every request should.
const apps = new WeakMap<object, App>()
const plainApp = createApp(workerServices)

function appFor(env: Record<string, unknown>): App {
  let app = apps.get(env)
  if (!app) {
    try {
      app = createApp(workerServices, appOptions(configOf(env)))
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error
      return plainApp
    }
    apps.set(env, app)
  }
  return app
}

export default {
  fetch: (request: Request, env: Record<string, unknown>, ctx: ExecutionContext) =>
    appFor(env).fetch(request, env, ctx),
}
