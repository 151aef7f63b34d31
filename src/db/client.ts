import type { SQL } from 'drizzle-orm'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import * as schema from './schema'

export { schema }

/** A Drizzle database, whichever driver is underneath (postgres.js or PGlite). */
export type Database = PgDatabase<PgQueryResultHKT, typeof schema>

/**
 * The rows of a raw statement, whichever driver ran it: postgres.js answers
 * with an array of rows, PGlite with `{ rows }`.
 */
export async function rowsOf<Row>(db: Database, query: SQL): Promise<Row[]> {
  const result: unknown = await db.execute(query)
  if (!Array.isArray(result)) return (result as { rows: Row[] }).rows
  return result as Row[]
}

/**
 * A statement whose text never changes, run straight on the driver with its parameters
 * ($1, $2, …): nothing is built per call (Drizzle composes and serialises a statement on every
 * execute), and on a pool opened with `prepare` (the Node server's) it is a named prepared
 * statement, parsed and planned once per connection. For the statements that run on every request (the session lookup). `db` must be a
 * handle from connectPostgres or openPglite, not a transaction.
 */
export function fixedStatement<Row>(text: string): (db: Database, params: unknown[]) => Promise<Row[]> {
  return (db, params) => runStatement<Row>(db, text, params)
}

/** A statement as text ($1, $2, …) and parameters, run straight on the driver (see fixedStatement). */
export async function runStatement<Row>(db: Database, text: string, params: unknown[]): Promise<Row[]> {
  const client = driverOf(db)
  if ('postgres' in client) {
    return (await client.postgres.unsafe(text, params as postgres.ParameterOrJSON<never>[])) as unknown as Row[]
  }
  return (await client.pglite.query<Row>(text, params)).rows
}

/** What PGlite's client offers that Masthead runs statements with, without importing PGlite here. */
export interface PgliteClient {
  query<Row>(text: string, params: unknown[]): Promise<{ rows: Row[] }>
  transaction<T>(run: (tx: Pick<PgliteClient, 'query'>) => Promise<T>): Promise<T>
}

/**
 * The driver under a handle from connectPostgres or openPglite, for statements run on it
 * directly (runStatement, src/db/commit-group.ts). A transaction has none: it throws.
 */
export function driverOf(db: Database): { postgres: postgres.Sql } | { pglite: PgliteClient } {
  const client = (db as { $client?: unknown }).$client
  if (typeof client === 'function' && 'unsafe' in client) return { postgres: client as postgres.Sql }
  if (client && typeof client === 'object' && 'query' in client) return { pglite: client as PgliteClient }
  throw new Error(
    'a statement run on the driver needs a database handle (connectPostgres or openPglite), not a transaction',
  )
}

export interface DatabaseHandle {
  db: Database
  close(): Promise<void>
}

export interface PostgresOptions {
  /** Connections in the pool. The Worker keeps this small: Hyperdrive pools for it. */
  max?: number
  /** Seconds to wait for a connection before a query fails. */
  connectTimeout?: number
  /**
   * Named prepared statements: Postgres parses and plans each distinct query
   * once per connection instead of on every call. Drizzle asks postgres.js
   * for them only for queries given a name with `.prepare(name)`, so this
   * turns them on for every query outside transactions (BENCHMARKS.md,
   * webhooks). Off unless asked for: the Worker goes through Hyperdrive.
   */
  prepare?: boolean
}

/** postgres.js over TCP, on Node and, through Hyperdrive, on Workers. */
export function connectPostgres(url: string, options: PostgresOptions = {}): DatabaseHandle {
  const sql = postgres(url, {
    max: options.max ?? 10,
    connect_timeout: options.connectTimeout ?? 10,
    // Hyperdrive recommends skipping the type round trip; Masthead uses no custom types.
    fetch_types: false,
    onnotice: () => {},
  })
  if (options.prepare) {
    const unsafe = sql.unsafe
    sql.unsafe = (query, args, queryOptions) => unsafe(query, args, { ...queryOptions, prepare: true })
  }
  return {
    db: drizzlePostgres(sql, { schema }),
    close: () => sql.end({ timeout: 5 }),
  }
}

/** Where the URL points, without the user or password, for start-up messages. */
export function describePostgresUrl(url: string): string {
  try {
    const u = new URL(url)
    return `PostgreSQL at ${u.hostname}:${u.port || '5432'}${u.pathname}`
  } catch {
    return 'PostgreSQL'
  }
}
