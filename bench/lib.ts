import { execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
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
  /** A further table for the section, after the main one (the rows `run` returns), under a title of its own. */
  table(title: string, rows: Row[]): void
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
  /** The server's process group (the one node process `npm start` runs, and any child of it), for measuring its CPU time. */
  processGroup?: number
  stop(): Promise<void>
}

const READY_LINE = 'Masthead is serving'
const START_TIMEOUT_MS = 60_000
const STOP_GRACE_MS = 5_000

/**
 * Runs `tsx <args>` from the project root (or `options.program` from
 * `options.cwd`) in its own process group (the program and any process it
 * starts, measured and killed together), its output to `logFile` rather than
 * a pipe, so that draining a log line per request does not cost the load
 * generator, which shares this process, CPU.
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

/** The script `npm start` runs (package.json: `node <flags> src/cli/start.ts`). */
const START_SCRIPT = 'src/cli/start.ts'

/** The Node flags `npm start` gives the server (package.json: `node <flags> src/cli/start.ts`), so the benches run it alike. */
export const START_FLAGS: string[] = (() => {
  const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> })
    .scripts
  const words = (scripts.start ?? '').trim().split(/\s+/)
  if (words[0] !== 'node' || words.at(-1) !== START_SCRIPT)
    throw new Error(`package.json's start script is not "node … ${START_SCRIPT}": ${scripts.start}`)
  return words.slice(1, -1)
})()

/** How the benches start the server, for their notes: what `npm start` runs. */
export const START_COMMAND = ['node', ...START_FLAGS, START_SCRIPT].join(' ')

/**
 * True when `npm start` would build before serving: no build in dist/node, or a file it was made
 * from changed since (the test src/cli/start.ts makes, read from the record the build leaves).
 */
export function nodeBuildIsStale(): boolean {
  try {
    const record = JSON.parse(readFileSync(join(root, 'dist/node/inputs.json'), 'utf8')) as {
      builtAt: number
      inputs: string[]
    }
    return !record.inputs.every((input) => statSync(join(root, input)).mtimeMs < record.builtAt)
  } catch {
    return true
  }
}

let built = false

/**
 * `node src/cli/start.ts --build` (`npm run build:node`), once per bench process before its first
 * server start (or again when `force`d), so that no start measured by a bench includes building the server.
 */
export function buildNodeServer(force = false): void {
  if (built && !force) return
  execFileSync(process.execPath, [START_SCRIPT, '--build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] })
  built = true
}

/**
 * Starts the server as `npm start` does (`node src/cli/start.ts`, with the Node running the bench,
 * the build made beforehand by buildNodeServer), on a free loopback port, in a process group of its
 * own: the node process is the group's leader. Its output goes to a file rather than a pipe so that
 * draining one log line per request does not cost the load generator, which shares this process, CPU.
 */
export async function startServer(target: DatabaseTarget, options: ServerOptions = {}): Promise<RunningServer> {
  buildNodeServer()
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
    [...START_FLAGS, ...nodeArgs, ...(options.nodeArgs ?? []), START_SCRIPT],
    env,
    logFile,
    { program: process.execPath },
  )
  // How it ended, should it end before the bench stops it: a signal leaves no line in its output.
  let ended = ''
  child.once('exit', (code, signal) => (ended = `\n(the server's node process exited: ${signal ?? `code ${code}`})`))
  const logTail = (lines = 20) => output().trimEnd().split('\n').slice(-lines).join('\n') + ended
  // If the runner dies (Ctrl-C, a throw) the detached server must not outlive it.
  const onExit = () => {
    killGroup()
    rmSync(dir, { recursive: true, force: true })
  }
  process.on('exit', onExit)

  const stop = async () => {
    if (isRunning()) {
      // SIGTERM to the server itself, which closes its connections and exits; anything left goes with the group.
      child.kill('SIGTERM')
      const timer = sleep(STOP_GRACE_MS).then(() => 'timeout' as const)
      if ((await Promise.race([exited, timer])) === 'timeout') {
        killGroup()
        await exited
      }
    }
    killGroup()
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

// ---------------------------------------------------------------- the bare Hono reference

export interface Helper {
  url: string
  /** Its process group, for measuring its CPU time and memory. */
  processGroup: number
  stop(): Promise<void>
}

const HELPER_START_TIMEOUT_MS = 30_000

/**
 * A helper server in its own process group, on a free loopback port passed in `portVariable`;
 * ready once it prints "is serving". Output goes to a file, as the server's does.
 */
export async function startHelper(
  args: string[],
  portVariable: string,
  extra: Record<string, string> = {},
  options: { program?: string } = {},
): Promise<Helper> {
  const dir = mkdtempSync(join(tmpdir(), 'masthead-bench-'))
  const port = await freePort()
  const env = {
    ...process.env,
    PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`,
    ...extra,
    [portVariable]: String(port),
  }
  const spawned = spawnInGroup(args, env, join(dir, 'out.log'), options)
  const { child, isRunning, output } = spawned
  const stop = stopOnExit(spawned, dir)
  const deadline = Date.now() + HELPER_START_TIMEOUT_MS
  const pid = child.pid
  while (!output().includes('is serving') || pid === undefined) {
    if (!isRunning() || Date.now() > deadline || pid === undefined) {
      const tail = output().trimEnd().split('\n').slice(-20).join('\n')
      await stop()
      throw new Error(`${args.join(' ')} did not start. Its last output:\n${tail}`)
    }
    await sleep(50)
  }
  return { url: `http://127.0.0.1:${port}`, processGroup: pid, stop }
}

/** What the bare Hono reference runs: `node bench/bare-hono.ts`, for the notes. */
export const BARE_HONO = 'bench/bare-hono.ts'

/**
 * The bare Hono reference (bench/bare-hono.ts: `GET /ping` and `POST /ping` answering
 * `{"ok":true}`, no middleware) on the hono and @hono/node-server Masthead uses, run by the Node
 * running the bench with nothing in front (no tsx), in its own process group.
 */
export function startBareHono(): Promise<Helper> {
  return startHelper([BARE_HONO], 'BARE_HONO_PORT', {}, { program: process.execPath })
}

/** Runs `fn` against the bare Hono reference and always stops it. */
export async function withBareHono<T>(fn: (bare: Helper) => Promise<T>): Promise<T> {
  const bare = await startBareHono()
  try {
    return await fn(bare)
  } finally {
    await bare.stop()
  }
}

/** The versions the bare reference and Masthead share, for the notes. */
export const honoVersions = () =>
  `hono ${packageVersion('hono')}, @hono/node-server ${packageVersion('@hono/node-server')}`

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

/**
 * The node process running the app: the leader of the server's process group (`node
 * src/cli/start.ts`, which runs the build in its own process), while it lives.
 */
export function serverNodePid(server: Pick<RunningServer, 'processGroup'>): number | undefined {
  const group = server.processGroup
  if (group === undefined) return undefined
  try {
    readFileSync(`/proc/${group}/stat`)
    return group
  } catch {
    return undefined // it has exited
  }
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
 * Where the CPU goes, by process: the server's process group (its node process),
 * the PostgreSQL backends serving the scratch database (only when PostgreSQL
 * runs on this machine), and this process (the stand-in and the load generator).
 */
export function cpuMeter(
  server: Pick<RunningServer, 'processGroup'>,
  admin: postgres.Sql,
  local: boolean,
  /** The database whose backends to count, when `admin` is connected to another (so reading costs it nothing). */
  database?: string,
) {
  const backends = async () =>
    new Set(
      (database === undefined
        ? await admin<{ pid: number }[]>`select pid from pg_stat_activity where datname = current_database()`
        : await admin<{ pid: number }[]>`select pid from pg_stat_activity where datname = ${database}`
      ).map((r) => r.pid),
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
    values (${sessionIdOf(sessionId)}, ${userId}, ${new Date(now.getTime() + 30 * 86_400_000)})`
  return `masthead_session=${sessionId}`
}

/**
 * A reader with an active monthly subscription to a tier that grants every
 * benefit, a one-time donation, and a fresh session: the full set of facts
 * the entitlement check reads. Written straight to the scratch database;
 * returns the session cookie to send.
 */
export async function makeSupporter(sql: postgres.Sql, databaseUrl: string): Promise<string> {
  const now = new Date()
  const userId = await insertAccount(databaseUrl, 'bench@example.org')
  const sessionId = randomId()
  const later = new Date(now.getTime() + 30 * 86_400_000)
  await sql`insert into tiers (id, name, currency, monthly_amount, yearly_amount, benefits, created_at, updated_at)
    values ('bench-tier', 'Bench', 'usd', 500, 5000, '{adFree,hideSupportPrompts,supportersOnlyContent,earlyAccess}', ${now}, ${now})`
  await sql`insert into stripe_customers (customer_id, user_id, created_at) values ('cus_bench', ${userId}, ${now})`
  await sql`insert into subscriptions (id, customer_id, tier_id, price_id, interval, amount, currency, status,
      cancel_at_period_end, current_period_end, stripe_created_at, snapshot_at, updated_at)
    values ('sub_bench', 'cus_bench', 'bench-tier', 'price_bench', 'month', 500, 'usd', 'active', false, ${later}, ${now}, ${now}, ${now})`
  await sql`insert into payments (id, kind, customer_id, amount, currency, occurred_at)
    values ('pi_bench', 'donation', 'cus_bench', 1500, 'usd', ${now})`
  await sql`insert into sessions (id, user_id, expires_at) values (${sessionIdOf(sessionId)}, ${userId}, ${later})`
  return `masthead_session=${sessionId}`
}
