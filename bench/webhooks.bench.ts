import { connect, type Socket } from 'node:net'
import { cpus } from 'node:os'
import { performance } from 'node:perf_hooks'
import { eq } from 'drizzle-orm'
import postgres from 'postgres'
import Stripe from 'stripe'
import { startStripeStandIn, type StripeStandIn } from '../src/dev/stripe-stand-in'
import { syncAllToStripe } from '../src/billing/tiers/stripe-sync'
import { seedDemoTiers } from '../src/dev/demo-tiers'
import { loadConfig } from '../src/config'
import { connectPostgres, type Database } from '../src/db/client'
import { tiers } from '../src/db/schema'
import { createServices } from '../src/services'
import {
  BARE_HONO,
  START_COMMAND,
  cpuMeter,
  honoVersions,
  withBareHono,
  type CpuPerEvent,
  packageVersion,
  withServer,
  type BenchContext,
  type Benchmark,
  type DatabaseTarget,
  type Helper,
  type Row,
  type RunningServer,
} from './lib'

/** Members who check out; their later lifecycle steps bring the workload past 10,000 events. */
const MEMBERS = 1_200
/** Webhook requests in flight at once. BENCH_WEBHOOKS_CONCURRENCY overrides it, for trying others. */
const DEFAULT_CONCURRENCY = 16
/** Rounds, each from nothing; the table gives each figure's median. BENCH_WEBHOOKS_ROUNDS overrides it. */
const DEFAULT_ROUNDS = 3
/** The first share of the events is delivered as a warm-up and left out of the figures. */
const WARMUP_SHARE = 0.05
const TARGET_EVENTS_PER_SECOND = 1_500
/** Stripe's retries of events already stored: the signature check and a statement that stores nothing. */
const TARGET_DUPLICATES_PER_SECOND = 2_500
/** Bounds a wedged run: a delivery pass that takes longer than this is abandoned. */
const PASS_TIMEOUT_MS = 300_000
const REQUEST_TIMEOUT_MS = 30_000
/** Checkout sessions created through the SDK at once while building the workload. */
const SETUP_PARALLELISM = 8

interface Delivery {
  /** Wall time of the whole pass. */
  seconds: number
  /** One per request, in milliseconds. */
  latencies: number[]
  non2xx: number
  errors: number
  /** The server's `outcome` field: processed, ignored or duplicate. */
  outcomes: Record<string, number>
  /** The first few failures, for the report. */
  problems: string[]
}

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!

const round1 = (ms: number) => Math.round(ms * 10) / 10

const BARE_PATH = '/ping'

/**
 * One keep-alive HTTP/1.1 connection that sends one request at a time and
 * reads answers with a Content-Length (as the server gives them). Lighter
 * than node:http's client: the load generator shares this process and the
 * two cores with PostgreSQL and the server it measures, so every
 * microsecond it spends is taken from them.
 */
class Connection {
  private readonly socket: Socket
  private buffered: Buffer = Buffer.alloc(0)
  private waiting: { resolve: (r: { status: number; body: string }) => void; reject: (e: Error) => void } | null = null
  private failure: Error | null = null

  constructor(port: number) {
    this.socket = connect({ host: '127.0.0.1', port, noDelay: true })
    this.socket.on('data', (chunk: Buffer) => {
      this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk
      this.answer()
    })
    const fail = (error: Error) => {
      this.failure ??= error
      this.waiting?.reject(error)
      this.waiting = null
    }
    this.socket.on('error', fail)
    this.socket.on('close', () => fail(new Error('the server closed the connection')))
    this.socket.setTimeout(REQUEST_TIMEOUT_MS, () =>
      this.socket.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)),
    )
  }

  post(path: string, headers: Record<string, string>, body: Buffer): Promise<{ status: number; body: string }> {
    if (this.failure) return Promise.reject(this.failure)
    const head = [`POST ${path} HTTP/1.1`, 'Host: 127.0.0.1', `Content-Length: ${body.length}`]
    for (const [name, value] of Object.entries(headers)) head.push(`${name}: ${value}`)
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject }
      this.socket.write(Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), body]))
    })
  }

  private answer() {
    const headEnd = this.buffered.indexOf('\r\n\r\n')
    if (headEnd < 0 || !this.waiting) return
    const head = this.buffered.subarray(0, headEnd).toString('latin1')
    const status = Number(head.slice(9, 12))
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1]
    if (length === undefined) {
      this.socket.destroy(new Error(`an answer without Content-Length: ${head.split('\r\n')[0]}`))
      return
    }
    const end = headEnd + 4 + Number(length)
    if (this.buffered.length < end) return
    const body = this.buffered.subarray(headEnd + 4, end).toString('utf8')
    this.buffered = this.buffered.subarray(end)
    const { resolve } = this.waiting
    this.waiting = null
    resolve({ status, body })
  }

  close() {
    this.socket.destroy()
  }
}

/**
 * POSTs each payload once to /webhooks/stripe (or `path`), signed when it is sent, with
 * `concurrency` requests in flight on as many keep-alive connections.
 */
async function deliver(
  serverUrl: string,
  standIn: StripeStandIn,
  payloads: string[],
  concurrency: number,
  path = '/webhooks/stripe',
): Promise<Delivery> {
  const url = new URL(path, serverUrl)
  if (url.hostname !== '127.0.0.1') throw new Error(`refusing to deliver to ${url}: benchmarks only target 127.0.0.1`)
  const result: Delivery = { seconds: 0, latencies: [], non2xx: 0, errors: 0, outcomes: {}, problems: [] }
  const deadline = Date.now() + PASS_TIMEOUT_MS
  let next = 0

  const worker = async () => {
    let connection = new Connection(Number(url.port))
    try {
      while (next < payloads.length && Date.now() < deadline) {
        const payload = payloads[next++]!
        const started = performance.now()
        try {
          const { status, body } = await connection.post(
            url.pathname,
            {
              'Content-Type': 'application/json',
              // Signed now: the events themselves were made on the workload's clock, weeks ago.
              'Stripe-Signature': standIn.sign(payload, Math.floor(Date.now() / 1000)),
            },
            Buffer.from(payload, 'utf8'),
          )
          result.latencies.push(performance.now() - started)
          if (status < 200 || status > 299) {
            result.non2xx++
            if (result.problems.length < 5) result.problems.push(`HTTP ${status}: ${body.slice(0, 300)}`)
            continue
          }
          const outcome = (JSON.parse(body) as { outcome?: string }).outcome ?? 'none'
          result.outcomes[outcome] = (result.outcomes[outcome] ?? 0) + 1
        } catch (error) {
          result.errors++
          if (result.problems.length < 5) result.problems.push(error instanceof Error ? error.message : String(error))
          connection.close()
          connection = new Connection(Number(url.port))
        }
      }
    } finally {
      connection.close()
    }
  }

  const started = performance.now()
  await Promise.all(Array.from({ length: concurrency }, worker))
  result.seconds = (performance.now() - started) / 1000
  if (next < payloads.length)
    result.problems.push(`the pass was abandoned after ${PASS_TIMEOUT_MS / 1000} s with ${next} events sent`)
  result.latencies.sort((a, b) => a - b)
  return result
}

/** Which members do what after checking out, by member number, so the mix is the same on every run. */
const RECOVERS = (i: number) => i % 4 === 0 // a payment fails, then succeeds on retry
const STAYS_PAST_DUE = (i: number) => i % 10 === 1 // a payment fails and stays failed
const WAVERS = (i: number) => i % 20 === 3 // sets cancel-at-period-end, then undoes it
const CANCELS = (i: number) => i % 8 === 2 // sets cancel-at-period-end
const ENDS = (i: number) => i % 16 === 2 // of those, half end before the period does

interface Workload {
  payloads: string[]
  /** How many events of each type, most frequent first. */
  mix: [string, number][]
}

const membersWho = (rule: (i: number) => boolean) => Array.from({ length: MEMBERS }, (_, i) => i).filter(rule).length

const DAY_MS = 86_400_000

/**
 * The stand-in's clock while the workload is made: it starts 90 days ago and
 * the bench moves it on between lifecycle steps, so that events carry the
 * `created` times Stripe would give them (a renewal a month after the
 * checkout, a retry days after a failure) rather than all falling within the
 * few seconds it takes to make them.
 */
function workloadClock() {
  let now = Date.now() - 90 * DAY_MS
  return { now: () => new Date(now), advance: (ms: number) => void (now += ms) }
}

/**
 * Real traffic, made through the real `stripe` SDK and the stand-in's
 * lifecycle controls: every member checks out (customer.created,
 * checkout.session.completed, customer.subscription.created, invoice.paid),
 * then two months pass with renewals, failed and recovered payments, and
 * cancellations. The stand-in only records the events (`deliver: null`).
 */
async function makeWorkload(
  standIn: StripeStandIn,
  clock: Pick<ReturnType<typeof workloadClock>, 'advance'>,
  priceId: string,
  emailPrefix: string,
  log: (message: string) => void,
  /** The first event of the stand-in's log to include: the first workload also holds the catalogue sync's. */
  since = standIn.events().length,
): Promise<Workload> {
  const stripe = new Stripe(standIn.secretKey, standIn.sdkOptions)
  const subscriptionIds: string[] = new Array<string>(MEMBERS)
  let next = 0
  const checkOut = async () => {
    while (next < MEMBERS) {
      const i = next++
      const session = await stripe.checkout.sessions.create({
        mode: 'subscription',
        customer_email: `${emailPrefix}-${i}@example.invalid`,
        line_items: [{ price: priceId, quantity: 1 }],
        metadata: { masthead: '1', kind: 'tier', tier_id: 'reader' },
        subscription_data: { metadata: { masthead: '1', tier_id: 'reader' } },
        success_url: 'http://127.0.0.1/ok',
        cancel_url: 'http://127.0.0.1/no',
      })
      await standIn.completeCheckout(session.id)
      const completed = await stripe.checkout.sessions.retrieve(session.id)
      if (typeof completed.subscription !== 'string') throw new Error(`checkout ${session.id} made no subscription`)
      subscriptionIds[i] = completed.subscription
    }
  }
  await Promise.all(Array.from({ length: SETUP_PARALLELISM }, checkOut))
  log(`${MEMBERS} checkouts completed; playing two months of renewals, failures and cancellations`)

  // One step for every member at a time, as the months go by: `after` is the time since the previous step.
  const each = async (after: number, rule: (i: number) => boolean, step: (id: string) => Promise<void>) => {
    clock.advance(after)
    for (const [i, id] of subscriptionIds.entries()) if (rule(i)) await step(id)
  }
  await each(
    30 * DAY_MS,
    () => true,
    (id) => standIn.renew(id),
  )
  await each(DAY_MS, RECOVERS, (id) => standIn.failPayment(id))
  await each(2 * DAY_MS, RECOVERS, (id) => standIn.recoverPayment(id))
  await each(DAY_MS, STAYS_PAST_DUE, (id) => standIn.failPayment(id))
  // Only active subscriptions renew.
  await each(
    26 * DAY_MS,
    (i) => !STAYS_PAST_DUE(i),
    (id) => standIn.renew(id),
  )
  await each(DAY_MS, WAVERS, (id) => standIn.setCancelAtPeriodEnd(id, true))
  await each(DAY_MS, WAVERS, (id) => standIn.setCancelAtPeriodEnd(id, false))
  await each(DAY_MS, CANCELS, (id) => standIn.setCancelAtPeriodEnd(id, true))
  await each(DAY_MS, ENDS, (id) => standIn.endSubscription(id))

  const events = standIn.events().slice(since)
  const counts = new Map<string, number>()
  for (const event of events) counts.set(event.type, (counts.get(event.type) ?? 0) + 1)
  return {
    payloads: events.map((event) => JSON.stringify(event)),
    mix: [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])),
  }
}

async function count(db: postgres.Sql, table: string): Promise<number> {
  const [row] = await db.unsafe<{ n: string }[]>(`select count(*) as n from ${table}`)
  return Number(row?.n ?? 0)
}

/** Milliseconds until no account waits for a place in the name order (null: still waiting after 60 s). */
async function untilPlaced(db: postgres.Sql): Promise<number | null> {
  const start = performance.now()
  while ((await count(db, 'users where name_order collate "C" = \'\'')) > 0) {
    if (performance.now() - start > 60_000) return null
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return performance.now() - start
}

/** USER_HZ: the unit of utime and stime in /proc/<pid>/stat on Linux. */

const micro = (ms: number | null) => (ms === null ? 'n/a' : Math.round(ms * 1000))
const round2 = (value: number) => Math.round(value * 100) / 100
const rateOf = (d: Delivery) => d.latencies.length / d.seconds

/**
 * The rounds' tables as one: each numeric cell the median of that cell across the rounds (the ratio to bare
 * Hono too, each round's own); text cells from the first round.
 */
function medianRows(rounds: Row[][]): Row[] {
  const mid = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b)
    const half = sorted.length >> 1
    return sorted.length % 2 ? sorted[half]! : (sorted[half - 1]! + sorted[half]!) / 2
  }
  return rounds[0]!.map((row, i) =>
    Object.fromEntries(
      Object.entries(row).map(([column, value]) => {
        const values = rounds.map((r) => r[i]![column])
        if (!values.every((v) => v !== 'n/a' && v !== '' && Number.isFinite(Number(v)))) return [column, value]
        const m = mid(values.map(Number))
        return [column, typeof value === 'string' ? m.toFixed(2) : Math.round(m * 10) / 10]
      }),
    ),
  )
}

function describe(pass: string, concurrency: number, d: Delivery, cpu: CpuPerEvent, bare: Delivery | null): Row {
  return {
    Pass: pass,
    Concurrency: concurrency,
    Events: d.latencies.length,
    'Events/s': Math.round(rateOf(d)),
    'vs bare Hono': bare ? (rateOf(d) / rateOf(bare)).toFixed(2) : 'n/a',
    'Latency p50 (ms)': round1(percentile(d.latencies, 50)),
    'Latency p99 (ms)': round1(percentile(d.latencies, 99)),
    'Non-2xx': d.non2xx,
    Errors: d.errors,
    'CPU µs/event: server': micro(cpu.server),
    'CPU µs/event: PostgreSQL': micro(cpu.postgres),
    'CPU µs/event: stand-in + load': micro(cpu.bench),
  }
}

export default {
  name: 'webhooks',
  description:
    'Signed Stripe webhook events per second through `POST /webhooks/stripe` on PostgreSQL: signature check, then one ' +
    'statement storing the event and its effects, taken from the event itself; against a bare Hono `POST /ping` ' +
    'reading the same bodies, in the same run. Targets: first delivery 1,500 events/s; redelivery (all ' +
    'duplicates) 2,500 events/s.',
  async run(ctx) {
    const given = ctx.databases.find((t): t is Extract<DatabaseTarget, { kind: 'postgres' }> => t.kind === 'postgres')
    if (!given) {
      ctx.fail(
        'webhooks needs PostgreSQL: set BENCH_DATABASE_URL or TEST_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres).',
      )
      return []
    }
    // Always a scratch database on that server: the run fills tables and checks their counts afterwards.
    const target: DatabaseTarget = { ...given, scratch: true }
    const concurrency = Number(process.env.BENCH_WEBHOOKS_CONCURRENCY ?? DEFAULT_CONCURRENCY)
    if (!Number.isInteger(concurrency) || concurrency < 1)
      throw new Error('BENCH_WEBHOOKS_CONCURRENCY must be a whole number ≥ 1')

    const rounds = Number(process.env.BENCH_WEBHOOKS_ROUNDS ?? DEFAULT_ROUNDS)
    if (!Number.isInteger(rounds) || rounds < 1) throw new Error('BENCH_WEBHOOKS_ROUNDS must be a whole number ≥ 1')

    // Each round from nothing: a new stand-in, bare Hono, server and scratch database, the same workload made again.
    // Only the last round's notes are kept (the counts and checks are the same every round); the table is the median.
    const perRound: Row[][] = []
    for (let round = 1; round <= rounds; round++) {
      ctx.log(`round ${round} of ${rounds}`)
      const rows: Row[] = []
      const roundCtx: BenchContext = round === rounds ? ctx : { ...ctx, note: () => {} }
      const clock = workloadClock()
      const standIn = await startStripeStandIn({ deliver: null, now: clock.now })
      try {
        const stripeEnv = {
          STRIPE_SECRET_KEY: standIn.secretKey,
          STRIPE_WEBHOOK_SECRET: standIn.webhookSecret,
          STRIPE_API_URL: standIn.url,
        }
        await withBareHono((bare) =>
          withServer(
            target,
            async (server) => {
              if (!server.databaseUrl) throw new Error('the server was started without a PostgreSQL database')
              await measure(roundCtx, server, bare, given.source, standIn, clock, concurrency, stripeEnv, rows)
            },
            { env: stripeEnv },
          ),
        )
      } finally {
        await standIn.close()
      }
      perRound.push(rows)
    }
    const rows = medianRows(perRound)
    ctx.note(
      `Rounds: ${rounds}, each from nothing (a new stand-in, bare Hono, server and scratch database, the workload made again); ` +
        'every figure in the table is the median of the rounds, each column on its own. Events/s by round: ' +
        perRound[0]!
          .map(
            (row, i) =>
              `${row.Pass}: ${perRound.map((r) => Number(r[i]!['Events/s']).toLocaleString('en-US')).join(', ')}`,
          )
          .join('; ') +
        '.',
    )
    const median = (pass: string) => Number(rows.find((r) => r.Pass === pass)?.['Events/s'] ?? 0)
    const [first, again] = [median('first delivery'), median('redelivery (all duplicates)')]
    ctx.note(
      `Targets, on the medians: ${TARGET_EVENTS_PER_SECOND.toLocaleString('en-US')} events/s on first delivery: ` +
        `${first >= TARGET_EVENTS_PER_SECOND ? 'met' : 'not met'} (${first.toLocaleString('en-US')}); ` +
        `${TARGET_DUPLICATES_PER_SECOND.toLocaleString('en-US')} events/s on redelivery, every event a duplicate: ` +
        `${again >= TARGET_DUPLICATES_PER_SECOND ? 'met' : 'not met'} (${again.toLocaleString('en-US')}).`,
    )
    return rows
  },
} satisfies Benchmark

async function measure(
  ctx: BenchContext,
  server: RunningServer,
  bare: Helper,
  source: string,
  standIn: StripeStandIn,
  clock: ReturnType<typeof workloadClock>,
  concurrency: number,
  stripeEnv: Record<string, string>,
  rows: Row[],
): Promise<void> {
  const databaseUrl = server.databaseUrl!
  const handle = connectPostgres(databaseUrl, { max: 2 })
  const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} })
  try {
    const db: Database = handle.db
    const [{ server_version: version } = { server_version: '?' }] = await admin<
      { server_version: string }[]
    >`show server_version`
    const [{ synchronous_commit: syncCommit } = { synchronous_commit: '?' }] = await admin<
      { synchronous_commit: string }[]
    >`show synchronous_commit`

    // The tiers exist in the database and, with their prices, in the stand-in.
    await seedDemoTiers(db, new Date())
    const config = loadConfig({ ...process.env, ...stripeEnv, DATABASE_URL: databaseUrl })
    const poolSize = config.DATABASE_POOL_SIZE
    await syncAllToStripe(createServices({ config, db }))
    const [reader] = await db.select().from(tiers).where(eq(tiers.id, 'reader'))
    if (!reader?.stripeMonthlyPriceId) throw new Error('the reader tier has no Stripe monthly price after the sync')

    ctx.log(`building the workload: ${MEMBERS} members through the stripe SDK and the stand-in`)
    const setupStarted = performance.now()
    const workload = await makeWorkload(standIn, clock, reader.stripeMonthlyPriceId, 'bench', ctx.log, 0)
    const { payloads, mix } = workload
    const setupSeconds = (performance.now() - setupStarted) / 1000
    const total = payloads.length
    const warmup = Math.round(total * WARMUP_SHARE)
    const bytes = payloads.reduce((sum, p) => sum + Buffer.byteLength(p), 0)
    ctx.log(
      `${total} events (${(bytes / total / 1024).toFixed(1)} KiB each on average) made in ${setupSeconds.toFixed(1)} s`,
    )

    const fail = (what: string, d: Delivery) => {
      if (d.non2xx === 0 && d.errors === 0 && !d.problems.length) return false
      ctx.fail(
        `${what}: ${d.non2xx} non-2xx answers and ${d.errors} errors. First problems:\n` +
          `${d.problems.join('\n')}\nServer output:\n${server.logTail(20)}`,
      )
      return true
    }

    const host = new URL(databaseUrl).hostname
    const local = host === '127.0.0.1' || host === 'localhost' || host === '::1' || host === '[::1]'
    const meter = cpuMeter(server, admin, local)
    const bareMeter = cpuMeter(bare, admin, local)

    // The reference: bare Hono reading the same bodies, sent by the same client the same way, just before.
    ctx.log(`bare Hono POST /ping: ${warmup} warm-up bodies, then ${total - warmup}, ${concurrency} in flight`)
    const bareWarm = await deliver(bare.url, standIn, payloads.slice(0, warmup), concurrency, BARE_PATH)
    if (fail('bare Hono warm-up', bareWarm)) return
    const beforeBare = await bareMeter.snapshot()
    const bareRun = await deliver(bare.url, standIn, payloads.slice(warmup), concurrency, BARE_PATH)
    const bareCpu = { ...bareMeter.perEvent(beforeBare, await bareMeter.snapshot(), bareRun.latencies.length) }
    bareCpu.postgres = null
    if (fail('bare Hono', bareRun)) return
    rows.push(
      describe(`reference: bare Hono POST ${BARE_PATH}, the same bodies`, concurrency, bareRun, bareCpu, bareRun),
    )

    // Pass 1: every event once, in creation order; the first 5 % warm up the JIT, pools and caches.
    ctx.log(`first delivery: ${warmup} warm-up events, then ${total - warmup}, ${concurrency} in flight`)
    const warm = await deliver(server.url, standIn, payloads.slice(0, warmup), concurrency)
    if (fail('warm-up', warm)) return
    const beforeFirst = await meter.snapshot()
    const readsBefore = standIn.apiRequests()
    const first = await deliver(server.url, standIn, payloads.slice(warmup), concurrency)
    const stripeReads = standIn.apiRequests() - readsBefore
    // A signed-out checkout's account is placed in the name order by the server's job loop, after the answer:
    // the pass's CPU is read once every account has its place, so that it includes the placing.
    const placingLag = await untilPlaced(admin)
    if (placingLag === null)
      ctx.fail('accounts were still waiting for a place in the name order 60 s after the first delivery')
    const firstCpu = meter.perEvent(beforeFirst, await meter.snapshot(), first.latencies.length)
    rows.push(describe('first delivery', concurrency, first, firstCpu, bareRun))
    if (fail('first delivery', first)) return

    // Every event is stored once, and the state is Stripe's final state whatever order the events were handled in.
    const paidIn = (w: Workload) => w.mix.find(([type]) => type === 'invoice.paid')?.[1] ?? 0
    const checkStored = async (after: string, workloads: Workload[]) => {
      const n = workloads.length
      const expected: [string, string, number][] = [
        ['stripe_events', 'stripe_events', workloads.reduce((sum, w) => sum + w.payloads.length, 0)],
        ['subscriptions', 'subscriptions', n * MEMBERS],
        ['past-due subscriptions', "subscriptions where status = 'past_due'", n * membersWho(STAYS_PAST_DUE)],
        ['canceled subscriptions', "subscriptions where status = 'canceled'", n * membersWho(ENDS)],
        ['subscriptions set to cancel', 'subscriptions where cancel_at_period_end', n * membersWho(CANCELS)],
        ['payments', 'payments', workloads.reduce((sum, w) => sum + paidIn(w), 0)],
        ['customer links', 'stripe_customers', n * MEMBERS],
        ['accounts', 'users', n * MEMBERS],
        ['accounts without a place in the name order', 'users where name_order collate "C" = \'\'', 0],
      ]
      const found: string[] = []
      for (const [label, table, want] of expected) {
        const got = await count(admin, table)
        found.push(`${label} ${got.toLocaleString('en-US')}`)
        if (got !== want) ctx.fail(`after ${after}, ${label}: ${got} rows where ${want} were expected`)
      }
      return found
    }
    const stored = await checkStored('the first delivery', [workload])
    const mails = await count(admin, 'dev_mailbox')
    const outcomes = { ...warm.outcomes }
    for (const [k, v] of Object.entries(first.outcomes)) outcomes[k] = (outcomes[k] ?? 0) + v
    if (outcomes.duplicate) ctx.fail(`${outcomes.duplicate} first deliveries were answered as duplicates`)

    // Pass 2: the same events again, as Stripe's retries would send them; every one is a duplicate.
    ctx.log(`redelivery: all ${total} events again, ${concurrency} in flight`)
    const beforeAgain = await meter.snapshot()
    const again = await deliver(server.url, standIn, payloads, concurrency)
    const againCpu = meter.perEvent(beforeAgain, await meter.snapshot(), again.latencies.length)
    rows.push(describe('redelivery (all duplicates)', concurrency, again, againCpu, bareRun))
    if (fail('redelivery', again)) return
    if ((again.outcomes.duplicate ?? 0) !== total)
      ctx.fail(`only ${again.outcomes.duplicate ?? 0} of ${total} redelivered events were answered as duplicates`)
    const afterRedelivery = await count(admin, 'stripe_events')
    if (afterRedelivery !== total) ctx.fail(`redelivery changed stripe_events from ${total} to ${afterRedelivery} rows`)

    // Pass 3, the worst case: the same lives for 1,200 other members with the clock standing still, so that every
    // event falls in one second and each subscription's snapshots after its first cannot be ordered by `created`:
    // each of those statements fails on the tie, the subscription is read from Stripe and the statement runs again.
    ctx.log(`worst case: ${MEMBERS} other members with the clock standing still`)
    const tied = await makeWorkload(standIn, { advance: () => {} }, reader.stripeMonthlyPriceId, 'tied', ctx.log)
    const beforeTied = await meter.snapshot()
    const tiedReadsBefore = standIn.apiRequests()
    const tiedRun = await deliver(server.url, standIn, tied.payloads, concurrency)
    const tiedReads = standIn.apiRequests() - tiedReadsBefore
    if ((await untilPlaced(admin)) === null)
      ctx.fail('accounts were still waiting for a place in the name order 60 s after the worst case')
    const tiedCpu = meter.perEvent(beforeTied, await meter.snapshot(), tiedRun.latencies.length)
    rows.push(describe('worst case: every event in one second', concurrency, tiedRun, tiedCpu, bareRun))
    if (fail('worst case', tiedRun)) return
    const storedTied = await checkStored('the worst case', [workload, tied])

    const cores = cpus().length
    const cpuTotal = firstCpu.bench + (firstCpu.server ?? 0) + (firstCpu.postgres ?? 0)
    const number = (n: number) => n.toLocaleString('en-US')

    ctx.note(
      `Database: PostgreSQL ${version} (synchronous_commit ${syncCommit}) at ${host}, in a scratch database created for the run ` +
        `on the server in ${source} and dropped afterwards; the server migrates it on start.`,
    )
    ctx.note(
      `Processes, all on this machine's ${cores} cores: the Masthead server, \`${START_COMMAND}\` in its own process as \`npm start\` ` +
        `runs it (postgres.js pool of ${poolSize} and one connection for lookups, named prepared statements; one log line per ` +
        'webhook, to a file), with ' +
        'STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET ' +
        'and STRIPE_API_URL pointing at the local Stripe stand-in (src/dev/stripe-stand-in, `deliver: null`), which runs in the ' +
        'bench process together with the load generator; and PostgreSQL.',
    )
    ctx.note(
      `Workload: ${number(MEMBERS)} members made through the stripe SDK ${packageVersion('stripe')} against the stand-in, each ` +
        'checking out to the Reader tier, then two renewals (the second skipped by the 10 % left past due), a payment that ' +
        'fails then succeeds for 25 %, one that fails and stays failed for 10 %, cancel-at-period-end set and undone for 5 %, ' +
        'set for 12.5 %, of whom half end early. The stand-in runs on a clock that starts 90 days back and moves on between ' +
        'these steps (a month to a renewal, a day or two between a failure, a retry and a cancellation), so events carry ' +
        `the created times Stripe would give them. ${number(total)} events (${(bytes / total / 1024).toFixed(1)} KiB of JSON ` +
        `on average), sent in the order the stand-in made them: ${mix.map(([type, n]) => `${type} ${number(n)}`).join(', ')}.`,
    )
    ctx.note(
      "What one event costs the server: the body read from Node's request and the HMAC check of the Stripe-Signature " +
        'on it; for an event the server stored earlier in its life (the last 20,000 ids it keeps in memory), nothing more ' +
        'but, for the finish of checkouts and paying subscriptions, one query for a second membership of the account, on ' +
        "the server's one-connection pool for lookups (lookupDb), where those of concurrent deliveries go many to a " +
        'socket write; otherwise, without a lookup first, one statement (data-modifying CTEs), committed in a group with the ' +
        'statements of the other deliveries of the moment (src/db/commit-group.ts: BEGIN, the statements and COMMIT in one ' +
        'write, one WAL flush; a statement that fails runs again alone; the writes nearly every event makes are fixed text ' +
        'serialised once, their values filled in): the stripe_events insert (on conflict do nothing, which is the duplicate ' +
        'check, and the check against a concurrent delivery) and, for handled types, its effects taken from the signed ' +
        'event: for a subscription ' +
        'event the customer link (to the account named in its metadata), the tier lookup and the subscriptions upsert, ' +
        'kept only if its snapshot is from a later second than the stored one; for invoice.paid the payments row; for ' +
        'checkout.session.completed the customer link and, for an address new to Masthead, its account, inserted without a ' +
        "place in the name order: the server's job loop, woken by the delivery, places it after the answer under the " +
        "order's lock (src/accounts/name-order.ts), and the pass's CPU is read once no account waits " +
        `(${placingLag === null ? 'some still waited after 60 s' : `${number(Math.round(placingLag))} ms after the last answer`}). ` +
        'invoice.payment_failed and a subscription going past due add one ' +
        'conditional update claiming the e-mail. Stripe is asked only when a snapshot shares a second with the stored ' +
        `state: ${number(stripeReads)} requests reached the stand-in during the first delivery. Every first delivery ` +
        "of a checkout also pays its finish's queries (the duplicate-membership check, the welcome's claim); that of a " +
        "paying subscription, the duplicate-membership check only when its statement reports that the account's " +
        'memberships may have changed (the subscription new, its status or cancel flag changed, a customer linked, or ' +
        'another paying subscription on the account).',
    )
    ctx.note(
      `Load: ${concurrency} keep-alive HTTP/1.1 connections, one request in flight on each (a minimal client on node:net; ` +
        'node:http cost the bench process about 0.1 ms more per event, taken from the same two cores; 8, 16, 32 and 64 in ' +
        'flight were tried with node:http: throughput was flat from 8 up, latency grew with it), each event POSTed as ' +
        'application/json with a Stripe-Signature made at ' +
        `send time. The first ${Math.round(WARMUP_SHARE * 100)} % (${number(warmup)} events) go first as an uncounted ` +
        'warm-up. Events/s is events answered over the wall time of the pass; latency is per request, as the load generator saw it.',
    )
    ctx.note(
      'CPU µs/event is user + system CPU time over the pass from /proc, divided by the events: the server (its one node process), ' +
        'the PostgreSQL backends serving the scratch database, and the bench process (stand-in and load generator). Together ' +
        `${round2(cpuTotal)} ms per first delivery: at most about ${number(Math.round((cores * 1000) / cpuTotal))} events/s ` +
        `on ${cores} cores even if nothing else ran and nothing waited; the server alone, on one core, at most about ` +
        `${firstCpu.server ? number(Math.round(1000 / firstCpu.server)) : 'n/a'}.`,
    )
    ctx.note(
      `Checked after the first delivery: ${stored.join(', ')} (one row per event, and Stripe's final state for every ` +
        `member); "payment failed" e-mails ${mails}; outcomes ${Object.entries(outcomes)
          .map(([k, v]) => `${k} ${number(v)}`)
          .join(', ')}. The redelivery answered every event as a duplicate and stored nothing.`,
    )
    ctx.note(
      `Reference (first row): \`node ${BARE_HONO}\`, \`new Hono()\` with \`POST ${BARE_PATH}\` reading the body ` +
        `as text and answering \`{"ok":true}\`, no middleware (${honoVersions()}, the versions Masthead runs), ` +
        "in its own process on the bench's Node; sent the same bodies as the first delivery (the same " +
        `${number(warmup)} warm-up bodies first, uncounted), signed the same way, by the same client with the same ` +
        `${concurrency} connections, just before it. Its server CPU is bare Hono's process; "vs bare Hono" is each ` +
        "pass's events/s over its requests/s.",
    )
    ctx.note(
      `Worst case (fourth row): the same lives for ${number(MEMBERS)} other members made with the stand-in's clock ` +
        `standing still, so all ${number(tied.payloads.length)} events share one second and every subscription snapshot ` +
        "after a subscription's first cannot be ordered by `created`: its statement fails on the tie " +
        '(masthead_snapshot_tie), the subscription is read from the stand-in and the statement runs again. ' +
        `${number(tiedReads)} requests reached the stand-in. Afterwards, for both member sets together: ` +
        `${storedTied.join(', ')}. Real Stripe events share a second only within one step (a checkout's ` +
        'subscription created and updated), so this is a bound, not a forecast.',
    )
  } finally {
    await admin.end({ timeout: 5 })
    await handle.close()
  }
}
