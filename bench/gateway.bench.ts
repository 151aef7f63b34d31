import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import postgres from 'postgres'
import { createSession, SESSION_COOKIE } from '../src/accounts/sessions'
import { loadConfig } from '../src/config'
import { connectPostgres } from '../src/db/client'
import { grants } from '../src/db/schema'
import { seedDemoTiers } from '../src/dev/demo-tiers'
import { VIEW_COOKIE } from '../src/entitlements/page-view'
import {
  BARE_HONO,
  START_COMMAND,
  honoVersions,
  insertAccount,
  load,
  packageVersion,
  processCpu,
  PRODUCTION,
  startBareHono,
  startHelper,
  withScratchDatabase,
  withServer,
  type BenchContext,
  type Benchmark,
  type DatabaseTarget,
  type Helper,
  type LoadResult,
  type Row,
} from './lib'
import { HANDLERS, type Reader } from './bare-proxy-app'
import { startCacheApi } from './cache-api'
import { bundleWorker, startWorkerd } from './workerd'

const CONNECTIONS = 50
const SECONDS = 10
/**
 * Long enough for every variant to reach its steady state, which is what a server serving for hours runs
 * at: Masthead on Node reached it only after about 30 s of load (CPU per page view 1,430 µs in the first
 * 10 s, 1,100-1,130 µs from the third on, in a manual run), its larger heap and code taking longer to
 * settle than a bare proxy's; with 2 s the first Masthead pass measured that settling, not the gateway.
 */
const WARMUP_SECONDS = 20
const TARGET_RATIO = 0.5
const PAGE = '/articles/council-budget'
/** Filler words per article: an 82 KiB page, inside the 60-100 KiB a real article page weighs. */
const WORDS = 13_000
/**
 * A busy backend flushes its counts at most once a second, an idle one within PGSTAT_IDLE_INTERVAL
 * (10 s): counters read sooner miss transactions or count the warm-up's (bench/entitlements.bench.ts).
 */
const STATS_FLUSH_MS = 11_000

interface Facts {
  pageBytes: number
  database: string
  /** Bytes of Masthead's Worker bundle, as wrangler wrote it. */
  bundle: number
  /** What the Cache API stand-in answered workerd over the cached Masthead runs. */
  cacheApi?: { hits: number; misses: number; puts: number }
}

function proxyPass(runtime: Runtime, handlers: Reader): Pick<Pass, 'label' | 'runtime' | 'kind' | 'expected'> {
  return handlers === 'none'
    ? { label: '(b) bare hono/proxy', runtime, kind: 'proxy', expected: 'whole page' }
    : { label: `(b′) bare proxy + ${handlers} handlers`, runtime, kind: 'rewriter', expected: handlers }
}

/** What a variant must serve: the article as the origin sent it, or rewritten for one reader. */
type Expected = 'whole page' | 'anonymous' | 'supporter'

/** One variant: what it served once before timing, then the timed run. */
type Runtime = 'Node' | 'workerd'

interface Pass {
  label: string
  /** Where the proxy or Masthead ran; the origin always runs on Node. */
  runtime: Runtime
  /** 'masthead-uncached': Masthead without a page cache (Node: GATEWAY_CACHE_MB=0; workerd: no Cache API). */
  kind: 'origin' | 'bare-hono' | 'proxy' | 'rewriter' | 'masthead' | 'masthead-uncached'
  expected: Expected
  bytes: number
  load: LoadResult
  /** CPU ms per request of each party; null where it took no part. */
  cpu: Record<'origin' | 'front' | 'postgres' | 'load', number | null>
  /** PostgreSQL transactions in the scratch database during the warm-up and the timed run (Masthead only). */
  transactions: number | null
  /** Page views over which they were counted: the warm-up's and the timed run's. */
  pageViews: number
}

/** Who takes part in a variant, to measure their CPU time. */
interface Parties {
  origin: Helper
  /** The proxy's or Masthead's process group. */
  front?: number
  /** Masthead's scratch database, and a connection to another database to read its counters from. */
  database?: { name: string; admin: postgres.Sql }
}

/** What a browser sends for a page view: the gateway's caches keep pages for requests that accept HTML. */
const PAGE_VIEW = { Accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' }

const BARE_PATH = '/ping'
const BARE_LABEL = `(r) reference: bare Hono GET ${BARE_PATH}`

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
    'mode, in one run: (a) the demo origin served directly; (r) a bare Hono `GET /ping` on Node, the outside ' +
    'reference for every Node variant; (b) a bare `hono/proxy` in front of the origin; (b′) the same ' +
    'proxy running the HTMLRewriter handlers Masthead runs for that reader, and nothing else; (c) Masthead ' +
    '(ORIGIN_URL set, production mode) for an anonymous reader; (c′) Masthead for a Patron-tier (ad-free) supporter ' +
    'with a page-view cookie; (b) to (c′) once on Node and once in workerd, and (c), (c′) on Node again with its ' +
    "page cache off (in workerd, with and without a stand-in for Cloudflare's cache). Targets, on each runtime: (c) at least " +
    `${TARGET_RATIO}× (b); 0 database transactions per page view for the supporter.`,
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
    const facts: Facts = { pageBytes: 0, database: 'not started', bundle: 0 }
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
        pass: Pick<Pass, 'label' | 'runtime' | 'kind' | 'expected'>,
        url: string,
        parties: Parties,
        cookie?: string,
      ) => {
        const headers: Record<string, string> = cookie ? { ...PAGE_VIEW, Cookie: cookie } : { ...PAGE_VIEW }
        const response = await fetch(`${url}${PAGE}`, { headers })
        const body = await response.text()
        const cookies = response.headers.getSetCookie()
        const label = `${pass.runtime}: ${pass.label}`
        const problems = [
          ...(response.status === 200 ? [] : [`status ${response.status}`]),
          ...(cookies.length > 0 ? [`it set cookies (${cookies.join(', ')})`] : []),
          ...pageProblems(body, pass.expected, whole),
        ]
        if (problems.length > 0) ctx.fail(`${label} served the wrong page: ${problems.join('; ')}`)
        ctx.log(`${label}: ${WARMUP_SECONDS} s warm-up, then ${SECONDS} s`)
        const measured = await timed(url, headers, parties)
        const { non2xx, errors, statusCodes } = measured.load
        if (non2xx > 0 || errors > 0) {
          ctx.fail(`${label}: ${non2xx} non-2xx and ${errors} errors (status counts ${JSON.stringify(statusCodes)})`)
        }
        passes.push({ ...pass, bytes: Buffer.byteLength(body), ...measured })
      }

      /** Masthead for an anonymous reader, then for a Patron with the page-view cookie its first view set. */
      const measureMasthead = async (
        runtime: Runtime,
        url: string,
        databaseUrl: string,
        parties: Parties,
        kind: 'masthead' | 'masthead-uncached' = 'masthead',
      ) => {
        const uncached = kind === 'masthead-uncached' ? ', no page cache' : ''
        await measure(
          { label: `(c) Masthead, anonymous${uncached}`, runtime, kind, expected: 'anonymous' },
          url,
          parties,
        )
        const session = await makePatron(databaseUrl)
        const first = await fetch(`${url}${PAGE}`, { headers: { ...PAGE_VIEW, Cookie: session } })
        await first.text()
        const view = first.headers
          .getSetCookie()
          .find((c) => c.startsWith(`${VIEW_COOKIE}=`))
          ?.split(';')[0]
        if (!view) {
          ctx.fail(`${runtime}: the supporter's first page view (status ${first.status}) set no ${VIEW_COOKIE} cookie`)
          return
        }
        const supporter = {
          label: `(c′) Masthead, Patron supporter${uncached}`,
          runtime,
          kind,
          expected: 'supporter',
        } as const
        await measure(supporter, url, parties, `${session}; ${view}`)
      }
      const scratchOf = (databaseUrl: string) => ({ name: new URL(databaseUrl).pathname.slice(1), admin })

      await measure(
        { label: '(a) demo origin, direct', runtime: 'Node', kind: 'origin', expected: 'whole page' },
        origin.url,
        { origin },
      )

      // The outside reference on Node: bare Hono answering a few bytes of JSON, loaded like every variant.
      const bare = await startBareHono()
      try {
        const label = `Node: ${BARE_LABEL}`
        const response = await fetch(`${bare.url}${BARE_PATH}`)
        const body = await response.text()
        if (response.status !== 200 || body !== '{"ok":true}') ctx.fail(`${label} answered ${response.status}: ${body}`)
        ctx.log(`${label}: ${WARMUP_SECONDS} s warm-up, then ${SECONDS} s`)
        const measured = await timed(bare.url, {}, { origin, front: bare.processGroup }, BARE_PATH)
        const { non2xx, errors, statusCodes } = measured.load
        if (non2xx > 0 || errors > 0)
          ctx.fail(`${label}: ${non2xx} non-2xx and ${errors} errors (status counts ${JSON.stringify(statusCodes)})`)
        passes.push({
          label: BARE_LABEL,
          runtime: 'Node',
          kind: 'bare-hono',
          expected: 'whole page',
          bytes: Buffer.byteLength(body),
          ...measured,
        })
      } finally {
        await bare.stop()
      }

      // Node: the proxies under tsx, Masthead as `npm start` runs it, in production mode.
      for (const handlers of HANDLERS) {
        const proxy = await startScript('bench/bare-proxy.ts', 'BARE_PROXY_PORT', {
          ORIGIN_URL: origin.url,
          BARE_PROXY_HANDLERS: handlers,
        })
        try {
          await measure(proxyPass('Node', handlers), proxy.url, { origin, front: proxy.processGroup })
        } finally {
          await proxy.stop()
        }
      }
      // As shipped (its page cache on), then with the cache off: what each page view costs when the origin
      // does not let shared caches keep the page.
      for (const kind of ['masthead', 'masthead-uncached'] as const) {
        await withServer(
          target,
          async (server) => {
            facts.database = server.database
            const parties: Parties = {
              origin,
              ...(server.processGroup === undefined ? {} : { front: server.processGroup }),
              database: scratchOf(server.databaseUrl!),
            }
            await measureMasthead('Node', server.url, server.databaseUrl!, parties, kind)
          },
          {
            env: {
              ...PRODUCTION,
              ORIGIN_URL: origin.url,
              ...(kind === 'masthead-uncached' ? { GATEWAY_CACHE_MB: '0' } : {}),
            },
          },
        )
      }

      // workerd: the same proxy and Masthead's Worker, each bundled by wrangler and served by workerd alone.
      const bundles = mkdtempSync(join(tmpdir(), 'masthead-bench-bundles-'))
      try {
        const proxyBundle = bundleWorker(join(bundles, 'proxy'), 'bench/bare-proxy-worker.ts')
        const mastheadBundle = bundleWorker(join(bundles, 'masthead'))
        facts.bundle = statSync(mastheadBundle).size
        for (const handlers of HANDLERS) {
          const proxy = await startWorkerd(proxyBundle, { ORIGIN_URL: origin.url, BARE_PROXY_HANDLERS: handlers })
          try {
            await measure(proxyPass('workerd', handlers), proxy.url, { origin, front: proxy.processGroup })
          } finally {
            await proxy.stop()
          }
        }
        // With a Cache API service standing in for Cloudflare's cache (bench/cache-api.ts), as on Workers;
        // then without one, as workerd runs alone: every page view fetched and rewritten.
        for (const kind of ['masthead', 'masthead-uncached'] as const) {
          const cacheApi = kind === 'masthead' ? await startCacheApi() : undefined
          try {
            await withScratchDatabase(given, async (databaseUrl) => {
              const worker = await startWorkerd(
                mastheadBundle,
                { ...PRODUCTION, ORIGIN_URL: origin.url, DATABASE_URL: databaseUrl },
                cacheApi?.address,
              )
              try {
                await measureMasthead(
                  'workerd',
                  worker.url,
                  databaseUrl,
                  { origin, front: worker.processGroup, database: scratchOf(databaseUrl) },
                  kind,
                )
              } finally {
                await worker.stop()
              }
            })
            if (cacheApi) facts.cacheApi = cacheApi.stats()
          } finally {
            await cacheApi?.stop()
          }
        }
      } finally {
        rmSync(bundles, { recursive: true, force: true })
      }
    } finally {
      await admin.end({ timeout: 5 })
      await origin.stop()
    }
    return report(ctx, passes, facts)
  },
} satisfies Benchmark

/** The notes, targets and rows of the section. */
function report(ctx: BenchContext, passes: Pass[], facts: Facts): Row[] {
  const kib = (bytes: number) => Math.round(bytes / 102.4) / 10
  const micro = (ms: number | null) => (ms === null ? 'n/a' : Math.round(ms * 1000))
  const rate = (pass: Pass | undefined) => pass?.load.requestsPerSecond ?? NaN
  const find = (runtime: Runtime, kind: Pass['kind'], expected?: Expected) =>
    passes.find((p) => p.runtime === runtime && p.kind === kind && (expected === undefined || p.expected === expected))

  ctx.note(
    `Load: autocannon ${packageVersion('autocannon')} in the bench process, on the same machine as everything else, ` +
      `${CONNECTIONS} connections, no pipelining; per variant one page checked (below), a ${WARMUP_SECONDS} s warm-up ` +
      `whose figures are discarded, then ${SECONDS} s. The variants run one after the other, each proxy and ` +
      'Masthead in a process started for it alone.',
  )
  ctx.note(
    `The origin: bench/origin-server.ts, the demo publication (createDemoOrigin({ words: ${WORDS} })) on ` +
      '@hono/node-server under tsx, in its own process for the whole run. The article is ' +
      `${facts.pageBytes.toLocaleString('en-US')} bytes (${kib(facts.pageBytes)} KiB) of HTML as the origin sends it: two ad ` +
      "slots, a support prompt, the account links, JSON-LD and four gated sections, half the filler in the supporters' one.",
  )
  ctx.note(
    `(r): the outside reference, \`node ${BARE_HONO}\` (\`new Hono()\` with \`GET ${BARE_PATH}\` answering ` +
      `\`{"ok":true}\` and no middleware, on ${honoVersions()}, the versions Masthead runs), in its own process, ` +
      'loaded like every variant (same connections, warm-up and timed run); the last column is each Node ' +
      "variant's rate against it.",
  )
  ctx.note(
    '(b) and (b′): bench/bare-proxy-app.ts, `proxy()` from hono/proxy to the origin and nothing else; (b′) adds, on ' +
      'text/html, the HTMLRewriter handlers src/gateway/rewrite.ts registers for that reader on this page, on the same ' +
      'selectors and with the same markup built once: anonymous, gated sections replaced by the call to action; ' +
      'supporter, gated sections marked and ad slots and the support prompt removed; for both, the account links ' +
      "replaced, the origin's JSON-LD removed, the paywall JSON-LD added before </body>, and an end-of-document handler. " +
      "Node: bench/bare-proxy.ts under tsx, Masthead's HTMLRewriter (src/gateway/html-rewriter.ts: lol-html in " +
      "WebAssembly from the `htmlrewriter` package, one output chunk per piece of the origin's page). workerd: bench/bare-proxy-worker.ts, bundled by wrangler, the runtime's own HTMLRewriter, as Masthead's.",
  )
  ctx.note(
    '(c) and (c′): Masthead in production mode (APP_ENV=production, ORIGIN_URL the origin; Stripe and mail keys set ' +
      `but never called). Node: \`${START_COMMAND}\` as \`npm start\` runs it, on ${facts.database}; one log line per ` +
      `request, to a file. workerd: the bundle \`npm run worker:build\` makes (${Math.round(facts.bundle / 1024).toLocaleString('en-US')} KiB), ` +
      'served by the workerd binary of the `workerd` package alone (no wrangler or Miniflare in the path), ' +
      'DATABASE_URL a scratch database on the same server; its log lines to a file. (c) sends no cookie. For (c′) the ' +
      "bench writes a reader to the scratch database with a comp on the 'patron' demo tier (seedDemoTiers; benefits " +
      'adFree, hideSupportPrompts, supportersOnlyContent, earlyAccess) and a session (createSession); one page view ' +
      `with the session cookie alone gets the ${VIEW_COOKIE} cookie from Set-Cookie, and every later request sends ` +
      'both cookies. Every request of every variant carries the Accept header a browser sends for a page ' +
      '(text/html first), and the article is `Cache-Control: public, max-age=60`: Masthead keeps rewritten pages ' +
      'the origin lets shared caches keep, per URL and benefit set. On Node, in the server (src/gateway/page-cache.ts, ' +
      'GATEWAY_CACHE_MB, 32 MB by default): (c) and (c′) as shipped, so most page views are served from it, then again ' +
      'with GATEWAY_CACHE_MB=0 for the cost of a page view that is fetched and rewritten. On workerd Masthead uses ' +
      "Cloudflare's cache (`caches.default`), which workerd run alone does not have: (c) and (c′) run with a Cache API " +
      "service standing in for it (bench/cache-api.ts: workerd's cacheApiOutbound protocol, in the bench process, so " +
      'its CPU is in the load column; it keeps a response for its s-maxage or max-age), then again without one, where ' +
      'every page view is fetched and rewritten' +
      (facts.cacheApi
        ? ` (the stand-in answered ${facts.cacheApi.hits.toLocaleString('en-US')} hits and ` +
          `${facts.cacheApi.misses.toLocaleString('en-US')} misses, and took ${facts.cacheApi.puts.toLocaleString('en-US')} copies).`
        : '.'),
  )
  ctx.note(
    'Checked once per variant before timing: status 200 and no Set-Cookie; the whole page for (a) and (b) (same size, ' +
      "ad slots and every supporters' paragraph); for the anonymous reader the ad slots and not a word of the " +
      "supporters' section; for the supporter the supporters' section whole and no ad slot. During the timed runs, " +
      'autocannon counts any answer other than 2xx, and the run fails on one.',
  )
  ctx.note(
    'CPU µs/request is user + system time from /proc over the timed run, divided by its requests: the origin ' +
      "process group; the front's process group (for the proxies on Node, tsx and its node; for Masthead on Node " +
      'and bare Hono, their one node process; or workerd); the PostgreSQL ' +
      'backends of the scratch database; and the bench process, which is mostly autocannon.',
  )
  ctx.note(
    "Database transactions are PostgreSQL's own counters: pg_stat_database xact_commit + xact_rollback of the " +
      `scratch database, read from a connection to another database (so the reads do not count), ${STATS_FLUSH_MS / 1000} s ` +
      'before the warm-up and again after the timed run (backends flush their counts within 10 s), then divided by ' +
      'the page views of both: read between them, the 11 s wait would idle the server just before timing, and V8 ' +
      'shrinks an idle heap that the timed run then pays to grow. Nothing else of the bench touches the scratch ' +
      'database then. The DB transactions column counts warm-up and timed run.',
  )

  const verdict = (met: boolean) => (met ? 'met' : 'not met')
  for (const runtime of ['Node', 'workerd'] as const) {
    const bare = find(runtime, 'proxy')
    const anonymous = find(runtime, 'masthead', 'anonymous')
    const supporter = find(runtime, 'masthead', 'supporter')
    const ratio = (pass: Pass | undefined) => rate(pass) / rate(bare)
    const perView = supporter?.transactions == null ? NaN : supporter.transactions / supporter.pageViews
    ctx.note(
      `Targets on ${runtime}: (c) at least ${TARGET_RATIO}× (b): anonymous ${verdict(ratio(anonymous) >= TARGET_RATIO)} ` +
        `(${ratio(anonymous).toFixed(2)}×), supporter ${verdict(ratio(supporter) >= TARGET_RATIO)} ` +
        `(${ratio(supporter).toFixed(2)}×); against (b′), the same proxy doing the same rewriting: anonymous ` +
        `${(rate(anonymous) / rate(find(runtime, 'rewriter', 'anonymous'))).toFixed(2)}×, supporter ` +
        `${(rate(supporter) / rate(find(runtime, 'rewriter', 'supporter'))).toFixed(2)}×; 0 database transactions per ` +
        `supporter's page view: ${verdict(perView === 0)} (${supporter?.transactions ?? '?'} in ` +
        `${supporter?.pageViews.toLocaleString('en-US') ?? '?'} page views, warm-up included).`,
    )
    const plainAnonymous = find(runtime, 'masthead-uncached', 'anonymous')
    const plainSupporter = find(runtime, 'masthead-uncached', 'supporter')
    if (plainAnonymous && plainSupporter) {
      ctx.note(
        `On ${runtime} without the page cache (${runtime === 'Node' ? 'GATEWAY_CACHE_MB=0' : 'no Cache API'}: every page ` +
          `view fetched from the origin and rewritten, as for a page the origin keeps private): anonymous ${ratio(plainAnonymous).toFixed(2)}× (b) and ` +
          `${(rate(plainAnonymous) / rate(find(runtime, 'rewriter', 'anonymous'))).toFixed(2)}× (b′), supporter ` +
          `${ratio(plainSupporter).toFixed(2)}× (b) and ` +
          `${(rate(plainSupporter) / rate(find(runtime, 'rewriter', 'supporter'))).toFixed(2)}× (b′).`,
      )
    }
  }

  return passes.map((p) => ({
    Variant: p.kind === 'origin' ? p.label : `${p.runtime}: ${p.label}`,
    'Req/s mean': Math.round(p.load.requestsPerSecond),
    'Req/s p50': Math.round(p.load.requestsPerSecondP50),
    'Latency p50 (ms)': p.load.latencyP50Ms,
    'Latency p99 (ms)': p.load.latencyP99Ms,
    Requests: p.load.requests,
    'Non-2xx': p.load.non2xx,
    'KiB served': kib(p.bytes),
    'vs (b)':
      p.kind === 'origin' || p.kind === 'bare-hono' ? '' : (rate(p) / rate(find(p.runtime, 'proxy'))).toFixed(2),
    'vs (b′)': p.kind.startsWith('masthead')
      ? (rate(p) / rate(find(p.runtime, 'rewriter', p.expected))).toFixed(2)
      : '',
    'CPU µs/request: origin': micro(p.cpu.origin),
    'CPU µs/request: proxy or Masthead': micro(p.cpu.front),
    'CPU µs/request: PostgreSQL': micro(p.cpu.postgres),
    'CPU µs/request: load': micro(p.cpu.load),
    'DB transactions': p.transactions ?? 'n/a',
    'vs bare Hono (Node)': p.runtime === 'Node' ? (rate(p) / rate(find('Node', 'bare-hono'))).toFixed(2) : '',
  }))
}

/**
 * Warm-up, then the timed run, with the CPU time of every party over the timed run and the database's
 * transactions over both. The counters are read before the warm-up, not between it and the timed run:
 * waiting there for the backends to flush would leave the server idle for 11 s just before timing, and
 * V8 shrinks an idle heap, which the timed run would then pay to grow again.
 */
async function timed(url: string, headers: Record<string, string>, parties: Parties, path = PAGE) {
  const options = { connections: CONNECTIONS, headers }
  const transactionsBefore = await transactionsSoFar(parties)
  const warmup = await load(`${url}${path}`, { ...options, seconds: WARMUP_SECONDS })
  const before = await cpuSnapshot(parties)
  const result = await load(`${url}${path}`, { ...options, seconds: SECONDS })
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
    pageViews: warmup.requests + result.requests,
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
  const userId = await insertAccount(databaseUrl, 'bench-patron@example.org', 'reader', PRODUCTION)
  const { db, close } = connectPostgres(databaseUrl, { max: 1 })
  try {
    const config = loadConfig(PRODUCTION)
    const now = new Date()
    await seedDemoTiers(db, now) // the server seeds them in development mode already: then a no-op
    await db.insert(grants).values({
      id: `g_${userId}`,
      userId,
      source: 'comp',
      tierId: 'patron',
      startsAt: new Date(now.getTime() - 86_400_000),
      createdAt: now,
      updatedAt: now,
    })
    const session = await createSession(db, config, userId)
    return `${SESSION_COOKIE}=${session.token}`
  } finally {
    await close()
  }
}

// ---------------------------------------------------------------- helper processes

/**
 * A bench/ script under tsx in its own process group (tsx and its node, measured and killed
 * together), on a free loopback port passed in `portVariable`; ready once it prints "is serving".
 */
const startScript = (script: string, portVariable: string, extra: Record<string, string>): Promise<Helper> =>
  startHelper([script], portVariable, extra)
