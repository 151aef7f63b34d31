/**
 * Workers in workerd itself, for benchmarks: bundled by wrangler as `npm run worker:build` bundles
 * Masthead, then served by the `workerd` binary from a generated config, in a process group of its
 * own (measured and killed as one), with no wrangler or Miniflare in the request path.
 */
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, delimiter, dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort, root, spawnInGroup, stopOnExit } from './lib'

export interface WorkerdServer {
  url: string
  processGroup: number
  output(): string
  stop(): Promise<void>
}

/** Masthead's compatibility date, from wrangler.toml: every bench Worker runs under the same one. */
function compatibilityDate(): string {
  const date = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(readFileSync(join(root, 'wrangler.toml'), 'utf8'))?.[1]
  if (!date) throw new Error('wrangler.toml has no compatibility_date')
  return date
}

/**
 * Bundles a Worker with `wrangler deploy --dry-run`: Masthead from wrangler.toml when `main` is
 * omitted, else `main` (a path from the project root) under a throwaway config with the same
 * compatibility date. Returns the bundled module's path, in `outdir`.
 */
export function bundleWorker(outdir: string, main?: string): string {
  mkdirSync(outdir, { recursive: true })
  const args = ['deploy', '--dry-run', '--outdir', outdir]
  if (main) {
    const config = join(outdir, 'wrangler.toml')
    writeFileSync(
      config,
      `name = "bench-${basename(main, '.ts')}"\nmain = ${JSON.stringify(join(root, main))}\n` +
        `compatibility_date = "${compatibilityDate()}"\ncompatibility_flags = ["nodejs_compat"]\n`,
    )
    args.push('--config', config)
  }
  const result = spawnSync(join(root, 'node_modules/.bin/wrangler'), args, {
    cwd: root,
    encoding: 'utf8',
    env: {
      ...process.env,
      PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`,
      WRANGLER_SEND_METRICS: 'false',
      CLOUDFLARE_CF_FETCH_ENABLED: 'false',
    },
  })
  if (result.status !== 0) throw new Error(`wrangler could not bundle ${main ?? 'Masthead'}:\n${result.stderr}`)
  const bundle = readdirSync(outdir).find((file) => file.endsWith('.js'))
  if (!bundle) throw new Error(`wrangler wrote no module to ${outdir}`)
  return join(outdir, bundle)
}

const capnpString = (value: string) => JSON.stringify(value) // Cap'n Proto text strings escape as JSON's do

/**
 * Serves one bundled Worker module with workerd on a free loopback port, with text bindings and
 * outbound access to this machine (the origin, PostgreSQL). Ready once it answers HTTP.
 */
export async function startWorkerd(
  bundle: string,
  bindings: Record<string, string>,
  /** host:port of a Cache API service (bench/cache-api.ts) for `caches.default`; without it, workerd has none. */
  cacheApi?: string,
): Promise<WorkerdServer> {
  const dir = mkdtempSync(join(tmpdir(), 'masthead-workerd-'))
  copyFileSync(bundle, join(dir, 'worker.js'))
  const port = await freePort()
  writeFileSync(
    join(dir, 'config.capnp'),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "internet", network = (allow = ["public", "private", "local"])),${
      cacheApi ? `\n    (name = "cache", external = (address = ${capnpString(cacheApi)}, http = ())),` : ''
    }
  ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);
const worker :Workerd.Worker = (
  modules = [ (name = "worker.js", esModule = embed "worker.js") ],
  compatibilityDate = "${compatibilityDate()}",
  compatibilityFlags = ["nodejs_compat"],
  globalOutbound = "internet",${cacheApi ? '\n  cacheApiOutbound = "cache",' : ''}
  bindings = [
${Object.entries(bindings)
  .map(([name, value]) => `    (name = ${capnpString(name)}, text = ${capnpString(value)}),`)
  .join('\n')}
  ],
);
`,
  )
  const spawned = spawnInGroup(['serve', 'config.capnp'], process.env, join(dir, 'workerd.log'), {
    program: join(root, 'node_modules/workerd/bin/workerd'),
    cwd: dir,
  })
  const { child, isRunning, output } = spawned
  const stop = stopOnExit(spawned, dir)

  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 30_000
  for (;;) {
    try {
      await (await fetch(`${url}/favicon.ico`)).arrayBuffer() // any answer: it is serving
      break
    } catch {
      if (!isRunning() || Date.now() > deadline || child.pid === undefined) {
        const tail = output().trimEnd().split('\n').slice(-20).join('\n')
        await stop()
        throw new Error(`workerd did not start. Its last output:\n${tail}`)
      }
      await sleep(100)
    }
  }
  return { url, processGroup: child.pid!, output, stop }
}
