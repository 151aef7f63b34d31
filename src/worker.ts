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
import { describeError, log } from './http/log'
import { runJobs } from './scheduled'
import { createServices, sharedFor, systemClock, type ServiceProvider, type ServiceScope } from './services'

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

/** Services for one invocation (a request, or the Cron Trigger's run), and how to let go of them. */
function scopeFor(env: Record<string, unknown>): ServiceScope {
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

const workerServices: ServiceProvider = (c) => scopeFor(c.env)

/** Real time one Cron Trigger run gives the jobs: within a scheduled invocation's limits, and under its one-minute interval. */
const JOBS_BUDGET_MS = 25_000

/**
 * The Cron Trigger (wrangler.toml [triggers], every minute): runs the due steps of the jobs
 * (src/scheduled.ts). Under `npm run worker:dev`, `curl http://localhost:8787/__scheduled` runs it.
 */
async function scheduled(env: Record<string, unknown>): Promise<void> {
  let scope: ServiceScope
  try {
    scope = scopeFor(env)
  } catch (error) {
    // An invalid configuration: every request says so too; the log names the variable (config_invalid).
    if (error instanceof ConfigError || error instanceof AppError) {
      log('error', 'jobs_not_run', describeError(error))
      return
    }
    throw error
  }
  try {
    const report = await runJobs(scope.services, JOBS_BUDGET_MS)
    if (report.steps > 0) log('info', 'jobs_run', { ...report })
  } catch (error) {
    // The database down or not migrated: the next minute's run tries again.
    log('error', 'jobs_run_failed', describeError(error))
  } finally {
    await scope.release?.()
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
  // Awaited, not left to waitUntil: the invocation lasts as long as its steps, and the run can be waited for.
  scheduled: (_controller: unknown, env: Record<string, unknown>) => scheduled(env),
}
