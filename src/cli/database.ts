/**
 * The database a command-line tool (`npm run db:seed`, `npm run import:patreon`) works on, the
 * one `npm start` would use: DATABASE_URL, or the embedded PGlite under DATA_DIR; migrated first.
 * Node only. PGlite allows one process at a time, so stop the server before pointing a tool at it.
 */
import { mkdirSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Config } from '../config'
import { connectPostgres, describePostgresUrl, type DatabaseHandle } from '../db/client'
import { migratePgliteClient, migratePostgresUrl } from '../db/migrate'
import { openPglite } from '../db/pglite'

export type CliDatabase = DatabaseHandle & { label: string }

export async function openCliDatabase(config: Config, options: { max: number }): Promise<CliDatabase> {
  if (config.DATABASE_URL) {
    await migratePostgresUrl(config.DATABASE_URL)
    return { ...connectPostgres(config.DATABASE_URL, options), label: describePostgresUrl(config.DATABASE_URL) }
  }
  const dir = resolve(config.DATA_DIR, 'pglite')
  mkdirSync(dir, { recursive: true })
  const handle = await openPglite(dir)
  await migratePgliteClient(handle.client)
  return { ...handle, label: `embedded PGlite at ${dir}` }
}
