import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import postgres from 'postgres'
import { createSession, SESSION_COOKIE } from '../src/accounts/sessions'
import { newAccount } from '../src/accounts/users'
import { loadConfig } from '../src/config'
import { connectPostgres } from '../src/db/client'
import { grants, users } from '../src/db/schema'
import { seedDemoTiers } from '../src/dev/demo-tiers'
import { VIEW_COOKIE } from '../src/entitlements/page-view'
import {
  freePort,
  load,
  packageVersion,
  processCpu,
  spawnInGroup,
  withServer,
  type BenchContext,
  type Benchmark,
  type DatabaseTarget,
  type LoadResult,
  type Row,
} from './lib'

const CONNECTIONS = 50
const SECONDS = 10
const WARMUP_SECONDS = 2
const TARGET_RATIO = 0.5
const PAGE = '/articles/council-budget'
/** Filler words per article: an 82 KiB page, inside the 60-100 KiB a real article page weighs. */
const WORDS = 13_000
/**
 * A busy backend flushes its counts at most once a second, an idle one within PGSTAT_IDLE_INTERVAL
 * (10 s): counters read sooner miss transactions or count the warm-up's (bench/entitlements.bench.ts).
 */
const STATS_FLUSH_MS = 11_000

/** What a variant must serve: the article as the origin sent it, or rewritten for one reader. */
type Expected = 'whole page' | 'anonymous' | 'supporter'

/** One variant: what it served once before timing, then the timed run. */
interface Pass {
  label: string
  kind: 'origin' | 'proxy' | 'rewriter' | 'masthead'
  expected: Expected
  bytes: number
  load: LoadResult
  /** CPU ms per request of each party; null where it took no part. */
  cpu: Record<'origin' | 'front' | 'postgres' | 'load', number | null>
  /** PostgreSQL transactions in the scratch database during the timed run (Masthead only). */
  transactions: number | null
}

/** Who takes part in a variant, to measure their CPU time. */
interface Parties {
  origin: Helper
  /** The proxy's or Masthead's process group. */
  front?: number
  /** Masthead's scratch database, and a connection to another database to read its counters from. */
  database?: { name: string; admin: postgres.Sql }
}

const AD_TEXT = 'Advertisement:'
const SUPPORTERS_HEADING = '<h2>For supporters</h2>'
const SUPPORTERS_TEXT = 'Supporters-only paragraph'

/**
 * Page views of the demo publication's article in gateway mode, against the demo origin served directly
 * and a bare Hono proxy without and with the same HTMLRewriter handlers, in one run.
 */
export default {
  name: 'gateway',
  description:
    `Requests per second of page views (\`GET ${PAGE}\` of the demo publication, src/dev/demo-origin.ts) in gateway ` +
    'mode, in one run: (a) the demo origin served directly; (b) a bare `hono/proxy` in front of it; (b′) the same ' +
    'proxy running the HTMLRewriter handlers Masthead runs for that reader, and nothing else; (c) Masthead ' +
    '(`npm start` with ORIGIN_URL) for an anonymous reader; (c′) Masthead for a Patron-tier (ad-free) supporter ' +
    `with a page-view cookie. Targets: (c) at least ${TARGET_RATIO}× (b); 0 database transactions per page view ` +
    'for the supporter.',
  async run(ctx) {
    const given = ctx.databases.find((t): t is Extract<DatabaseTarget, { kind: 'postgres' }> => t.kind === 'postgres')
    if (!given) {
      ctx.fail('gateway needs PostgreSQL: set BENCH_DATABASE_URL or TEST_DATABASE_URL.')
      return []
    }
    const target: DatabaseTarget = { ...given, scratch: true }
    const passes: Pass[] = []
    const origin = await startScript('bench/origin-server.ts', 'DEMO_ORIGIN_PORT', { DEMO_ORIGIN_WORDS: String(WORDS) })
    const admin = postgres(given.url, { max: 1, onnotice: () => {} })
    const facts = { pageBytes: 0, database: 'not started' }
    try {
      const page = await fetch(`${origin.url}${PAGE}`)
      const html = await page.text()
      const whole = { bytes: Buffer.byteLength(html), paragraphs: count(html, SUPPORTERS_TEXT) }
      facts.pageBytes = whole.bytes
      if (page.status !== 200 || whole.paragraphs === 0 || !html.includes(AD_TEXT)) {
        ctx.fail(`the demo origin answered ${page.status}, not the article with its ad slots and supporters' section`)
        return []
      }

      const measure = async (
        pass: Pick<Pass, 'label' | 'kind' | 'expected'>,
        url: string,
        parties: Parties,
        cookie?: string,
      ) => {
        const headers: Record<string, string> = cookie ? { Cookie: cookie } : {}
        const response = await fetch(`${url}${PAGE}`, { headers })
        const body = await response.text()
        const cookies = response.headers.getSetCookie()
        const problems = [
          ...(response.status === 200 ? [] : [`status ${response.status}`]),
          ...(cookies.length > 0 ? [`it set cookies (${cookies.join(', ')})`] : []),
          ...pageProblems(body, pass.expected, whole),
        ]
        if (problems.length > 0) ctx.fail(`${pass.label} served the wrong page: ${problems.join('; ')}`)
        ctx.log(`${pass.label}: ${WARMUP_SECONDS} s warm-up, then ${SECONDS} s`)
        const measured = await timed(url, headers, parties)
        const { non2xx, errors, statusCodes } = measured.load
        if (non2xx > 0 || errors > 0) {
          ctx.fail(
            `${pass.label}: ${non2xx} non-2xx and ${errors} errors (status counts ${JSON.stringify(statusCodes)})`,
          )
        }
        passes.push({ ...pass, bytes: Buffer.byteLength(body), ...measured })
      }

      await measure({ label: '(a) demo origin, direct', kind: 'origin', expected: 'whole page' }, origin.url, {
        origin,
      })
      for (const handlers of ['none', 'anonymous', 'supporter'] as const) {
        const proxy = await startScript('bench/bare-proxy.ts', 'BARE_PROXY_PORT', {
          ORIGIN_URL: origin.url,
          BARE_PROXY_HANDLERS: handlers,
        })
        try {
          const pass =
            handlers === 'none'
              ? { label: '(b) bare hono/proxy', kind: 'proxy' as const, expected: 'whole page' as const }
              : { label: `(b′) bare proxy + ${handlers} handlers`, kind: 'rewriter' as const, expected: handlers }
          await measure(pass, proxy.url, { origin, front: proxy.processGroup })
        } finally {
          await proxy.stop()
        }
      }

      await withServer(
        target,
        async (server) => {
          facts.database = server.database
          const parties: Parties = {
            origin,
            ...(server.processGroup === undefined ? {} : { front: server.processGroup }),
            database: { name: new URL(server.databaseUrl!).pathname.slice(1), admin },
          }
          await measure(
            { label: '(c) Masthead, anonymous', kind: 'masthead', expected: 'anonymous' },
            server.url,
            parties,
          )

          const session = await makePatron(server.databaseUrl!)
          const first = await fetch(`${server.url}${PAGE}`, { headers: { Cookie: session } })
          await first.text()
          const view = first.headers
            .getSetCookie()
            .find((c) => c.startsWith(`${VIEW_COOKIE}=`))
            ?.split(';')[0]
          if (!view) {
            ctx.fail(`the supporter's first page view (status ${first.status}) set no ${VIEW_COOKIE} cookie`)
            return
          }
          await measure(
            { label: '(c′) Masthead, Patron supporter', kind: 'masthead', expected: 'supporter' },
            server.url,
            parties,
            `${session}; ${view}`,
          )
        },
        { env: { ORIGIN_URL: origin.url } },
      )
    } finally {
      await admin.end({ timeout: 5 })
      await origin.stop()
    }
    return report(ctx, passes, facts)
  },
} satisfies Benchmark

/** The notes, targets and rows of the section. */
function report(ctx: BenchContext, passes: Pass[], facts: { pageBytes: number; database: string }): Row[] {
  const kib = (bytes: number) => Math.round(bytes / 102.4) / 10
  const micro = (ms: number | null) => (ms === null ? 'n/a' : Math.round(ms * 1000))
  const rate = (pass: Pass | undefined) => pass?.load.requestsPerSecond ?? NaN
  const bare = passes.find((p) => p.kind === 'proxy')
  const rewriter = (expected: Expected) => passes.find((p) => p.kind === 'rewriter' && p.expected === expected)
  const anonymous = passes.find((p) => p.kind === 'masthead' && p.expected === 'anonymous')
  const supporter = passes.find((p) => p.kind === 'masthead' && p.expected === 'supporter')

  ctx.note(
    `Load: autocannon ${packageVersion('autocannon')} in the bench process, on the same machine as everything else, ` +
      `${CONNECTIONS} connections, no pipelining; per variant one page checked (below), a ${WARMUP_SECONDS} s warm-up ` +
      `whose figures are discarded, then ${SECONDS} s. The variants run one after the other.`,
  )
  ctx.note(
    `The origin: bench/origin-server.ts, the demo publication (createDemoOrigin({ words: ${WORDS} })) on ` +
      '@hono/node-server under tsx, in its own process for the whole run. The article is ' +
      `${facts.pageBytes.toLocaleString('en-US')} bytes (${kib(facts.pageBytes)} KiB) of HTML as the origin sends it: two ad ` +
      "slots, a support prompt, the account links, JSON-LD and four gated sections, half the filler in the supporters' one.",
  )
  ctx.note(
    '(b) and (b′): bench/bare-proxy.ts under tsx, in a process of its own started for its variant only: ' +
      '`proxy()` from hono/proxy to the origin, nothing else. (b′) adds, on text/html, the HTMLRewriter ' +
      '(`htmlrewriter` package) handlers src/gateway/rewrite.ts registers for that reader on this page, on the same ' +
      'selectors and with the same markup built once: anonymous, gated sections replaced by the call to action; ' +
      'supporter, gated sections marked and ad slots and the support prompt removed; for both, the account links ' +
      "replaced, the origin's JSON-LD removed, the paywall JSON-LD added before </body>, and an end-of-document handler.",
  )
  ctx.note(
    '(c) and (c′): `tsx src/node.ts` as `npm start` runs it (development mode) with ORIGIN_URL set to the origin, ' +
      `on ${facts.database}. One log line per request, to a file. (c) sends no cookie. For (c′) the ` +
      "bench writes a reader to the scratch database with a comp on the 'patron' demo tier (seedDemoTiers; benefits " +
      'adFree, hideSupportPrompts, supportersOnlyContent, earlyAccess) and a session (createSession); one page view ' +
      `with the session cookie alone gets the ${VIEW_COOKIE} cookie from Set-Cookie, and every later request sends ` +
      'both cookies.',
  )
  ctx.note(
    'Checked once per variant before timing: status 200 and no Set-Cookie; the whole page for (a) and (b) (same size, ' +
      "ad slots and every supporters' paragraph); for the anonymous reader the ad slots and not a word of the " +
      "supporters' section; for the supporter the supporters' section whole and no ad slot. During the timed runs, " +
      'autocannon counts any answer other than 2xx, and the run fails on one.',
  )
  ctx.note(
    'CPU µs/request is user + system time from /proc over the timed run, divided by its requests: the origin ' +
      "process group; the proxy's or Masthead's process group (tsx and its node); the PostgreSQL backends of the " +
      'scratch database; and the bench process, which is mostly autocannon.',
  )
  ctx.note(
    "Database transactions are PostgreSQL's own counters: pg_stat_database xact_commit + xact_rollback of the " +
      `scratch database, read from a connection to another database (so the reads do not count), ${STATS_FLUSH_MS / 1000} s ` +
      'after the warm-up and again after the timed run (backends flush their counts within 10 s), then divided by ' +
      "the timed run's requests. Nothing else of the bench's touches the scratch database then.",
  )

  const ratio = rate(anonymous) / rate(bare)
  const perView = supporter?.transactions == null ? NaN : supporter.transactions / supporter.load.requests
  const verdict = (met: boolean) => (met ? 'met' : 'not met')
  ctx.note(
    `Targets: (c) at least ${TARGET_RATIO}× (b): ${verdict(ratio >= TARGET_RATIO)} (${ratio.toFixed(2)}×; ` +
      `${(rate(anonymous) / rate(rewriter('anonymous'))).toFixed(2)}× (b′)); (c′) against (b) ` +
      `${(rate(supporter) / rate(bare)).toFixed(2)}×, against (b′) ${(rate(supporter) / rate(rewriter('supporter'))).toFixed(2)}×; ` +
      `0 database transactions per supporter's page view: ${verdict(perView === 0)} (${supporter?.transactions ?? '?'} ` +
      `in ${supporter?.load.requests.toLocaleString('en-US') ?? '?'} page views).`,
  )

  return passes.map((p) => ({
    Variant: p.label,
    'Req/s mean': Math.round(p.load.requestsPerSecond),
    'Req/s p50': Math.round(p.load.requestsPerSecondP50),
    'Latency p50 (ms)': p.load.latencyP50Ms,
    'Latency p99 (ms)': p.load.latencyP99Ms,
    Requests: p.load.requests,
    'Non-2xx': p.load.non2xx,
    'KiB served': kib(p.bytes),
    'vs (b)': (rate(p) / rate(bare)).toFixed(2),
    'vs (b′)': p.kind === 'masthead' ? (rate(p) / rate(rewriter(p.expected))).toFixed(2) : '',
    'CPU µs/request: origin': micro(p.cpu.origin),
    'CPU µs/request: proxy or Masthead': micro(p.cpu.front),
    'CPU µs/request: PostgreSQL': micro(p.cpu.postgres),
    'CPU µs/request: load': micro(p.cpu.load),
    'DB transactions': p.transactions ?? 'n/a',
  }))
}

/** Warm-up, then the timed run, with the CPU time of every party and the database's transactions across it. */
async function timed(url: string, headers: Record<string, string>, parties: Parties) {
  const options = { connections: CONNECTIONS, headers }
  await load(`${url}${PAGE}`, { ...options, seconds: WARMUP_SECONDS })
  const transactionsBefore = await transactionsSoFar(parties)
  const before = await cpuSnapshot(parties)
  const result = await load(`${url}${PAGE}`, { ...options, seconds: SECONDS })
  const after = await cpuSnapshot(parties)
  const transactionsAfter = await transactionsSoFar(parties)
  const spent = (from: Map<number, number> | null, to: Map<number, number> | null) =>
    from === null || to === null || to.size === 0
      ? null
      : // A process that started during the run counts from zero.
        [...to].reduce((sum, [pid, s]) => sum + s - (from.get(pid) ?? 0), 0)
  const perRequest = (seconds: number | null) => (seconds === null ? null : (seconds * 1000) / result.requests)
  const bench = process.cpuUsage(before.bench)
  return {
    load: result,
    cpu: {
      origin: perRequest(spent(before.origin, after.origin)),
      front: perRequest(spent(before.front, after.front)),
      postgres: perRequest(spent(before.postgres, after.postgres)),
      load: (bench.user + bench.system) / 1000 / result.requests,
    },
    transactions:
      transactionsBefore === null || transactionsAfter === null ? null : transactionsAfter - transactionsBefore,
  }
}

async function cpuSnapshot({ origin, front, database }: Parties) {
  const group = (id: number | undefined) =>
    id === undefined ? null : processCpu((_, processGroup) => processGroup === id)
  let postgresCpu: Map<number, number> | null = null
  if (database) {
    const rows = await database.admin<{ pid: number }[]>`
      select pid from pg_stat_activity where datname = ${database.name}`
    const pids = new Set(rows.map((r) => r.pid))
    postgresCpu = processCpu((pid) => pids.has(pid))
  }
  return { origin: group(origin.processGroup), front: group(front), postgres: postgresCpu, bench: process.cpuUsage() }
}

/** The scratch database's transactions so far, once the backends have flushed their counts; null without one. */
async function transactionsSoFar({ database }: Parties): Promise<number | null> {
  if (!database) return null
  await sleep(STATS_FLUSH_MS)
  const [row] = await database.admin<{ n: string }[]>`
    select xact_commit + xact_rollback as n from pg_stat_database where datname = ${database.name}`
  return Number(row!.n)
}

/** What is wrong with a served page, for the reader it was served to. */
function pageProblems(body: string, expected: Expected, whole: { bytes: number; paragraphs: number }): string[] {
  const problems: string[] = []
  const ads = count(body, AD_TEXT)
  const paragraphs = count(body, SUPPORTERS_TEXT)
  const fullSection = body.includes(SUPPORTERS_HEADING) && paragraphs === whole.paragraphs
  if (expected === 'whole page' && Buffer.byteLength(body) !== whole.bytes)
    problems.push(`${Buffer.byteLength(body)} bytes where the origin sent ${whole.bytes}`)
  if (expected === 'supporter' ? ads > 0 : ads !== 2) problems.push(`${ads} ad slots`)
  if (expected === 'anonymous' ? paragraphs > 0 || body.includes(SUPPORTERS_HEADING) : !fullSection)
    problems.push(`${paragraphs} of the ${whole.paragraphs} supporters' paragraphs`)
  return problems
}

const count = (text: string, part: string) => text.split(part).length - 1

/**
 * A reader with a comp on the Patron demo tier (ad-free) and a session, written straight to
 * the scratch database as tests/helpers/readers.ts makeReader does; returns the session cookie.
 */
async function makePatron(databaseUrl: string): Promise<string> {
  const { db, close } = connectPostgres(databaseUrl, { max: 1 })
  try {
    const config = loadConfig({})
    const now = new Date()
    await seedDemoTiers(db, now) // the server seeds them in development mode already: then a no-op
    const account = newAccount(config, now, { email: 'bench-patron@example.org' })
    await db.insert(users).values(account)
    await db.insert(grants).values({
      id: `g_${account.id}`,
      userId: account.id,
      source: 'comp',
      tierId: 'patron',
      startsAt: new Date(now.getTime() - 86_400_000),
      createdAt: now,
      updatedAt: now,
    })
    const session = await createSession(db, config, account.id)
    return `${SESSION_COOKIE}=${session.id}`
  } finally {
    await close()
  }
}

// ---------------------------------------------------------------- helper processes

interface Helper {
  url: string
  processGroup: number
  stop(): Promise<void>
}

const START_TIMEOUT_MS = 30_000

/**
 * A bench/ script under tsx in its own process group (tsx and its node, measured and killed
 * together), on a free loopback port passed in `portVariable`; ready once it prints "is serving".
 * Output goes to a file, as the server's does in lib.ts.
 */
async function startScript(script: string, portVariable: string, extra: Record<string, string>): Promise<Helper> {
  const dir = mkdtempSync(join(tmpdir(), 'masthead-bench-'))
  const logFile = join(dir, 'out.log')
  const port = await freePort()
  const env = {
    ...process.env,
    PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`,
    ...extra,
    [portVariable]: String(port),
  }
  const { child, exited, isRunning, output, killGroup: kill } = spawnInGroup([script], env, logFile)
  const onExit = () => {
    kill()
    rmSync(dir, { recursive: true, force: true })
  }
  process.on('exit', onExit)
  const stop = async () => {
    if (isRunning()) {
      kill()
      await exited
    }
    process.off('exit', onExit)
    rmSync(dir, { recursive: true, force: true })
  }

  const deadline = Date.now() + START_TIMEOUT_MS
  const pid = child.pid
  while (!output().includes('is serving') || pid === undefined) {
    if (!isRunning() || Date.now() > deadline || pid === undefined) {
      const tail = output().trimEnd().split('\n').slice(-20).join('\n')
      await stop()
      throw new Error(`${script} did not start. Its last output:\n${tail}`)
    }
    await sleep(100)
  }
  return { url: `http://127.0.0.1:${port}`, processGroup: pid, stop }
}
