/**
 * Cloudflare Workers entry (wrangler.toml `main`). Config comes from the
 * Worker's vars and secrets; the database is reached through the Hyperdrive
 * binding HYPERDRIVE (or DATABASE_URL), with a fresh postgres.js client per
 * request, because a Worker may not reuse a socket across requests.
 */
import { createApp } from './app'
import { loadConfig, type Config } from './config'
import { connectPostgres } from './db/client'
import { AppError } from './http/errors'
import { createServices, systemClock, type ServiceProvider } from './services'

interface Hyperdrive {
  connectionString: string
}

// Parsing is pure, so one result per bindings object is safe to keep.
const configs = new WeakMap<object, Config>()

const workerServices: ServiceProvider = (c) => {
  const env = c.env
  let config = configs.get(env)
  if (!config) {
    config = loadConfig(env)
    configs.set(env, config)
  }
  const hyperdrive = env.HYPERDRIVE as Hyperdrive | undefined
  const url = hyperdrive?.connectionString ?? config.DATABASE_URL
  if (!url) {
    throw new AppError('misconfigured', 'No database is configured: bind Hyperdrive as HYPERDRIVE or set DATABASE_URL.')
  }
  const { db, close } = connectPostgres(url, { max: 5, connectTimeout: 5 })
  return { services: createServices({ config, db, clock: systemClock }), release: close }
}

export default createApp(workerServices)
