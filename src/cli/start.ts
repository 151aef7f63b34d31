/**
 * `npm start`: builds the Node server when its build is missing or older than its sources, then
 * runs it in this process. The build is src/node.ts and everything it imports, bundled by esbuild
 * into dist/node: loading the TypeScript through tsx, and drizzle-orm as its hundreds of little
 * modules, took 1.6 s and about 150 MB before the first request could be served (BENCHMARKS.md,
 * path). The development tools stay a chunk of their own, loaded only outside production.
 *
 * A build whose every input (Masthead's files and the packages bundled in) is older than it is
 * kept, so a start only checks their times. `npm run build:node` (`--build`) builds anyway and
 * runs nothing. V8's compile cache (node_modules/.cache/masthead/compile) spares later starts
 * compiling the bundle again.
 *
 * Runs on Node's own type stripping (no tsx): it imports nothing of Masthead's but the build.
 */
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { enableCompileCache } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))
const outdir = `${root}dist/node`
const record = `${outdir}/inputs.json`

/** True when a build is there and none of the files it was made from changed since. */
function upToDate(): boolean {
  try {
    const { builtAt, inputs } = JSON.parse(readFileSync(record, 'utf8')) as { builtAt: number; inputs: string[] }
    return inputs.every((input) => statSync(`${root}${input}`).mtimeMs < builtAt)
  } catch {
    return false // no build yet, or a file it was made from is gone
  }
}

async function build(): Promise<void> {
  const builtAt = Date.now()
  const esbuild = await import('esbuild')
  rmSync(outdir, { recursive: true, force: true })
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: ['src/node.ts'],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    // Dynamic imports stay chunks of their own: the development tools, PGlite's driver.
    splitting: true,
    outdir,
    // Same depth as src/db, so that src/db/migrate.ts finds drizzle/ at ../../drizzle.
    entryNames: '[name]',
    // They read files next to their own code (WebAssembly, PGlite's data): loaded from node_modules.
    external: ['@electric-sql/pglite', 'htmlrewriter'],
    metafile: true,
    logLevel: 'warning',
    // CommonJS packages bundled into ESM (the Stripe SDK) require Node's built-in modules.
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
  })
  await esbuild.stop() // its service process would otherwise stay beside the server
  const inputs = Object.keys(result.metafile.inputs).filter((input) => !input.includes(':'))
  writeFileSync(record, JSON.stringify({ builtAt, inputs: ['package-lock.json', ...inputs] }))
}

/**
 * One build at a time (two servers started at once, as the browser tests do): the first takes the
 * lock (a directory: made or not, atomically), the others wait for it and find the build made.
 */
async function buildOnce(force: boolean): Promise<void> {
  const lock = `${root}dist/.node-build.lock`
  mkdirSync(`${root}dist`, { recursive: true })
  for (const deadline = Date.now() + 120_000; ;) {
    try {
      mkdirSync(lock)
      break
    } catch {
      // A lock left by a build that died is older than any build takes.
      if (Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) > 120_000) {
        rmSync(lock, { recursive: true, force: true })
      } else if (Date.now() > deadline) throw new Error(`another build holds ${lock}`)
      await sleep(50)
    }
  }
  try {
    if (force || !upToDate()) await build()
  } finally {
    rmSync(lock, { recursive: true, force: true })
  }
}

if (process.argv.includes('--build')) {
  await buildOnce(true)
} else {
  if (!upToDate()) await buildOnce(false)
  enableCompileCache(`${root}node_modules/.cache/masthead/compile`)
  await import(pathToFileURL(`${outdir}/node.js`).href)
}
