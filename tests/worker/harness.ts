import { PGlite } from '@electric-sql/pglite'
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'
import { unstable_startWorker } from 'wrangler'
import { migratePgliteClient, migratePostgresUrl } from '../../src/db/migrate'
import { createServerDatabase } from '../helpers/db'

export interface TestWorker {
  fetch(path: string, init?: RequestInit): Promise<Response>
  /** Runs the Worker's Cron Trigger once (its `scheduled` handler: the due job steps) and waits for it. */
  scheduled(): Promise<void>
  /** The database the Worker reaches, for a test to set up rows. */
  databaseUrl: string
  /** What the Worker wrote to its console, one entry per line. */
  logs(): string[]
  stop(): Promise<void>
}

/** POSTs a signed Stripe event to the Worker's webhook, as Stripe does. */
export function postStripeEvent(worker: TestWorker, payload: string, signature: string): Promise<Response> {
  return worker.fetch('/webhooks/stripe', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Stripe-Signature': signature },
    body: payload,
  })
}

/**
 * The Stripe stand-in's `deliver`: each signed event to the Worker, as Stripe would. The Worker is
 * started after the stand-in (it needs the stand-in's address), so it is read when an event goes.
 */
export function deliverTo(worker: () => TestWorker) {
  return async (payload: string, signature: string) => {
    const res = await postStripeEvent(worker(), payload, signature)
    await res.arrayBuffer()
    return { status: res.status }
  }
}

/**
 * postgres.js inside workerd reports a socket closed under it after the
 * response (porsager/postgres#1202). These two messages, and only these,
 * are expected noise.
 */
const KNOWN_CLOSE_ERRORS = ['Stream was cancelled', 'This socket has been closed']

/**
 * A database the Worker can reach over TCP: a fresh database on the
 * TEST_DATABASE_URL server, or PGlite served over the Postgres wire protocol.
 * Hyperdrive's local connection string needs a password, even for trust auth.
 */
export async function startDatabase(): Promise<{ url: string; stop(): Promise<void> }> {
  const serverUrl = process.env.TEST_DATABASE_URL
  if (serverUrl) {
    const database = await createServerDatabase(serverUrl)
    await migratePostgresUrl(database.url)
    const url = new URL(database.url)
    if (!url.password) url.password = 'unused-under-trust-auth'
    return { url: url.toString(), stop: database.drop }
  }
  const pglite = await PGlite.create({ extensions: { pg_trgm } })
  await migratePgliteClient(pglite)
  const server = new PGLiteSocketServer({ db: pglite, host: '127.0.0.1', port: 0, maxConnections: 10 })
  await server.start()
  return {
    url: `postgres://postgres:postgres@${server.getServerConn()}/postgres?sslmode=disable`,
    stop: async () => {
      await server.stop()
      await pglite.close()
    },
  }
}

export async function startTestWorker(vars: Record<string, string> = {}): Promise<TestWorker> {
  process.env.WRANGLER_SEND_METRICS = 'false'
  process.env.CLOUDFLARE_CF_FETCH_ENABLED = 'false'
  const database = await startDatabase()
  process.env.CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE = database.url

  const lines: string[] = []
  const unexpected: string[] = []
  const bindings = Object.fromEntries(
    Object.entries({ APP_ENV: 'test', APP_URL: 'http://localhost:8787', ...vars }).map(([k, v]) => [
      k,
      { type: 'plain_text' as const, value: v },
    ]),
  )
  const worker = await unstable_startWorker({
    config: 'wrangler.toml',
    bindings,
    dev: {
      server: { hostname: '127.0.0.1', port: 0 },
      // GET /__scheduled runs the Cron Trigger, as `npm run worker:dev` (wrangler dev --test-scheduled) offers.
      testScheduled: true,
      inspector: false,
      persist: false,
      logLevel: 'warn',
      structuredLogsHandler: (log: { level: string; message: string }) => {
        for (const line of String(log.message).split('\n').filter(Boolean)) {
          if (process.env.DEBUG_WORKER_LOGS) console.warn(`[${log.level}] ${line}`)
          if (KNOWN_CLOSE_ERRORS.some((known) => line.includes(known))) continue
          lines.push(line)
          if (log.level === 'error' && !line.startsWith('{')) unexpected.push(line)
        }
      },
    },
  })
  await worker.ready
  const base = await worker.url

  return {
    fetch: (path, init) => fetch(new URL(path, base), init),
    scheduled: async () => {
      const res = await fetch(new URL('/__scheduled?cron=*+*+*+*+*', base))
      const text = await res.text()
      if (res.status !== 200) throw new Error(`the Cron Trigger answered ${res.status}: ${text}`)
    },
    databaseUrl: database.url,
    logs: () => [...lines],
    stop: async () => {
      await worker.dispose()
      await database.stop()
      if (unexpected.length > 0) throw new Error(`the Worker logged unexpected errors:\n${unexpected.join('\n')}`)
    },
  }
}
