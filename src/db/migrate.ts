import { fileURLToPath } from 'node:url'
import type { PGlite } from '@electric-sql/pglite'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator'
import postgres from 'postgres'

/** The committed SQL migrations written by drizzle-kit. */
export const migrationsFolder = fileURLToPath(new URL('../../drizzle', import.meta.url))

// Any fixed number: it names the lock that keeps two starting servers from
// applying the same migration at once.
const MIGRATION_LOCK = 727_274_001

/** Applies pending migrations to a PostgreSQL server, one process at a time. `folder`: tests of a migration's data changes. */
export async function migratePostgresUrl(url: string, folder = migrationsFolder): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  try {
    await sql`select pg_advisory_lock(${MIGRATION_LOCK})`
    try {
      await migratePostgres(drizzlePostgres(sql), { migrationsFolder: folder })
    } finally {
      await sql`select pg_advisory_unlock(${MIGRATION_LOCK})`
    }
  } finally {
    await sql.end({ timeout: 5 })
  }
}

/**
 * Applies pending migrations to an embedded PGlite database. Its driver is
 * loaded here, when asked for: a server on PostgreSQL never holds PGlite in
 * memory (its modules are about 4 MB of heap that every garbage collection
 * would walk).
 */
export async function migratePgliteClient(client: PGlite, folder = migrationsFolder): Promise<void> {
  const [{ drizzle }, { migrate }] = await Promise.all([
    import('drizzle-orm/pglite'),
    import('drizzle-orm/pglite/migrator'),
  ])
  await migrate(drizzle(client), { migrationsFolder: folder })
}
