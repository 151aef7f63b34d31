import { randomBytes } from 'node:crypto'
import postgres from 'postgres'
import { connectPostgres, type Database } from '../../src/db/client'
import { migratePgliteClient, migratePostgresUrl } from '../../src/db/migrate'
import { openPglite } from '../../src/db/pglite'

export interface TestDatabase {
  db: Database
  /** A connection URL for the database (PostgreSQL server only). */
  url?: string
  /** Which kind of database the suite is running against, for test names. */
  kind: 'postgres' | 'pglite'
  close(): Promise<void>
}

/**
 * A fresh, migrated database for one test file: a new database on the server
 * in TEST_DATABASE_URL when it is set, an in-memory PGlite otherwise. It is
 * dropped on close, so no test ever sees another's rows.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = process.env.TEST_DATABASE_URL
  if (!serverUrl) {
    const handle = await openPglite()
    await migratePgliteClient(handle.client)
    return { db: handle.db, kind: 'pglite', close: handle.close }
  }
  const { url, drop } = await createServerDatabase(serverUrl)
  await migratePostgresUrl(url)
  const handle = connectPostgres(url, { max: 4, prepare: true })
  return {
    db: handle.db,
    url,
    kind: 'postgres',
    close: async () => {
      await handle.close()
      await drop()
    },
  }
}

/** Creates an empty database named for this run on the server; `drop` removes it. */
export async function createServerDatabase(
  serverUrl: string,
): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `masthead_test_${process.pid}_${randomBytes(4).toString('hex')}`
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
  try {
    await admin.unsafe(`create database "${name}"`)
  } finally {
    await admin.end()
  }
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    name,
    drop: async () => {
      const admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
      try {
        await admin.unsafe(`drop database if exists "${name}" with (force)`)
      } finally {
        await admin.end()
      }
    },
  }
}
