import { randomBytes } from 'node:crypto'
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import postgres from 'postgres'
import { sql } from 'drizzle-orm'
import { connectPostgres, rowsOf, type Database } from '../../src/db/client'
import { migratePgliteClient, migratePostgresUrl, migrationsFolder } from '../../src/db/migrate'
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

/**
 * A scratch database with the committed migrations before `idx` applied (on the TEST_DATABASE_URL
 * server, else PGlite), to write rows the way code of that time did, and `migrateRest` to apply
 * the others: how a data migration is tested. `workDir` holds the shortened copy of drizzle/.
 */
export async function databaseBefore(
  idx: number,
  workDir: string,
): Promise<{ database: TestDatabase; db: Database; migrateRest(): Promise<void>; close(): Promise<void> }> {
  const before = join(workDir, `before-${idx}`)
  rmSync(before, { recursive: true, force: true })
  cpSync(migrationsFolder, before, { recursive: true })
  const journalFile = join(before, 'meta/_journal.json')
  const journal = JSON.parse(readFileSync(journalFile, 'utf8')) as { entries: { idx: number }[] }
  journal.entries = journal.entries.filter((e) => e.idx < idx)
  writeFileSync(journalFile, JSON.stringify(journal))

  const serverUrl = process.env.TEST_DATABASE_URL
  const server = serverUrl ? await createServerDatabase(serverUrl) : null
  const pglite = server ? null : await openPglite()
  const handle = server ? connectPostgres(server.url, { max: 2 }) : null
  const migrate = (folder: string) =>
    server ? migratePostgresUrl(server.url, folder) : migratePgliteClient(pglite!.client, folder)
  const close = async () => {
    await handle?.close()
    await server?.drop()
    await pglite?.close()
  }
  try {
    await migrate(before)
  } catch (error) {
    await close()
    throw error
  }
  const db = handle?.db ?? pglite!.db
  return {
    db,
    database: { db, kind: server ? 'postgres' : 'pglite', close, ...(server ? { url: server.url } : {}) },
    migrateRest: () => migrate(migrationsFolder),
    close,
  }
}

/**
 * Every row of the tables that hold personal data the in-place pass and keys:rotate write
 * (src/accounts/seal-existing.ts), as stored: what "a second run changes nothing" compares.
 */
export async function personalDataRows(db: Database) {
  return {
    users: await rowsOf(db, sql`select * from users order by id`),
    supporters: await rowsOf(db, sql`select * from supporters order by user_id`),
    emailTokens: await rowsOf(db, sql`select * from email_tokens order by token_hash`),
    mail: await rowsOf(db, sql`select * from dev_mailbox order by id`),
    imports: await rowsOf(db, sql`select * from import_batch_parts order by batch_id, part`),
  }
}
