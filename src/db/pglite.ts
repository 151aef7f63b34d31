import { PGlite } from '@electric-sql/pglite'
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm'
import { drizzle } from 'drizzle-orm/pglite'
import { schema, type DatabaseHandle } from './client'

/**
 * Embedded PostgreSQL (PGlite, WebAssembly) for Node: the default when no
 * DATABASE_URL is set, so a bare machine needs no server. Kept out of
 * client.ts so that the Worker bundle never includes it.
 *
 * @param dataDir a folder to persist to, or undefined for an in-memory database
 */
export async function openPglite(dataDir?: string): Promise<DatabaseHandle & { client: PGlite }> {
  // pg_trgm: the supporter list's search indexes (drizzle/0006_supporters.sql).
  const client = await PGlite.create(dataDir, { extensions: { pg_trgm } })
  return {
    client,
    db: drizzle(client, { schema }),
    close: () => client.close(),
  }
}
