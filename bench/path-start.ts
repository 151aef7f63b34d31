/**
 * The second half of the path bench (bench/path.bench.ts): `npm start` as a user runs it, timed from
 * the spawn to the first 200 of /healthz, and the server's resident memory once it has served a
 * little and sat idle; on PostgreSQL and on a fresh PGlite data directory, with bare Hono's memory
 * as the reference.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, utimesSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import postgres from 'postgres'
import { VIEW_COOKIE } from '../src/entitlements/page-view'
import {
  BARE_HONO,
  buildNodeServer,
  freePort,
  makeSupporter,
  nodeBuildIsStale,
  residentBytes,
  root,
  settledRss,
  spawnInGroup,
  startBareHono,
  type BenchContext,
  type DatabaseTarget,
  type Row,
} from './lib'

const ROUNDS = 3
const POLL_MS = 20
const REQUESTS = 200
const IDLE_MS = 5_000
const START_TIMEOUT_MS = 60_000
const STOP_GRACE_MS = 5_000
const TARGETS = {
  PostgreSQL: { seconds: 2, rssMb: 150 },
  PGlite: { seconds: 4, rssMb: 300 },
} as const
const TEMPLATES = join(root, 'node_modules/.cache/masthead')
const ENTITLEMENTS = '/api/entitlements'

interface Start {
  /** From the spawn of `npm start` to the first 200 of GET /healthz. */
  seconds: number
  /** VmRSS of the server's node process right after that 200, after the requests and idle time, and npm's. */
  rssAfterStart: number
  rssIdle: number
  npmRss: number
  /** The processes of the group, from npm down, as read from /proc. */
  chain: string
}

const mb = (bytes: number) => Math.round((bytes / 1024 ** 2) * 10) / 10
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** Members of a process group, with their parent and command line, from /proc. */
function groupMembers(group: number): { pid: number; ppid: number; command: string }[] {
  const members: { pid: number; ppid: number; command: string }[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(fields[2]) !== group) continue
      const command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ')
      members.push({ pid: Number(entry), ppid: Number(fields[1]), command })
    } catch {
      // It ended meanwhile.
    }
  }
  return members
}

/** The chain from the group's leader down, as "npm … → sh -c … → node src/cli/start.ts". */
function describeChain(group: number, members: ReturnType<typeof groupMembers>): string {
  const chain: string[] = []
  let at = members.find((m) => m.pid === group)
  while (at) {
    const words = at.command.split(' ')
    chain.push(words.map((w) => (w.startsWith('/') ? w.slice(w.lastIndexOf('/') + 1) : w)).join(' '))
    const parent: number = at.pid
    at = members.find((m) => m.ppid === parent)
  }
  return chain.join(' → ')
}

async function firstOk(url: string, deadline: number, alive: () => boolean): Promise<void> {
  for (;;) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) })
      await response.arrayBuffer()
      if (response.status === 200) return
    } catch {
      // Not listening yet.
    }
    if (!alive() || Date.now() > deadline) throw new Error(`no 200 from ${url}`)
    await sleep(POLL_MS)
  }
}

/**
 * `npm start` (the npm on PATH, run by the bench's Node) in a process group of its own, timed to the
 * first 200 of /healthz; then `requests` (paths and cookies) sent one at a time, 5 s idle, and the
 * memory read; then stopped.
 */
async function npmStart(
  env: Record<string, string>,
  requests: (url: string) => Promise<{ path: string; cookie?: string }[]>,
): Promise<Start> {
  const dir = mkdtempSync(join(tmpdir(), 'masthead-bench-start-'))
  const port = await freePort()
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    // The repo's Node first, so that npm (`#!/usr/bin/env node`) and the script it runs both use it.
    PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`,
    PORT: String(port),
    HOST: '127.0.0.1',
    ...env,
  }
  if (!('DATABASE_URL' in env)) delete childEnv.DATABASE_URL
  const url = `http://127.0.0.1:${port}`
  const started = performance.now()
  const spawned = spawnInGroup(['start'], childEnv, join(dir, 'server.log'), { program: 'npm' })
  const group = spawned.child.pid!
  try {
    try {
      await firstOk(`${url}/healthz`, Date.now() + START_TIMEOUT_MS, spawned.isRunning)
    } catch (error) {
      const tail = spawned.output().trimEnd().split('\n').slice(-20).join('\n')
      throw new Error(`\`npm start\` did not serve: ${(error as Error).message}. Its last output:\n${tail}`, {
        cause: error,
      })
    }
    const seconds = (performance.now() - started) / 1000
    const members = groupMembers(group)
    // The node process itself, not the `sh -c "node src/cli/start.ts"` npm runs it with.
    const server = members.find(
      (m) => /(^|\/)node$/.test(m.command.split(' ')[0]!) && m.command.includes('src/cli/start.ts'),
    )
    if (!server) throw new Error(`no node src/cli/start.ts among ${JSON.stringify(members)}`)
    const chain = describeChain(group, members)
    const rssAfterStart = residentBytes(server.pid) ?? 0
    for (const { path, cookie } of await requests(url)) {
      const response = await fetch(`${url}${path}`, cookie ? { headers: { Cookie: cookie } } : {})
      await response.arrayBuffer()
      if (response.status !== 200) throw new Error(`GET ${path} answered ${response.status}`)
    }
    await sleep(IDLE_MS)
    const rssIdle = await settledRss(server.pid)
    const npmRss = await settledRss(group)
    // SIGTERM to the server, as npm relays a Ctrl-C; npm then exits with it.
    process.kill(server.pid, 'SIGTERM')
    await Promise.race([spawned.exited, sleep(STOP_GRACE_MS)])
    return { seconds, rssAfterStart, rssIdle, npmRss, chain }
  } finally {
    spawned.killGroup()
    await Promise.race([spawned.exited, sleep(STOP_GRACE_MS)])
    rmSync(dir, { recursive: true, force: true })
  }
}

/** REQUESTS requests spread evenly over the given routes, in turn. */
const spread = (routes: { path: string; cookie?: string }[], count = REQUESTS) =>
  Array.from({ length: count }, (_, i) => routes[i % routes.length]!)

/** Runs `fn` with the PGlite templates `npm install` made moved aside, and always puts them back. */
async function withoutTemplates<T>(fn: () => Promise<T>): Promise<T> {
  const moved = (existsSync(TEMPLATES) ? readdirSync(TEMPLATES) : [])
    .filter((name) => name.startsWith('pglite-') && !name.includes('.partial-'))
    .map((name) => ({ from: join(TEMPLATES, name), to: join(TEMPLATES, `.${name}.bench-aside-${process.pid}`) }))
  const restore = () => {
    for (const { from, to } of moved) if (existsSync(to)) renameSync(to, from)
  }
  process.on('exit', restore)
  try {
    for (const { from, to } of moved) renameSync(from, to)
    return await fn()
  } finally {
    restore()
    process.off('exit', restore)
  }
}

export async function measureStartAndMemory(
  ctx: BenchContext,
  given: Extract<DatabaseTarget, { kind: 'postgres' }>,
  pglite: DatabaseTarget,
): Promise<void> {
  buildNodeServer()
  const rows: Row[] = []
  const chains = new Set<string>()
  const perRound: string[] = []
  const upToDate = () => {
    // Someone editing src/ while the bench runs would make a start build: build first, as labelled.
    if (nodeBuildIsStale()) buildNodeServer(true)
  }
  const row = (database: 'PostgreSQL' | 'PGlite', what: string, starts: Start[], withTargets: boolean): Row => {
    for (const s of starts) chains.add(s.chain)
    perRound.push(
      `${database}, ${what}: ${starts.map((s) => `${s.seconds.toFixed(2)} s, ${mb(s.rssIdle)} MB`).join('; ')}`,
    )
    const seconds = median(starts.map((s) => s.seconds))
    const rss = mb(median(starts.map((s) => s.rssIdle)))
    const target = TARGETS[database]
    return {
      Database: database,
      Start: what,
      Rounds: starts.length,
      'First 200 (s)': seconds.toFixed(2),
      'Server RSS after start (MB)': mb(median(starts.map((s) => s.rssAfterStart))),
      'Server RSS idle (MB)': rss,
      'npm RSS (MB)': mb(median(starts.map((s) => s.npmRss))),
      Target: withTargets
        ? `≤ ${target.seconds} s: ${seconds <= target.seconds ? 'met' : 'not met'}; ` +
          `≤ ${target.rssMb} MB: ${rss <= target.rssMb ? 'met' : 'not met'}`
        : '',
    }
  }

  // ---------------------------------------------------------------- PostgreSQL
  const admin = postgres(given.url, { max: 1, onnotice: () => {} })
  const name = `masthead_bench_start_${process.pid}`
  const databaseUrl = new URL(given.url)
  databaseUrl.pathname = `/${name}`
  const env = { DATABASE_URL: databaseUrl.toString() }
  try {
    await admin.unsafe(`create database "${name}"`)
    ctx.log('npm start on PostgreSQL: the first start, on the new database')
    const sql = postgres(env.DATABASE_URL, { max: 1, onnotice: () => {} })
    let session = ''
    try {
      const first = await npmStart(env, async () => {
        session = await makeSupporter(sql, env.DATABASE_URL)
        return []
      })
      perRound.push(`PostgreSQL, first start (migrations applied): ${first.seconds.toFixed(2)} s`)
    } finally {
      await sql.end({ timeout: 5 })
    }
    const routes = async (url: string) => {
      const answer = await fetch(`${url}${ENTITLEMENTS}`, { headers: { Cookie: session } })
      await answer.arrayBuffer()
      const view = answer.headers
        .getSetCookie()
        .find((c) => c.startsWith(`${VIEW_COOKIE}=`))
        ?.split(';')[0]
      return spread(
        [
          { path: '/assets/style.css' },
          { path: ENTITLEMENTS },
          { path: ENTITLEMENTS, cookie: view ? `${session}; ${view}` : session },
          { path: ENTITLEMENTS, cookie: session },
        ],
        REQUESTS - 1,
      ) // the request that took the page-view cookie was the first
    }
    const starts: Start[] = []
    for (let round = 1; round <= ROUNDS; round++) {
      upToDate()
      ctx.log(`npm start on PostgreSQL, round ${round}/${ROUNDS}`)
      starts.push(await npmStart(env, routes))
    }
    rows.push(row('PostgreSQL', 'build up to date, migrated database', starts, true))
    ctx.log('npm start on PostgreSQL after `touch src/app.ts` (the build stale)')
    const now = new Date()
    utimesSync(join(root, 'src/app.ts'), now, now)
    rows.push(
      row('PostgreSQL', 'stale build (after `touch src/app.ts`): builds first', [await npmStart(env, routes)], false),
    )
  } finally {
    await admin.unsafe(`drop database if exists "${name}" with (force)`).catch(() => {})
    await admin.end({ timeout: 5 })
  }

  // ---------------------------------------------------------------- PGlite
  const pgliteRoutes = async () =>
    spread([
      { path: '/assets/style.css' },
      { path: ENTITLEMENTS },
      // No supporter can be written into the server's embedded database from here: an unknown session, looked up.
      { path: ENTITLEMENTS, cookie: 'masthead_session=bench-unknown-session-0123456789' },
    ])
  const freshPglite = async () => {
    const dir = mkdtempSync(join(tmpdir(), 'masthead-bench-pglite-'))
    try {
      return await npmStart({ DATA_DIR: join(dir, 'data') }, pgliteRoutes)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
  const templates = existsSync(TEMPLATES)
    ? readdirSync(TEMPLATES).filter((n) => n.startsWith('pglite-') && !n.includes('.partial-'))
    : []
  const pgliteStarts: Start[] = []
  for (let round = 1; round <= ROUNDS; round++) {
    upToDate()
    ctx.log(`npm start on ${pglite.name}, fresh DATA_DIR, round ${round}/${ROUNDS}`)
    pgliteStarts.push(await freshPglite())
  }
  rows.push(row('PGlite', 'build up to date, fresh DATA_DIR', pgliteStarts, true))
  upToDate()
  ctx.log(`npm start on ${pglite.name}, fresh DATA_DIR, the template moved aside`)
  const bare = await withoutTemplates(freshPglite)
  rows.push(row('PGlite', 'fresh DATA_DIR without the template (initdb and migrations at start)', [bare], false))

  // ---------------------------------------------------------------- bare Hono
  const bareRss: number[] = []
  for (let round = 1; round <= ROUNDS; round++) {
    const helper = await startBareHono()
    try {
      for (let i = 0; i < REQUESTS; i++) await (await fetch(`${helper.url}/ping`)).arrayBuffer()
      await sleep(IDLE_MS)
      bareRss.push(await settledRss(helper.processGroup))
    } finally {
      await helper.stop()
    }
  }
  rows.push({
    Database: 'none',
    Start: `reference: bare Hono, \`node ${BARE_HONO}\``,
    Rounds: ROUNDS,
    'First 200 (s)': 'n/a',
    'Server RSS after start (MB)': 'n/a',
    'Server RSS idle (MB)': mb(median(bareRss)),
    'npm RSS (MB)': 'n/a',
    Target: '',
  })

  ctx.note(
    `Start-up and memory (second table): \`npm start\` run as a user runs it, the npm on PATH ` +
      `(${npmVersion()}) on the bench's Node, in a process group of its own: ${[...chains].join('; ')}. ` +
      'Seconds are from spawning npm to the first 200 of `GET /healthz`, polled every ' +
      `${POLL_MS} ms. Then ${REQUESTS} requests one at a time, spread evenly over the routes of the first table ` +
      '(style.css, entitlements without a cookie, with the page-view cookie, with the session cookie; on PGlite, ' +
      "where the bench cannot write a supporter into the server's embedded database, style.css, no cookie, and an " +
      `unknown session cookie, which is looked up), then ${IDLE_MS / 1000} s idle, then the VmRSS of the server's ` +
      'node process (the one running `node src/cli/start.ts`, which imports dist/node/node.js in the same ' +
      "process), the highest of five samples 50 ms apart. Counted: that process alone; npm's own node process is " +
      'given separately, and the `sh` npm runs the script with (about 1 MB) is not counted. The V8 heap was not ' +
      'measured (no cheap way in from outside).',
  )
  ctx.note(
    `PostgreSQL: a new database on the server in ${given.source}, dropped afterwards; its first start applied ` +
      `the migrations and is given below, not in the medians; then ${ROUNDS} starts on it (the supporter of the ` +
      'first table written after the first). The build is made once before (`node src/cli/start.ts --build`), ' +
      'so every start but the labelled one finds it up to date and only checks the times of its inputs; the ' +
      'stale one follows `touch src/app.ts`, so that `npm start` builds with esbuild before serving.',
  )
  ctx.note(
    `PGlite: each start on a new empty DATA_DIR under ${tmpdir()}. A new data directory starts as a copy of the ` +
      "template `npm install` made (postinstall: src/cli/pglite-template.ts, PGlite's data directory with every " +
      `migration applied, in node_modules/.cache/masthead/: ${templates.join(', ') || 'none found'}); the labelled ` +
      'start without it had the template renamed aside for that one start (and back afterwards), so PGlite ran ' +
      'initdb and the migrations itself.',
  )
  ctx.note(
    `Reference memory: \`node ${BARE_HONO}\` started fresh ${ROUNDS} times, ${REQUESTS} requests to /ping one at ` +
      `a time, ${IDLE_MS / 1000} s idle, its VmRSS read the same way.`,
  )
  ctx.note(`Start-up rounds (seconds to the first 200, idle RSS): ${perRound.join('. ')}.`)
  ctx.table('Start-up and idle memory of `npm start`', rows)
}

/** The version of the npm that `npm start` finds on the PATH it is given. */
function npmVersion(): string {
  try {
    const PATH = `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`
    return `npm ${execFileSync('npm', ['-v'], { env: { ...process.env, PATH }, encoding: 'utf8' }).trim()}`
  } catch {
    return 'npm'
  }
}
