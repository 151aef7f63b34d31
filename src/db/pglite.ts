import { PGlite } from '@electric-sql/pglite'
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
  const client = await PGlite.create(dataDir)
  return {
    client,
    db: drizzle(client, { schema }),
    close: () => client.close(),
  }
}
