/**
 * Runs a TypeScript entry (the Node server, a command-line tool) from a bundle of it: esbuild
 * bundles the entry and everything it imports into one directory under dist/, once, and again only
 * when one of its inputs is newer than the bundle; then the bundle is imported in this process with
 * V8's compile cache. Loading the TypeScript through tsx, and drizzle-orm as its hundreds of little
 * modules, took 1.6 s and about 150 MB before the server could answer (BENCHMARKS.md, path) and
 * about 2 s before an import tool could start reading its file (BENCHMARKS.md, ghost).
 *
 * Runs on Node's own type stripping (no tsx): it imports nothing of Masthead's.
 */
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { enableCompileCache } from 'node:module'
import { basename } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))

/** An entry and where its bundle goes: dist/<name>, two levels down, as src/<folder>/ is. */
export interface Bundle {
  /** The entry, from the repository's root, e.g. src/node.ts. */
  entry: string
  /** The bundle's directory under dist/. */
  name: string
}

const outdirOf = (bundle: Bundle) => `${root}dist/${bundle.name}`

/** True when a bundle is there and none of the files it was made from changed since. */
function upToDate(bundle: Bundle): boolean {
  try {
    const record = `${outdirOf(bundle)}/inputs.json`
    const { builtAt, inputs } = JSON.parse(readFileSync(record, 'utf8')) as { builtAt: number; inputs: string[] }
    return inputs.every((input) => statSync(`${root}${input}`).mtimeMs < builtAt)
  } catch {
    return false // no bundle yet, or a file it was made from is gone
  }
}

async function build(bundle: Bundle): Promise<void> {
  const builtAt = Date.now()
  const outdir = outdirOf(bundle)
  const esbuild = await import('esbuild')
  rmSync(outdir, { recursive: true, force: true })
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: [bundle.entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    // Dynamic imports stay chunks of their own: the development tools, PGlite's driver.
    splitting: true,
    outdir,
    // The entry at the bundle's top, two levels down as in src/: src/db/migrate.ts finds drizzle/ at ../../drizzle.
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
  await esbuild.stop() // its service process would otherwise stay beside the program
  const inputs = Object.keys(result.metafile.inputs).filter((input) => !input.includes(':'))
  writeFileSync(`${outdir}/inputs.json`, JSON.stringify({ builtAt, inputs: ['package-lock.json', ...inputs] }))
}

/**
 * One build of a bundle at a time (two servers started at once, as the browser tests do): the
 * first takes the lock (a directory: made or not, atomically), the others wait for it and find the
 * bundle made.
 */
export async function buildOnce(bundle: Bundle, force: boolean): Promise<void> {
  const lock = `${root}dist/.${bundle.name}-build.lock`
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
    if (force || !upToDate(bundle)) await build(bundle)
  } finally {
    rmSync(lock, { recursive: true, force: true })
  }
}

/** Builds the bundle if it is missing or stale, then runs it in this process. */
export async function runBundle(bundle: Bundle): Promise<void> {
  if (!upToDate(bundle)) await buildOnce(bundle, false)
  enableCompileCache(`${root}node_modules/.cache/masthead/compile`)
  await import(pathToFileURL(`${outdirOf(bundle)}/${basename(bundle.entry).replace(/\.ts$/, '.js')}`).href)
}
