import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDatabase } from './harness'

/**
 * `npm run worker:dev` as a newcomer runs it on a fresh clone: package.json's script, with no
 * .dev.vars and no secret, against a migrated database (the one setting the README asks for).
 * It once answered every route 500 `misconfigured` (wrangler.toml says production).
 */
const root = fileURLToPath(new URL('../..', import.meta.url))
const script = (
  JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
).scripts['worker:dev']!

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })

let database: Awaited<ReturnType<typeof startDatabase>>
let child: ReturnType<typeof spawn>
let base: string
let output = ''

beforeAll(async () => {
  database = await startDatabase()
  const port = await freePort()
  base = `http://127.0.0.1:${port}`
  const [command, ...args] = script.split(/\s+/)
  expect(command).toBe('wrangler')
  child = spawn(path.join(root, 'node_modules/.bin/wrangler'), [...args, '--port', String(port), '--ip', '127.0.0.1'], {
    cwd: root,
    detached: true,
    env: {
      ...process.env,
      // The Node that runs the tests (22 or newer), whatever `node` the shell would find first.
      PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}`,
      WRANGLER_SEND_METRICS: 'false',
      CLOUDFLARE_CF_FETCH_ENABLED: 'false',
      CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE: database.url,
    },
  })
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const deadline = Date.now() + 90_000
  for (;;) {
    const up = await fetch(`${base}/healthz`).then(
      (res) => res.ok,
      () => false,
    )
    if (up) break
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`worker:dev did not start:\n${output}`)
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
}, 120_000)

afterAll(async () => {
  if (child?.pid && child.exitCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve))
    process.kill(-child.pid, 'SIGTERM')
    await exited
  }
  await database?.stop()
})

describe('npm run worker:dev on a fresh clone', () => {
  it('serves the pages, in development mode, with no secret set', async () => {
    for (const page of ['/', '/join', '/auth/sign-in']) {
      const res = await fetch(`${base}${page}`)
      expect(res.status, `${page}\n${output.slice(-2000)}`).toBe(200)
    }
    // Development mode: the development mailbox is there (it is a 404 in production).
    expect((await fetch(`${base}/dev/mailbox`)).status).toBe(200)
    const signIn = await fetch(`${base}/auth/sign-in`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: 'newcomer@example.org' }),
    })
    expect(signIn.status).toBe(202)
    expect(output).not.toContain('misconfigured')
  })
})
