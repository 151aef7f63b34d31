import { createHash } from 'node:crypto'
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm'
import { drizzle } from 'drizzle-orm/pglite'
import { schema, type DatabaseHandle } from './client'
import { migratePgliteClient, migrationsFolder } from './migrate'

/**
 * Embedded PostgreSQL (PGlite, WebAssembly) for Node: the default when no
 * DATABASE_URL is set, so a bare machine needs no server. Kept out of
 * client.ts so that the Worker bundle never includes it.
 */

/**
 * PGlite's own start parameters, with smaller buffers: its default shared_buffers (128 MB) made
 * PGlite alone hold about 330 MB once started; with 16 MB, about 210 MB (BENCHMARKS.md, path). The
 * embedded database is for trying Masthead and for small sites; a publication with many readers
 * runs PostgreSQL, whose buffers are its own business.
 */
const START_PARAMS = [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB', '-c', 'wal_buffers=1MB']

/**
 * A new data directory for the server starts as a copy of a template: an empty database with every
 * migration of drizzle/ applied, made once by `npm install` (src/cli/pglite-template.ts). Making one
 * at the first start (initdb in WebAssembly, then the migrations) took about 6 s and left PGlite
 * holding 250 MB more; copying the template's files takes milliseconds, and PGlite then opens it as
 * it opens any data directory (BENCHMARKS.md, path). Its name holds PGlite's version and a hash of
 * the migrations, so a template made before a migration was added is never used: the server then
 * starts the slow way, and `npm install` makes the new one.
 */
export function pgliteTemplateDir(): string {
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite')
  const nodeModules = entry.slice(0, entry.lastIndexOf('node_modules') + 'node_modules'.length)
  const manifest = join(nodeModules, '@electric-sql', 'pglite', 'package.json')
  const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }
  const migrations = createHash('sha256')
  for (const file of readdirSync(migrationsFolder)
    .filter((name) => name.endsWith('.sql'))
    .sort()) {
    migrations.update(file).update(readFileSync(join(migrationsFolder, file)))
  }
  const key = migrations.digest('hex').slice(0, 16)
  return join(nodeModules, '.cache', 'masthead', `pglite-${version}-${key}`)
}

/**
 * Makes the template (`npm install` does, once per PGlite version and set of migrations); true when
 * one was made. Templates of other versions or migrations, which no start would use again (40 MB
 * each), are removed.
 */
export async function makePgliteTemplate(): Promise<boolean> {
  const dir = pgliteTemplateDir()
  removeOtherTemplates(dir)
  if (existsSync(join(dir, 'PG_VERSION'))) return false
  // Made beside it, then renamed: a start never copies half a template.
  const partial = `${dir}.partial-${process.pid}`
  rmSync(partial, { recursive: true, force: true })
  mkdirSync(partial, { recursive: true })
  try {
    const pglite = await PGlite.create(partial, { extensions: { pg_trgm }, startParams: START_PARAMS })
    try {
      await migratePgliteClient(pglite)
    } finally {
      await pglite.close() // shut down cleanly: a copy needs no recovery
    }
    rmSync(dir, { recursive: true, force: true })
    renameSync(partial, dir)
  } finally {
    rmSync(partial, { recursive: true, force: true })
  }
  return true
}

/** The cache's other templates, but one being made (`.partial-<pid>`, perhaps by a concurrent install). */
function removeOtherTemplates(dir: string): void {
  const cache = dirname(dir)
  if (!existsSync(cache)) return
  for (const name of readdirSync(cache)) {
    if (/^pglite-.+-[0-9a-f]{16}$/.test(name) && join(cache, name) !== dir) {
      rmSync(join(cache, name), { recursive: true, force: true })
    }
  }
}

/**
 * @param dataDir a folder to persist to, or undefined for an in-memory database
 * @param options.migrated a new data directory may start as a copy of the migrated template (the
 *   server's start, which migrates next anyway); otherwise a new database is empty, as initdb leaves it
 */
export async function openPglite(
  dataDir?: string,
  options: { migrated?: boolean } = {},
): Promise<DatabaseHandle & { client: PGlite }> {
  if (dataDir !== undefined && options.migrated && !existsSync(join(dataDir, 'PG_VERSION'))) {
    const template = pgliteTemplateDir()
    // Not made (npm install --ignore-scripts), or a migration added since: initdb and migrate, as before.
    if (existsSync(join(template, 'PG_VERSION'))) cpSync(template, dataDir, { recursive: true })
  }
  // pg_trgm: the supporter list's search indexes (drizzle/0006_supporters.sql).
  const client = await PGlite.create(dataDir, { extensions: { pg_trgm }, startParams: START_PARAMS })
  return {
    client,
    db: drizzle(client, { schema }),
    close: () => client.close(),
  }
}
