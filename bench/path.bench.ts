import { setTimeout as sleep } from 'node:timers/promises'
import postgres from 'postgres'
import { VIEW_COOKIE } from '../src/entitlements/page-view'
import {
  BARE_HONO,
  START_COMMAND,
  cpuMeter,
  honoVersions,
  load,
  makeSupporter,
  packageVersion,
  withBareHono,
  withServer,
  type Benchmark,
  type BenchContext,
  type CpuPerEvent,
  type DatabaseTarget,
  type Helper,
  type LoadResult,
  type Row,
  type RunningServer,
} from './lib'
import { measureStartAndMemory } from './path-start'

const CONNECTIONS = 50
const SECONDS = 10
const WARMUP_SECONDS = 2
const ROUNDS = 5
/**
 * How far bare Hono may move between its runs before and after a Masthead route (as a share of the
 * faster) for that route's run to count; beyond it the route is measured again, up to ATTEMPTS times.
 */
const MOST_DRIFT = 0.15
const ATTEMPTS = 3
/**
 * A busy backend flushes its counts at most once a second, an idle one within PGSTAT_IDLE_INTERVAL
 * (10 s): counters read sooner after the server's last request miss transactions or count them in
 * the next route's window (1.08 per check in one run, 0.99 in another, with 1.5 s).
 */
const STATS_FLUSH_MS = 11_000
const ENTITLEMENTS = '/api/entitlements'

interface Route {
  label: string
  on: 'bare' | 'masthead'
  path: string
  /** Cookies to send, when the route needs them (read each round: the page-view cookie is renewed). */
  cookie?: 'view' | 'session' | undefined
  /** The least ratio to bare Hono's rate, or null for the reference itself. */
  target: number | null
  /** The database transactions per request the route should cost, when it has a target for them. */
  transactions?: { most: number; say: string }
}

/** What every browser sends: the Node server answers the stylesheet gzipped to it (src/http/node-server.ts). */
const BROWSER_ENCODINGS = 'gzip, deflate, br'

const ROUTES: Route[] = [
  { label: 'bare Hono GET /ping (reference)', on: 'bare', path: '/ping', target: null },
  { label: 'Masthead GET /assets/style.css', on: 'masthead', path: '/assets/style.css', target: 0.8 },
  {
    label: `Masthead GET ${ENTITLEMENTS}, no cookie`,
    on: 'masthead',
    path: ENTITLEMENTS,
    target: 0.5,
    transactions: { most: 0, say: '0' },
  },
  {
    label: `Masthead GET ${ENTITLEMENTS}, supporter with a fresh page-view cookie`,
    on: 'masthead',
    path: ENTITLEMENTS,
    cookie: 'view',
    target: 0.5,
    transactions: { most: 0, say: '0' },
  },
  {
    label: `Masthead GET ${ENTITLEMENTS}, supporter with the session cookie only`,
    on: 'masthead',
    path: ENTITLEMENTS,
    cookie: 'session',
    target: 0.2,
    transactions: { most: 1.05, say: 'about 1' },
  },
]

interface Measured {
  load: LoadResult
  cpu: CpuPerEvent
  /**
   * For a Masthead route: bare Hono's req/s in the runs just before and just after it (their mean),
   * which its ratio is taken against; null for bare Hono itself.
   */
  reference: number | null
  /** Per request, over warm-up and timed run; null for bare Hono, which has no database. */
  transactions: number | null
  /** How many, over warm-up and timed run. */
  transactionCount: number | null
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}
const micro = (ms: number | null) => (ms === null ? null : ms * 1000)
const medianOf = (values: (number | null)[]) => {
  const present = values.filter((v): v is number => v !== null)
  return present.length === 0 ? null : median(present)
}
const n = (value: number) => Math.round(value).toLocaleString('en-US')

/**
 * The truth about the request path (issue #17): Masthead's cheapest routes against a bare Hono
 * route on the same hono and @hono/node-server, in one run, with the server's CPU per request and
 * the database's work; then the server's start-up time and idle memory, as `npm start` runs it.
 */
export default {
  name: 'path',
  description:
    'The request path against a bare Hono route (same hono and @hono/node-server, no middleware) in the same run, ' +
    `on PostgreSQL: \`GET /assets/style.css\`, \`GET ${ENTITLEMENTS}\` with no cookie, for a supporter with a fresh ` +
    'page-view cookie, and with the session cookie only; each route in ' +
    `${ROUNDS} interleaved rounds, medians reported. Targets (ratio of req/s to bare Hono): style.css ≥ 0.8×, ` +
    'entitlements without a cookie and with the page-view cookie ≥ 0.5× (the latter with 0 database transactions), ' +
    'with the session only ≥ 0.2× (about 1 transaction). Then `npm start` itself: time to the first 200 of ' +
    '`/healthz` (≤ 2 s on PostgreSQL, ≤ 4 s on a fresh PGlite data directory) and idle resident memory of the ' +
    "server's node process (≤ 150 MB on PostgreSQL, ≤ 300 MB on PGlite).",
  async run(ctx) {
    const given = ctx.databases.find((t): t is Extract<DatabaseTarget, { kind: 'postgres' }> => t.kind === 'postgres')
    if (!given) {
      ctx.fail('path needs PostgreSQL: set BENCH_DATABASE_URL or TEST_DATABASE_URL.')
      return []
    }
    const rows = await measureRoutes(ctx, given)
    const pglite = ctx.databases.find((t) => t.kind === 'pglite') ?? { kind: 'pglite' as const, name: 'PGlite' }
    await measureStartAndMemory(ctx, given, pglite)
    return rows
  },
} satisfies Benchmark

async function measureRoutes(ctx: BenchContext, given: Extract<DatabaseTarget, { kind: 'postgres' }>) {
  const target: DatabaseTarget = { ...given, scratch: true }
  const results = new Map<Route, Measured[]>(ROUTES.map((route) => [route, []]))
  let database = ''
  let steadiness: Steadiness = { unsteady: [], kept: [] }
  await withBareHono((bare) =>
    withServer(target, async (server) => {
      database = server.database
      const sql = postgres(server.databaseUrl!, { max: 1, onnotice: () => {} })
      // The counters are read from a connection to another database, so that reading them counts nothing.
      const admin = postgres(given.url, { max: 1, onnotice: () => {} })
      try {
        steadiness = await rounds(ctx, bare, server, sql, admin, results)
      } catch (error) {
        const why = error instanceof Error ? error.message : String(error)
        throw new Error(`${why}. Server output:\n${server.logTail(5)}`, { cause: error })
      } finally {
        await sql.end({ timeout: 5 })
        await admin.end({ timeout: 5 })
      }
    }),
  )
  return report(ctx, results, database, steadiness)
}

interface Steadiness {
  /** Masthead runs measured again because bare Hono moved more than MOST_DRIFT around them. */
  unsteady: string[]
  /** Runs kept though it did, after ATTEMPTS. */
  kept: string[]
}

/** Checks what each route answers, then loads every route once per round, in the same order. */
async function rounds(
  ctx: BenchContext,
  bare: Helper,
  server: RunningServer,
  sql: postgres.Sql,
  admin: postgres.Sql,
  results: Map<Route, Measured[]>,
): Promise<Steadiness> {
  const session = await makeSupporter(sql, server.databaseUrl!)
  const scratch = new URL(server.databaseUrl!).pathname.slice(1)

  const ping = await fetch(`${bare.url}/ping`)
  const pong = await ping.text()
  if (ping.status !== 200 || pong !== '{"ok":true}') throw new Error(`bare Hono answered ${ping.status}: ${pong}`)
  const style = await fetch(`${server.url}/assets/style.css`)
  await style.arrayBuffer()
  if (style.status !== 200) throw new Error(`GET /assets/style.css answered ${style.status}`)
  const anonymous = await fetch(`${server.url}${ENTITLEMENTS}`)
  const anonymousBody = (await anonymous.json()) as { signedIn?: boolean }
  if (anonymous.status !== 200 || anonymousBody.signedIn !== false)
    throw new Error(
      `GET ${ENTITLEMENTS} without a cookie answered ${anonymous.status}: ${JSON.stringify(anonymousBody)}`,
    )

  /**
   * The page-view cookie for the supporter: what a request with the session cookie alone sets. It
   * lives five minutes, so each round takes a fresh one, and checks that sending it sets nothing.
   */
  const pageViewCookie = async () => {
    const first = await fetch(`${server.url}${ENTITLEMENTS}`, { headers: { Cookie: session } })
    const body = (await first.json()) as { signedIn?: boolean; benefits?: string[] }
    if (first.status !== 200 || !body.signedIn || !body.benefits?.length)
      throw new Error(`the session did not give the expected entitlements: ${first.status} ${JSON.stringify(body)}`)
    const view = first.headers
      .getSetCookie()
      .find((c) => c.startsWith(`${VIEW_COOKIE}=`))
      ?.split(';')[0]
    if (!view)
      throw new Error(
        `GET ${ENTITLEMENTS} with the session cookie alone set no ${VIEW_COOKIE} cookie ` +
          `(Set-Cookie: ${JSON.stringify(first.headers.getSetCookie())}): the page-view row cannot be measured`,
      )
    const both = `${session}; ${view}`
    const again = await fetch(`${server.url}${ENTITLEMENTS}`, { headers: { Cookie: both } })
    const againBody = (await again.json()) as { signedIn?: boolean; benefits?: string[] }
    if (!againBody.signedIn || JSON.stringify(againBody.benefits) !== JSON.stringify(body.benefits))
      throw new Error(`with the page-view cookie the answer changed: ${JSON.stringify(againBody)}`)
    if (again.headers.getSetCookie().length > 0)
      throw new Error(`with the page-view cookie the server still set ${JSON.stringify(again.headers.getSetCookie())}`)
    return both
  }

  // Transactions of the scratch database, once the server has been idle long enough for its backends to flush.
  let lastMastheadRequest = Date.now()
  const transactionsSoFar = async () => {
    const wait = STATS_FLUSH_MS - (Date.now() - lastMastheadRequest)
    if (wait > 0) await sleep(wait)
    const [row] = await admin<{ n: string }[]>`
      select xact_commit + xact_rollback as n from pg_stat_database where datname = ${scratch}`
    return Number(row!.n)
  }
  const serverMeter = cpuMeter(server, admin, true, scratch)
  const bareMeter = cpuMeter(bare, admin, true, scratch)

  /** One route loaded: a warm-up whose figures are discarded, then the timed run, checked. */
  const measure = async (route: Route, round: number, view: string) => {
    const url = `${route.on === 'bare' ? bare.url : server.url}${route.path}`
    const headers: Record<string, string> = {
      'Accept-Encoding': BROWSER_ENCODINGS,
      ...(route.cookie === 'view' ? { Cookie: view } : route.cookie === 'session' ? { Cookie: session } : {}),
    }
    ctx.log(`round ${round}/${ROUNDS}, ${route.label}: ${WARMUP_SECONDS} s warm-up, then ${SECONDS} s`)
    const meter = route.on === 'bare' ? bareMeter : serverMeter
    const warmup = await load(url, { connections: CONNECTIONS, seconds: WARMUP_SECONDS, headers })
    const cpuBefore = await meter.snapshot()
    const timed = await load(url, { connections: CONNECTIONS, seconds: SECONDS, headers })
    const cpu = meter.perEvent(cpuBefore, await meter.snapshot(), timed.requests)
    if (route.on === 'bare') cpu.postgres = null
    const bad = warmup.non2xx + warmup.errors + timed.non2xx + timed.errors
    if (timed.requests === 0)
      throw new Error(`round ${round}, ${route.label}: no answer at all. Server output:\n${server.logTail(10)}`)
    if (bad > 0) {
      ctx.fail(
        `round ${round}, ${route.label}: ${timed.non2xx} non-2xx and ${timed.errors} errors ` +
          `(status counts ${JSON.stringify(timed.statusCodes)}). Server output:\n${server.logTail(10)}`,
      )
    }
    return { warmup, timed, cpu }
  }

  const bareRoute = ROUTES.find((route) => route.on === 'bare')!
  const mastheadRoutes = ROUTES.filter((route) => route.on === 'masthead')
  /** Masthead runs measured again, and runs kept though the reference moved (after ATTEMPTS), for the notes. */
  const unsteady: string[] = []
  const kept: string[] = []
  /** Bare Hono once, recorded with the rest of its runs. */
  const measureBare = async (round: number) => {
    const { timed, cpu } = await measure(bareRoute, round, '')
    results.get(bareRoute)!.push({ load: timed, cpu, reference: null, transactions: null, transactionCount: null })
    return timed.requestsPerSecond
  }

  for (let round = 1; round <= ROUNDS; round++) {
    const view = await pageViewCookie()
    lastMastheadRequest = Date.now()
    // Bare Hono runs before the first Masthead route and after each: every Masthead route is measured
    // between two runs of the reference, so that a drift of the machine within a round falls on both
    // sides of its ratio. The run after a route is also Masthead's idle time before its counters are
    // read; the reading after one route is the reading before the next.
    let bareBefore = await measureBare(round)
    let reading: number | null = null
    for (const route of mastheadRoutes) {
      for (let attempt = 1; ; attempt++) {
        const before = reading ?? (await transactionsSoFar())
        const { warmup, timed, cpu } = await measure(route, round, view)
        lastMastheadRequest = Date.now()
        const bareAfter = await measureBare(round)
        reading = await transactionsSoFar()
        const drift = Math.abs(bareAfter - bareBefore) / Math.max(bareAfter, bareBefore)
        const steady = drift <= MOST_DRIFT
        if (!steady && attempt < ATTEMPTS) {
          // The machine changed speed during the three runs: the ratio would mix two machines.
          unsteady.push(`round ${round}, ${route.label}: bare Hono ${n(bareBefore)} then ${n(bareAfter)} req/s`)
          ctx.log(`  bare Hono moved ${Math.round(drift * 100)} % around it: measured again`)
          bareBefore = bareAfter
          continue
        }
        const transactionCount = reading - before
        results.get(route)!.push({
          load: timed,
          cpu,
          reference: (bareBefore + bareAfter) / 2,
          transactions: transactionCount / (warmup.requests + timed.requests),
          transactionCount,
        })
        if (!steady) kept.push(`round ${round}, ${route.label}: ${Math.round(drift * 100)} %`)
        bareBefore = bareAfter
        break
      }
    }
  }
  return { unsteady, kept }
}

function report(
  ctx: BenchContext,
  results: Map<Route, Measured[]>,
  database: string,
  { unsteady, kept }: Steadiness,
): Row[] {
  const verdicts: string[] = []
  const rows = ROUTES.map((route) => {
    const measured = results.get(route)!
    const rates = measured.map((m) => m.load.requestsPerSecond)
    const rate = median(rates)
    // Each Masthead run against the bare Hono runs around it; bare Hono's own row is the reference.
    const ratios = measured.map((m) => (m.reference === null ? 1 : m.load.requestsPerSecond / m.reference))
    const ratio = median(ratios)
    const transactions = medianOf(measured.map((m) => m.transactions))
    const checks: string[] = []
    if (route.target !== null) checks.push(`≥ ${route.target}×: ${ratio >= route.target ? 'met' : 'not met'}`)
    if (route.transactions && transactions !== null) {
      const met = transactions <= route.transactions.most
      checks.push(
        `${route.transactions.say} transaction${route.transactions.say === '0' ? 's' : ''}: ${met ? 'met' : 'not met'}`,
      )
    }
    if (checks.length > 0) verdicts.push(`${route.label} ${ratio.toFixed(2)}× (${checks.join('; ')})`)
    const serverCpu = medianOf(measured.map((m) => micro(m.cpu.server)))
    const postgresCpu = medianOf(measured.map((m) => micro(m.cpu.postgres)))
    const loadCpu = medianOf(measured.map((m) => micro(m.cpu.bench)))
    const reference = route.on === 'bare'
    return {
      Route: route.label,
      'Req/s (median)': Math.round(rate),
      'Req/s by run': rates.map(n).join(' / '),
      'Bare Hono around it (mean of the runs before and after), by round': reference
        ? 'n/a'
        : measured.map((m) => n(m.reference!)).join(' / '),
      'vs bare Hono': ratio.toFixed(2),
      'vs bare Hono by round': reference ? 'n/a' : ratios.map((r) => r.toFixed(2)).join(' / '),
      Target: checks.join('; '),
      'Latency p50 (ms)': median(measured.map((m) => m.load.latencyP50Ms)),
      'Latency p99 (ms)': median(measured.map((m) => m.load.latencyP99Ms)),
      'CPU µs/request: server': serverCpu === null ? 'n/a' : Math.round(serverCpu),
      'CPU µs/request: PostgreSQL': postgresCpu === null ? 'n/a' : Math.round(postgresCpu),
      'CPU µs/request: load': loadCpu === null ? 'n/a' : Math.round(loadCpu),
      'DB transactions/request': transactions === null ? 'n/a' : transactions.toFixed(3),
      'DB transactions by round': measured.map((m) => m.transactionCount ?? 'n/a').join(' / '),
      Requests: measured.reduce((sum, m) => sum + m.load.requests, 0),
      'Non-2xx': measured.reduce((sum, m) => sum + m.load.non2xx, 0),
    } satisfies Row
  })

  ctx.note(
    `Reference: \`node ${BARE_HONO}\`, \`new Hono()\` with one route, \`GET /ping\` answering \`{"ok":true}\` by ` +
      `\`c.json\`, no middleware, served by @hono/node-server on 127.0.0.1 (${honoVersions()}: the versions Masthead ` +
      "runs), on the bench's Node with nothing in front, in its own process for the whole run.",
  )
  ctx.note(
    `Masthead: \`${START_COMMAND}\` as \`npm start\` runs it (the build in dist/node made beforehand by ` +
      '`node src/cli/start.ts --build`, so the server is that one node process), in development mode, the mode ' +
      '`npm start` runs in by default (no route measured here differs between the modes: development adds the ' +
      'Stripe stand-in and mail outbox, which these routes do not touch), on ' +
      `${database}, migrated by the server; one access-log line per request, to a file. The supporter: an account ` +
      'with an active monthly subscription to a tier granting every benefit, a donation and a session, written ' +
      `straight to the database (makeSupporter, bench/lib.ts). Each round starts by asking \`${ENTITLEMENTS}\` ` +
      `once with the session cookie alone and taking the ${VIEW_COOKIE} cookie it sets (it lives five minutes), ` +
      'then once with both, which must answer the same entitlements and set no cookie; the page-view row sends ' +
      'both cookies, the session row the session cookie alone.',
  )
  ctx.note(
    `Load: autocannon ${packageVersion('autocannon')} in the bench process on the same machine, ${CONNECTIONS} ` +
      `connections, no pipelining, every request with the Accept-Encoding a browser sends (${BROWSER_ENCODINGS}: ` +
      'the stylesheet comes gzipped, 1.4 KB, as a browser gets it, answered by the Node server before ' +
      '@hono/node-server and the app (src/http/node-server.ts); the other routes answer the same either way); ' +
      `per route a ${WARMUP_SECONDS} s warm-up whose figures are discarded, then ` +
      `${SECONDS} s. ${ROUNDS} rounds; in each, bare Hono is loaded first and again after every Masthead ` +
      'route, in the order of the table (bare Hono, style.css, bare Hono, no cookie, bare Hono, …), so that each ' +
      "Masthead run lies between two runs of the reference, seconds apart: the machine's speed here moves by up " +
      'to 2× within minutes, and with the reference loaded once a round the ratios of one run had ranged from ' +
      "0.24 to 0.81. Req/s is the mean of autocannon's one-second samples of the timed run; the table gives the " +
      'median over the runs of it, of the latency percentiles (whole milliseconds) and of the CPU figures (bare ' +
      'Hono: all its runs). "vs bare Hono" is the median over the rounds of the route\'s rate divided by the mean ' +
      'of the two bare Hono runs around it.',
  )
  ctx.note(
    'CPU µs/request is user + system time from /proc over the timed run, divided by its requests: the process ' +
      "group of the route's server (bare Hono's node, or Masthead's), the PostgreSQL backends of the scratch " +
      'database, and the bench process (autocannon). Database transactions are pg_stat_database xact_commit + ' +
      'xact_rollback of the scratch database (each statement outside a transaction is one), read from a ' +
      `connection to another database once the server has been idle ${STATS_FLUSH_MS / 1000} s (backends flush ` +
      "their counts within 10 s), before a route's warm-up and after its timed run, and divided by the requests " +
      'of both; the median over the rounds is given.',
  )
  ctx.note(
    `A Masthead run counts only if bare Hono moved at most ${MOST_DRIFT * 100} % (of the faster) between its runs ` +
      `before and after it; otherwise the route is measured again, with the run after as the new run before, up to ` +
      `${ATTEMPTS} times. Measured again: ${unsteady.length === 0 ? 'none' : unsteady.join('; ')}. Kept after ` +
      `${ATTEMPTS} attempts though bare Hono moved more: ${kept.length === 0 ? 'none' : kept.join('; ')}.`,
  )
  ctx.note(`Targets: ${verdicts.join('; ')}.`)
  return rows
}
