/**
 * `npm run bench [-- name ...]`: runs every bench/*.bench.ts (or the named
 * ones) in sequence, prints their tables and rewrites their sections of
 * BENCHMARKS.md. A benchmark fails when it could not measure, or measured
 * a wrong result (rows missing, errors); then its section keeps its previous
 * figures and the run exits non-zero. A missed target is a figure like any
 * other: written with "not met", never hidden behind older figures.
 */
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { databaseTargets, root, type BenchContext, type Benchmark } from './lib'
import { machineFacts, renderSection, terminalTable, writeBenchmarksFile, type BenchRun } from './report'

const benchDir = join(root, 'bench')

function isBenchmark(value: unknown): value is Benchmark {
  const b = value as Partial<Benchmark> | undefined
  return typeof b?.name === 'string' && typeof b.description === 'string' && typeof b.run === 'function'
}

async function discover(): Promise<Benchmark[]> {
  const files = readdirSync(benchDir)
    .filter((file) => file.endsWith('.bench.ts'))
    .sort()
  const found: Benchmark[] = []
  for (const file of files) {
    const module: { default?: unknown } = await import(pathToFileURL(join(benchDir, file)).href)
    const benchmark = module.default
    if (!isBenchmark(benchmark)) throw new Error(`bench/${file} must default-export a Benchmark (see bench/lib.ts)`)
    if (found.some((b) => b.name === benchmark.name)) throw new Error(`two benchmarks are named ${benchmark.name}`)
    found.push(benchmark)
  }
  return found
}

async function runOne(benchmark: Benchmark): Promise<{ run: BenchRun; problems: string[] }> {
  const run: BenchRun = { benchmark, started: new Date(), machine: machineFacts(), notes: [], rows: [], tables: [] }
  const problems: string[] = []
  const ctx: BenchContext = {
    databases: databaseTargets(process.env),
    note: (line) => {
      if (!run.notes.includes(line)) run.notes.push(line)
    },
    table: (title, rows) => void run.tables.push({ title, rows }),
    fail: (problem) => problems.push(problem),
    log: (message) => console.log(`  ${message}`),
  }
  try {
    run.rows = await benchmark.run(ctx)
  } catch (error) {
    problems.push(error instanceof Error ? (error.stack ?? error.message) : String(error))
  }
  if (run.rows.length === 0 && problems.length === 0) problems.push('it returned no figures')
  return { run, problems }
}

async function main(): Promise<number> {
  const all = await discover()
  const wanted = process.argv.slice(2)
  const unknown = wanted.filter((name) => !all.some((b) => b.name === name))
  if (unknown.length > 0) {
    console.error(`Unknown benchmark ${unknown.join(', ')}; there are: ${all.map((b) => b.name).join(', ')}`)
    return 2
  }
  const selected = wanted.length > 0 ? all.filter((b) => wanted.includes(b.name)) : all

  const fresh = new Map<string, string>()
  const failed: string[] = []
  for (const benchmark of selected) {
    console.log(`\n== ${benchmark.name}: ${benchmark.description}`)
    const { run, problems } = await runOne(benchmark)
    if (run.rows.length > 0) console.log(`\n${terminalTable(run.rows)}`)
    for (const table of run.tables) console.log(`\n${table.title}\n${terminalTable(table.rows)}`)
    if (problems.length > 0) {
      failed.push(benchmark.name)
      console.error(`\nBENCHMARK ${benchmark.name} FAILED; BENCHMARKS.md keeps its previous figures:`)
      for (const problem of problems) console.error(`  - ${problem.replaceAll('\n', '\n    ')}`)
    } else {
      fresh.set(benchmark.name, renderSection(run))
    }
  }

  if (fresh.size > 0) {
    writeBenchmarksFile(
      join(root, 'BENCHMARKS.md'),
      all.map((b) => b.name),
      fresh,
    )
    console.log(`\nUpdated BENCHMARKS.md: ${[...fresh.keys()].join(', ')}`)
  }
  if (failed.length > 0) {
    console.error(`\nFailed: ${failed.join(', ')}`)
    return 1
  }
  return 0
}

// process.exit runs the 'exit' hooks in lib.ts that kill any server still up.
process.once('SIGINT', () => process.exit(130))
process.once('SIGTERM', () => process.exit(143))

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error)
    process.exit(1)
  },
)
