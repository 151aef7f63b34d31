import { appOptions, createApp } from '../../src/app'
import { runJobs } from '../../src/scheduled'
import { loadConfig } from '../../src/config'
import type { EdgeCache } from '../../src/gateway/edge-cache'
import { createServices, type Clock, type Services } from '../../src/services'
import { createTestDatabase, type TestDatabase } from './db'

/** A clock that stands still until the test moves it. */
export function fixedClock(start = '2026-11-25T12:00:00Z') {
  let now = new Date(start)
  return {
    now: () => new Date(now),
    set: (iso: string) => void (now = new Date(iso)),
    advance: (ms: number) => void (now = new Date(now.getTime() + ms)),
  } satisfies Clock & Record<string, unknown>
}

export interface TestApp {
  app: ReturnType<typeof createApp>
  services: Services
  database: TestDatabase
  close(): Promise<void>
}

/** The real app on a real, fresh database, with test config and a fixed clock (served under `basePath` if given). */
export async function createTestApp(
  options: {
    env?: Record<string, string>
    clock?: Clock
    fetch?: typeof fetch
    basePath?: string
    /** The Node server's cache of rewritten pages, for gateway mode (src/gateway/page-cache.ts). */
    pageCache?: EdgeCache
  } = {},
): Promise<TestApp> {
  const database = await createTestDatabase()
  const config = loadConfig({ APP_ENV: 'test', APP_URL: 'http://localhost:8787', ...options.env })
  const services = createServices({
    config,
    db: database.db,
    clock: options.clock ?? fixedClock(),
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.pageCache ? { pageCache: options.pageCache } : {}),
  })
  const app = createApp(() => ({ services }), {
    ...appOptions(config),
    ...(options.basePath === undefined ? {} : { basePath: options.basePath }),
  })
  return { app, services, database, close: database.close }
}

/**
 * Runs the due steps of the background jobs (src/jobs) with the app's services, as the Node
 * server's loop and the Worker's Cron Trigger do, until none is due at the test clock's time.
 */
export function runDueJobs(t: Pick<TestApp, 'services'>) {
  return runJobs(t.services, 60_000)
}
