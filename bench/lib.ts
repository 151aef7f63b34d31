import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import autocannon, { type Result } from 'autocannon'
import postgres from 'postgres'
import { sessionIdOf } from '../src/accounts/sessions'
import { newAccount } from '../src/accounts/users'
import { loadConfig } from '../src/config'
import { connectPostgres } from '../src/db/client'
import { users, type Role } from '../src/db/schema'
import { keyringOf } from '../src/privacy/keys'
import { randomId } from '../src/util/random'

export const root = fileURLToPath(new URL('..', import.meta.url))

/** One line of a results table: column name to figure, in column order. */
/**
 * Masthead as a publication deploys it (APP_ENV=production), for the benches that run it so
 * (gateway, worker). Nothing reaches Stripe or the mail provider: these keys only satisfy the
 * production config check, and the webhook secret signs the worker bench's events.
 */
export const PRODUCTION: Record<string, string> = {
  APP_ENV: 'production',
  APP_URL: 'https://news.example.org',
  PUBLICATION_NAME: 'The Demo Ledger',
  ENTITLEMENT_TOKEN_SECRET: 'bench-entitlement-secret-0123456789abcdef',
  DATA_ENCRYPTION_KEY: 'k1:x+S9yXdCzqCO3bDcgwgnn3UhMKN6zFOkBYSaMfGauKI=', // this bench's own, random: never a publication's
  RESEND_API_KEY: 're_bench_never_called',
  MAIL_FROM: 'news@example.org',
  STRIPE_SECRET_KEY: 'sk_test_bench_never_called',
  STRIPE_WEBHOOK_SECRET: 'whsec_bench_never_called',
}

export type Row = Record<string, string | number>

export interface BenchContext {
  /** Where to run: embedded PGlite always, PostgreSQL as well when a URL is configured. */
  databases: DatabaseTarget[]
  /** Adds a line to the "how it was measured" list of this benchmark's section. */
  note(line: string): void
  /** Marks the run as failed while keeping the figures measured so far for the report. */
  fail(problem: string): void
  log(message: string): void
}

/** What a `*.bench.ts` module default-exports. */
export interface Benchmark {
  /** Short and unique: it is the command-line name and the BENCHMARKS.md section key. */
  name: string
  description: string
  run(ctx: BenchContext): Promise<Row[]>
}

export type DatabaseTarget =
  { kind: 'pglite'; name: string } | { kind: 'postgres'; name: string; url: string; source: string; scratch: boolean }

/**
 * BENCH_DATABASE_URL is used as given: whoever sets it chose that database.
 * TEST_DATABASE_URL is the server the tests create their databases on, so the
 * bench does the same rather than migrating Masthead's tables into it.
 */
export function databaseTargets(env: NodeJS.ProcessEnv): DatabaseTarget[] {
  const targets: DatabaseTarget[] = [{ kind: 'pglite', name: 'PGlite' }]
  if (env.BENCH_DATABASE_URL) {
    targets.push({
      kind: 'postgres',
      name: 'PostgreSQL',
      url: env.BENCH_DATABASE_URL,
      source: 'BENCH_DATABASE_URL',
      scratch: false,
    })
  } else if (env.TEST_DATABASE_URL) {
    targets.push({
      kind: 'postgres',
      name: 'PostgreSQL',
      url: env.TEST_DATABASE_URL,
      source: 'TEST_DATABASE_URL',
      scratch: true,
    })
  }
  return targets
}

export function packageVersion(name: string): string {
  try {
    return JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')).version
  } catch {
    return 'unknown version'
  }
}

/** Host, port and database only: the URL may carry a password. */
function describeUrl(url: string): string {
  const u = new URL(url)
  return `${u.hostname}:${u.port || '5432'}${u.pathname}`
}

export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  if (address === null || typeof address === 'string') throw new Error('could not find a free port')
  return address.port
}

interface PreparedDatabase {
  env: Record<string, string>
  description: string
  dispose(): Promise<void>
}

async function prepareDatabase(target: DatabaseTarget, dir: string): Promise<PreparedDatabase> {
  if (target.kind === 'pglite') {
    return {
      env: { DATA_DIR: join(dir, 'data') },
      description: `embedded PGlite ${packageVersion('@electric-sql/pglite')}, fresh DATA_DIR under ${tmpdir()}`,
      dispose: async () => {},
    }
  }
  const admin = postgres(target.url, { max: 1, onnotice: () => {} })
  try {
    const [{ server_version: version } = { server_version: '?' }] = await admin`show server_version`
    if (!target.scratch) {
      return {
        env: { DATABASE_URL: target.url },
        description: `PostgreSQL ${version} at ${describeUrl(target.url)} (${target.source}, as given)`,
        dispose: async () => {},
      }
    }
    const name = `masthead_bench_${process.pid}_${randomBytes(4).toString('hex')}`
    await admin.unsafe(`create database "${name}"`)
    const url = new URL(target.url)
    url.pathname = `/${name}`
    return {
      env: { DATABASE_URL: url.toString() },
      description: `PostgreSQL ${version} at ${describeUrl(target.url)} (${target.source}); each server start gets a scratch database, dropped afterwards`,
      dispose: async () => {
        const sql = postgres(target.url, { max: 1, onnotice: () => {} })
        try {
          await sql.unsafe(`drop database if exists "${name}" with (force)`)
        } finally {
          await sql.end({ timeout: 5 })
        }
      },
    }
  } finally {
    await admin.end({ timeout: 5 })
  }
}

export interface RunningServer {
  url: string
  /** The PostgreSQL database the server uses (a scratch one when the target says so); absent for PGlite. */
  databaseUrl?: string
  /** The database as it should read in BENCHMARKS.md. */
  database: string
  /** The end of the server's output, for failure messages. */
  logTail(lines?: number): string
  /** The server's process group (tsx and the node process it runs), for measuring its CPU time. */
  processGroup?: number
  stop(): Promise<void>
}

const READY_LINE = 'Masthead is serving'
const START_TIMEOUT_MS = 60_000
const STOP_GRACE_MS = 5_000

/**
 * Runs `tsx <args>` from the project root (or `options.program` from
 * `options.cwd`) in its own process group (tsx and the node it starts,
 * measured and killed together), its output to `logFile` rather than a pipe,
 * so that draining a log line per request does not cost the load generator,
 * which shares this process, CPU.
 */
export function spawnInGroup(
  args: string[],
  env: NodeJS.ProcessEnv,
  logFile: string,
  options: { program?: string; cwd?: string } = {},
) {
  const out = openSync(logFile, 'a')
  const child = spawn(options.program ?? join(root, 'node_modules/.bin/tsx'), args, {
    cwd: options.cwd ?? root,
    env,
    stdio: ['ignore', out, out],
    detached: true,
  })
  closeSync(out)
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  let running = true
  void exited.then(() => (running = false))
  return {
    child,
    exited,
    isRunning: () => running,
    output: () => {
      try {
        return readFileSync(logFile, 'utf8')
      } catch {
        return ''
      }
    },
    killGroup: () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL')
      } catch {
        // Already gone.
      }
    },
  }
}

/**
 * Stopping a helper process for good: its whole group killed and its working directory removed,
 * by `stop()` or, should the bench itself die first, when this process exits.
 */
export function stopOnExit(spawned: ReturnType<typeof spawnInGroup>, dir: string): () => Promise<void> {
  const onExit = () => {
    spawned.killGroup()
    rmSync(dir, { recursive: true, force: true })
  }
  process.on('exit', onExit)
  return async () => {
    if (spawned.isRunning()) {
      spawned.killGroup()
      await spawned.exited
    }
    process.off('exit', onExit)
    rmSync(dir, { recursive: true, force: true })
  }
}

export interface ServerOptions {
  /** Extra environment for the server, on top of this process's (the database variables still win). */
  env?: Record<string, string>
  /** Node flags for the server only, after BENCH_SERVER_NODE_ARGS (e.g. a heap limit). */
  nodeArgs?: string[]
}

/** The Node flags `npm start` gives the server (package.json: `tsx <flags> src/node.ts`), so the benches run it alike. */
export const START_FLAGS: string[] = (() => {
  const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> })
    .scripts
  const words = (scripts.start ?? '').split(/\s+/)
  const from = words.indexOf('tsx')
  const to = words.indexOf('src/node.ts')
  if (from < 0 || to < from) throw new Error(`package.json's start script is not "tsx … src/node.ts": ${scripts.start}`)
  return words.slice(from + 1, to)
})()

/** How the benches start the server, for their notes: what `npm start` runs. */
export const START_COMMAND = ['tsx', ...START_FLAGS, 'src/node.ts'].join(' ')

/**
 * Starts `tsx src/node.ts` as `npm start` would, on a free loopback port. Its
 * output goes to a file rather than a pipe so that draining one log line per
 * request does not cost the load generator, which shares this process, CPU.
 */
export async function startServer(target: DatabaseTarget, options: ServerOptions = {}): Promise<RunningServer> {
  const dir = mkdtempSync(join(tmpdir(), 'masthead-bench-'))
  const logFile = join(dir, 'server.log')
  const database = await prepareDatabase(target, dir).catch((error: unknown) => {
    rmSync(dir, { recursive: true, force: true })
    throw error
  })
  const port = await freePort()
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // The same Node as the runner, whatever `node` the shell would find first.
    PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`,
    ...options.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    ...database.env,
  }
  // An inherited DATABASE_URL would silently turn the PGlite run into a PostgreSQL one.
  if (!('DATABASE_URL' in database.env)) delete env.DATABASE_URL

  // BENCH_SERVER_NODE_ARGS passes Node flags to the server only, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile it.
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean)
  const { child, exited, isRunning, output, killGroup } = spawnInGroup(
    [...START_FLAGS, ...nodeArgs, ...(options.nodeArgs ?? []), 'src/node.ts'],
    env,
    logFile,
  )
  const logTail = (lines = 20) => output().trimEnd().split('\n').slice(-lines).join('\n')
  // If the runner dies (Ctrl-C, a throw) the detached server must not outlive it.
  const onExit = () => {
    killGroup()
    rmSync(dir, { recursive: true, force: true })
  }
  process.on('exit', onExit)

  const stop = async () => {
    if (isRunning()) {
      // SIGTERM to tsx alone: it relays the signal to the node process running the app.
      child.kill('SIGTERM')
      const timer = sleep(STOP_GRACE_MS).then(() => 'timeout' as const)
      if ((await Promise.race([exited, timer])) === 'timeout') {
        killGroup()
        await exited
      }
    }
    process.off('exit', onExit)
    rmSync(dir, { recursive: true, force: true })
    await database.dispose()
  }

  const deadline = Date.now() + START_TIMEOUT_MS
  while (!logTail(1000).includes(READY_LINE)) {
    if (!isRunning() || Date.now() > deadline) {
      const why = isRunning()
        ? `did not print "${READY_LINE}" within ${START_TIMEOUT_MS / 1000} s`
        : 'exited before serving'
      const tail = logTail()
      await stop()
      throw new Error(`The server (${target.name}) ${why}. Its last output:\n${tail}`)
    }
    await sleep(100)
  }
  return {
    url: `http://127.0.0.1:${port}`,
    ...(database.env.DATABASE_URL ? { databaseUrl: database.env.DATABASE_URL } : {}),
    database: database.description,
    logTail,
    ...(child.pid !== undefined ? { processGroup: child.pid } : {}),
    stop,
  }
}

/** Runs `fn` against a fresh server and always stops it, even when `fn` throws. */
export async function withServer<T>(
  target: DatabaseTarget,
  fn: (server: RunningServer) => Promise<T>,
  options: ServerOptions = {},
): Promise<T> {
  const server = await startServer(target, options)
  try {
    return await fn(server)
  } finally {
    await server.stop()
  }
}

export interface LoadOptions {
  connections: number
  seconds: number
  /** A run of this length first, whose figures are thrown away (JIT, pools, caches). */
  warmupSeconds?: number
  /** Sent with every request (a session cookie, say). */
  headers?: Record<string, string>
}

export interface LoadResult {
  /** Mean of the once-a-second samples, autocannon's own "Req/Sec Avg". */
  requestsPerSecond: number
  /** Median of the once-a-second samples, less swayed by a slow first or last second. */
  requestsPerSecondP50: number
  latencyP50Ms: number
  latencyP99Ms: number
  requests: number
  non2xx: number
  /** Connection errors and timeouts. */
  errors: number
  statusCodes: Record<string, number>
}

// Enough for autocannon's own 10 s request timeout to fire before this does.
const LOAD_OVERRUN_S = 15

function fire(url: string, connections: number, seconds: number, headers?: Record<string, string>): Promise<Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      { url, connections, duration: seconds, ...(headers ? { headers } : {}) },
      (error, result) => {
        clearTimeout(guard)
        if (error) reject(error)
        else resolve(result)
      },
    )
    // autocannon ends on its own after `seconds`; this only bounds a wedged run.
    const guard = setTimeout(() => instance.stop(), (seconds + LOAD_OVERRUN_S) * 1000)
  })
}

/** Loads one URL on this machine for a bounded time. */
export async function load(url: string, options: LoadOptions): Promise<LoadResult> {
  if (new URL(url).hostname !== '127.0.0.1')
    throw new Error(`refusing to load ${url}: benchmarks only target 127.0.0.1`)
  if (options.warmupSeconds) await fire(url, options.connections, options.warmupSeconds, options.headers)
  const result = await fire(url, options.connections, options.seconds, options.headers)
  const statusCodes: Record<string, number> = {}
  for (const [code, { count }] of Object.entries(result.statusCodeStats)) statusCodes[code] = Number(count)
  return {
    requestsPerSecond: result.requests.average,
    requestsPerSecondP50: result.requests.p50,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    requests: result.requests.total ?? 0,
    non2xx: result.non2xx,
    errors: result.errors,
    statusCodes,
  }
}

// ---------------------------------------------------------------- memory by process

/** How often the benches that watch a server's memory sample it. */
export const RSS_SAMPLE_MS = 50

/** The node process running the app: the member of the server's process group that tsx started. */
export function serverNodePid(server: RunningServer): number | undefined {
  const group = server.processGroup
  if (group === undefined) return undefined
  const members: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(fields[2]) === group) members.push(Number(entry))
    } catch {
      // It ended meanwhile.
    }
  }
  const children = members.filter((pid) => pid !== group)
  const candidates = children.length > 0 ? children : members
  return candidates.sort((a, b) => (residentBytes(b) ?? 0) - (residentBytes(a) ?? 0))[0]
}

/** A process's resident set (VmRSS of /proc/<pid>/status), in bytes; undefined once it is gone. */
export function residentBytes(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match ? Number(match[1]) * 1024 : undefined
  } catch {
    return undefined
  }
}

/** A baseline: the highest of five samples, RSS_SAMPLE_MS apart. */
export async function settledRss(pid: number): Promise<number> {
  let highest = 0
  for (let i = 0; i < 5; i++) {
    highest = Math.max(highest, residentBytes(pid) ?? 0)
    await sleep(RSS_SAMPLE_MS)
  }
  return highest
}

// ---------------------------------------------------------------- CPU by process

// USER_HZ: the unit of /proc/<pid>/stat times on Linux.
const CLOCK_TICKS_PER_SECOND = 100

/** CPU seconds (user + system) of each process `wanted` accepts, read from /proc; empty where there is none. */
export function processCpu(wanted: (pid: number, processGroup: number) => boolean): Map<number, number> {
  const found = new Map<number, number>()
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return found
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
    } catch {
      continue // it ended meanwhile
    }
    // Fields after the command name, which may itself hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (!wanted(Number(entry), Number(fields[2]))) continue
    found.set(Number(entry), (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND)
  }
  return found
}

export interface CpuSnapshot {
  server: Map<number, number>
  postgres: Map<number, number>
  bench: NodeJS.CpuUsage
}

/** CPU time per event, in ms, of the three parties on the machine over one pass. */
export interface CpuPerEvent {
  server: number | null
  postgres: number | null
  bench: number
}

/**
 * Where the CPU goes, by process: the server's process group (tsx and its node),
 * the PostgreSQL backends serving the scratch database (only when PostgreSQL
 * runs on this machine), and this process (the stand-in and the load generator).
 */
export function cpuMeter(server: RunningServer, admin: postgres.Sql, local: boolean) {
  const backends = async () =>
    new Set(
      (await admin<{ pid: number }[]>`select pid from pg_stat_activity where datname = current_database()`).map(
        (r) => r.pid,
      ),
    )
  const snapshot = async (): Promise<CpuSnapshot> => {
    const pids = local ? await backends() : new Set<number>()
    return {
      server: processCpu((_, group) => group === server.processGroup),
      postgres: processCpu((pid) => pids.has(pid)),
      bench: process.cpuUsage(),
    }
  }
  // A process that started during the pass counts from zero.
  const spent = (before: Map<number, number>, after: Map<number, number>) =>
    after.size === 0 ? null : [...after].reduce((sum, [pid, s]) => sum + s - (before.get(pid) ?? 0), 0)
  const perEvent = (seconds: number | null, events: number) => (seconds === null ? null : (seconds * 1000) / events)
  return {
    snapshot,
    perEvent: (before: CpuSnapshot, after: CpuSnapshot, events: number): CpuPerEvent => {
      const bench = process.cpuUsage(before.bench)
      return {
        server: perEvent(spent(before.server, after.server), events),
        postgres: perEvent(spent(before.postgres, after.postgres), events),
        bench: (bench.user + bench.system) / 1000 / events,
      }
    },
  }
}

/**
 * A scratch PostgreSQL database on the server in `target` for `fn`, migrated,
 * and dropped afterwards whatever happens: for benchmarks that run Masthead's
 * code in this process rather than through a server.
 */
export async function withScratchDatabase<T>(
  target: Extract<DatabaseTarget, { kind: 'postgres' }>,
  fn: (url: string, description: string) => Promise<T>,
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'masthead-bench-'))
  const database = await prepareDatabase({ ...target, scratch: true }, dir)
  try {
    const url = database.env.DATABASE_URL!
    const { migratePostgresUrl } = await import('../src/db/migrate')
    await migratePostgresUrl(url)
    return await fn(url, database.description)
  } finally {
    await database.dispose()
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * An account written straight to a bench's scratch database, sealed and placed in the name order
 * as Masthead writes one (src/accounts/users.ts newAccount), under the keys of `env` (the server's
 * environment: production's key, or the development key when none is set). Returns its id.
 */
export async function insertAccount(
  databaseUrl: string,
  email: string,
  role: Role = 'reader',
  env: Record<string, string> = {},
): Promise<string> {
  const { db, close } = connectPostgres(databaseUrl, { max: 1 })
  try {
    const config = loadConfig(env)
    const keyring = await keyringOf(config)
    const now = new Date()
    return await db.transaction(async (tx) => {
      const account = { ...(await newAccount(tx, keyring, config, now, { email })), role }
      await tx.insert(users).values(account)
      return account.id
    })
  } finally {
    await close()
  }
}

/**
 * An account (see insertAccount) and a fresh session of 30 days for it, written straight to a
 * bench's scratch database; returns the session cookie to send.
 */
export async function accountWithSession(
  sql: postgres.Sql,
  databaseUrl: string,
  email: string,
  role: Role,
): Promise<string> {
  const now = new Date()
  const userId = await insertAccount(databaseUrl, email, role)
  const sessionId = randomId()
  await sql`insert into sessions (id, user_id, expires_at)
    values (${await sessionIdOf(sessionId)}, ${userId}, ${new Date(now.getTime() + 30 * 86_400_000)})`
  return `masthead_session=${sessionId}`
}
