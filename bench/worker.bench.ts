import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import Stripe from 'stripe'
import { sessionIdOf } from '../src/accounts/sessions'
import { loadConfig } from '../src/config'
import { connectPostgres } from '../src/db/client'
import { seedSupporters } from '../src/dev/seed-supporters'
import { keyringOf } from '../src/privacy/keys'
import { randomId } from '../src/util/random'
import {
  insertAccount,
  processCpu,
  PRODUCTION,
  withScratchDatabase,
  type Benchmark,
  type DatabaseTarget,
  type Row,
} from './lib'
import { bundleWorker, startWorkerd, type WorkerdServer } from './workerd'

const REQUESTS = 300
const WARMUP = 30
const SUPPORTERS = 1_000
const TARGET_CPU_MS = 10

type Request = { label: string; init: () => Promise<{ path: string; init: RequestInit }> }

/** CPU seconds of workerd's process group so far. */
const cpuOf = (server: WorkerdServer) =>
  [...processCpu((_, group) => group === server.processGroup).values()].reduce((a, b) => a + b, 0)

/** Sends `request` WARMUP times, then REQUESTS times one after the other; CPU ms of workerd per request. */
async function measure(server: WorkerdServer, request: Request): Promise<{ cpuMs: number; status: number }> {
  let status = 0
  const send = async () => {
    const { path, init } = await request.init()
    const res = await fetch(`${server.url}${path}`, init)
    await res.arrayBuffer()
    status = res.status
  }
  for (let i = 0; i < WARMUP; i++) await send()
  const before = cpuOf(server)
  for (let i = 0; i < REQUESTS; i++) await send()
  return { cpuMs: ((cpuOf(server) - before) * 1000) / REQUESTS, status }
}

/**
 * CPU time per request of Masthead's Worker in workerd, by request kind, against the free plan's
 * 10 ms, with a bare Hono route in workerd as the outside reference in the same run.
 */
export default {
  name: 'worker',
  description:
    'CPU milliseconds per request of the Worker in workerd (the bundle `npm run worker:build` makes, served by the ' +
    '`workerd` binary alone, without wrangler): a page view, `/api/entitlements`, a Stripe webhook and a page of the ' +
    `supporters list, against a bare Hono route in workerd. Target: each under ${TARGET_CPU_MS} ms of CPU (the free plan's limit).`,
  async run(ctx) {
    const given = ctx.databases.find((t): t is Extract<DatabaseTarget, { kind: 'postgres' }> => t.kind === 'postgres')
    if (!given) {
      ctx.fail('worker needs PostgreSQL: set BENCH_DATABASE_URL or TEST_DATABASE_URL.')
      return []
    }
    const bundles = mkdtempSync(join(tmpdir(), 'masthead-bench-worker-'))
    const rows: Row[] = []
    try {
      const bare = bundleWorker(join(bundles, 'bare'), 'bench/bare-hono-worker.ts')
      const masthead = bundleWorker(join(bundles, 'masthead'))
      const reference = await startWorkerd(bare, {})
      let referenceMs: number
      try {
        referenceMs = (await measure(reference, { label: 'bare', init: async () => ({ path: '/', init: {} }) })).cpuMs
      } finally {
        await reference.stop()
      }
      rows.push({
        Request: 'reference: a bare Hono route in workerd',
        'CPU ms / request': referenceMs.toFixed(2),
        Target: '',
      })

      await withScratchDatabase(given, async (databaseUrl, description) => {
        const config = loadConfig(PRODUCTION)
        const keyring = await keyringOf(config)
        const seeding = connectPostgres(databaseUrl, { max: 1 })
        await seedSupporters(seeding.db, {
          keyring,
          supporters: SUPPORTERS,
          now: new Date(),
          seed: 1,
          log: () => {},
        }).finally(() => seeding.close())
        const editorId = await insertAccount(databaseUrl, 'bench-editor@example.org', 'editor', PRODUCTION)
        const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} })
        const token = randomId()
        await sql`insert into sessions (id, user_id, expires_at)
          values (${sessionIdOf(token)}, ${editorId}, ${new Date(Date.now() + 30 * 86_400_000)})`
        await sql.end()
        const cookie = `masthead_session=${token}`
        const stripe = new Stripe(PRODUCTION.STRIPE_SECRET_KEY!)
        let event = 0
        const requests: Request[] = [
          {
            label: 'GET / (front page, anonymous: the published articles)',
            init: async () => ({ path: '/', init: {} }),
          },
          {
            label: 'GET /api/entitlements (a signed-in editor: session and entitlement facts)',
            init: async () => ({ path: '/api/entitlements', init: { headers: { Cookie: cookie } } }),
          },
          {
            label: 'POST /webhooks/stripe (a signed customer.created event, a new id each time: verified, stored)',
            init: async () => {
              const payload = JSON.stringify({
                id: `evt_bench_${++event}`,
                object: 'event',
                type: 'customer.created',
                created: Math.floor(Date.now() / 1000),
                livemode: false,
                data: { object: { id: `cus_bench_${event}`, object: 'customer' } },
              })
              const signature = await stripe.webhooks.generateTestHeaderStringAsync({
                payload,
                secret: PRODUCTION.STRIPE_WEBHOOK_SECRET!,
              })
              return {
                path: '/webhooks/stripe',
                init: {
                  method: 'POST',
                  headers: { 'Content-Type': 'application/json', 'Stripe-Signature': signature },
                  body: payload,
                },
              }
            },
          },
          {
            label: `GET /api/admin/supporters (an editor, the first 50 of ${SUPPORTERS.toLocaleString('en-US')} supporters, decrypted)`,
            init: async () => ({ path: '/api/admin/supporters', init: { headers: { Cookie: cookie } } }),
          },
        ]
        const worker = await startWorkerd(masthead, { ...PRODUCTION, DATABASE_URL: databaseUrl })
        try {
          for (const request of requests) {
            ctx.log(`${request.label}: ${WARMUP} warm-up, then ${REQUESTS} one at a time`)
            const { cpuMs, status } = await measure(worker, request)
            if (status !== 200)
              ctx.fail(`${request.label} answered ${status}. workerd's output:\n${worker.output().slice(-2000)}`)
            const met = cpuMs < TARGET_CPU_MS
            rows.push({
              Request: request.label,
              'CPU ms / request': cpuMs.toFixed(2),
              Target: `< ${TARGET_CPU_MS} ms: ${met ? 'met' : 'not met'} (${(cpuMs / referenceMs).toFixed(1)}× the bare route)`,
            })
            if (!met) ctx.fail(`${request.label}: ${cpuMs.toFixed(2)} ms of CPU per request`)
          }
        } finally {
          await worker.stop()
        }
        ctx.note(
          `Each request kind: ${WARMUP} warm-up requests, then ${REQUESTS} sent one after the other from the bench ` +
            "process; CPU is user + system time of workerd's process group from /proc over those requests, divided by " +
            'them. That is more than Cloudflare bills as CPU time: it includes workerd parsing HTTP and driving the ' +
            'database socket, which on Cloudflare is the runtime and Hyperdrive, so the figures are an upper bound.',
        )
        ctx.note(
          `Masthead: the bundle of \`wrangler deploy --dry-run\` in production mode (keys of the bench's own), ` +
            `DATABASE_URL a scratch database (${description}). Seeded: ${SUPPORTERS.toLocaleString('en-US')} supporters ` +
            '(src/dev/seed-supporters.ts) and an editor with a session; a postgres.js client per request, as in production.',
        )
      })
    } finally {
      rmSync(bundles, { recursive: true, force: true })
    }
    return rows
  },
} satisfies Benchmark
