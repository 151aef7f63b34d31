import type { SQL } from 'drizzle-orm'
import { PgDialect } from 'drizzle-orm/pg-core'
import type postgres from 'postgres'
import { driverOf, type Database } from './client'

/**
 * Group commit for statements that each commit on their own (a Stripe webhook's one statement):
 * the statements asked for while a group is being committed are gathered, and sent together in
 * one transaction, pipelined (one socket write for the lot) and committed once (one WAL flush).
 * Each statement still succeeds or fails as a whole: if one fails, the group's transaction rolls
 * back and every statement of it is run again on its own, so that only the one at fault fails,
 * with its own error, and nothing is half-written. The statements must be ones that may run again
 * after a rollback and may share a transaction: each decides from what it reads, as it would on
 * its own (a webhook's statement sees an earlier one of its group as if it had committed first).
 *
 * The Node server makes one for its PostgreSQL pool (src/node.ts); a Worker handles one request
 * per services, so there each statement runs on its own.
 */
export interface CommitGroup {
  /** A Drizzle query, or a statement already serialised (text with $1, $2, … and its parameters). */
  run<Row>(query: SQL | Statement): Promise<Row[]>
}

/** Statements committed together at most; a longer queue goes in the next group. */
const MAX_GROUP = 64

/** Serialises Drizzle's SQL to text and parameters, as its own execute would (no I/O: a constant). */
const dialect = new PgDialect()

/** A Drizzle query as text and parameters (placeholders, `sql.placeholder`, left in for fillPlaceholders). */
export function statementOf(query: SQL): Statement {
  const { sql: text, params } = dialect.sqlToQuery(query)
  return { text, params }
}

export interface Statement {
  text: string
  params: unknown[]
}

/** How a driver runs one statement, and several in one transaction (their rows, in order). */
interface Driver {
  alone(statement: Statement): Promise<unknown[]>
  together(statements: Statement[]): Promise<unknown[][]>
}

interface Pending extends Statement {
  resolve(rows: unknown[]): void
  reject(error: unknown): void
}

/**
 * A commit group over a database handle from connectPostgres or openPglite (not a transaction).
 * On postgres.js the group's statements are pipelined inside one transaction, each a named
 * prepared statement if `prepare` (as the Node server's pool has them: connectPostgres). One
 * group is committed at a time; statements asked for meanwhile wait for the next.
 */
export function commitGroupFor(db: Database, { prepare = false }: { prepare?: boolean } = {}): CommitGroup {
  const driver = groupDriver(db, prepare)
  let queue: Pending[] = []
  let committing = false

  const alone = (p: Pending) => driver.alone(p).then(p.resolve, p.reject)

  async function commit(group: Pending[]): Promise<void> {
    if (group.length === 1) return alone(group[0]!)
    let results: unknown[][]
    try {
      results = await driver.together(group)
    } catch {
      // Rolled back as a whole: each statement again on its own, so that only the one at fault fails.
      await Promise.all(group.map(alone))
      return
    }
    group.forEach((p, i) => p.resolve(results[i]!))
  }

  function next(): void {
    if (committing || queue.length === 0) return
    committing = true
    const group = queue.slice(0, MAX_GROUP)
    queue = queue.slice(MAX_GROUP)
    void commit(group).finally(() => {
      committing = false
      next()
    })
  }

  return {
    run<Row>(query: SQL | Statement): Promise<Row[]> {
      const { text, params } = 'text' in query ? query : statementOf(query)
      return new Promise<Row[]>((resolve, reject) => {
        queue.push({ text, params, resolve: resolve as Pending['resolve'], reject })
        // The statements asked for in this turn of the event loop go together.
        if (queue.length === 1 && !committing) setImmediate(next)
      })
    },
  }
}

/**
 * BEGIN, the statements and COMMIT, asked at once on one reserved connection: postgres.js writes
 * them in one go and PostgreSQL answers them in order (sql.begin waits for BEGIN's answer before
 * sending the statements, and for theirs before COMMIT: three round trips). If a statement fails,
 * the ones after it fail too (the transaction is aborted) and COMMIT rolls it back: the group
 * fails with the first error. A BEGIN that failed on a connection that still answers is not a
 * case PostgreSQL has; the group then fails too.
 */
async function pipelined(
  sql: postgres.Sql,
  statements: Statement[],
  run: (on: postgres.Sql, s: Statement) => Promise<unknown>,
): Promise<unknown[][]> {
  const connection = await sql.reserve()
  try {
    const [begin, ...settled] = await Promise.allSettled([
      connection.unsafe('begin'),
      ...statements.map((s) => run(connection, s)),
      connection.unsafe('commit'),
    ])
    const commit = settled.pop()!
    for (const result of [begin, ...settled, commit]) if (result.status === 'rejected') throw result.reason
    return settled.map((result) => (result as PromiseFulfilledResult<unknown[]>).value)
  } finally {
    connection.release()
  }
}

function groupDriver(db: Database, prepare: boolean): Driver {
  const client = driverOf(db)
  if ('postgres' in client) {
    const sql = client.postgres
    const run = (on: postgres.Sql, s: Statement) =>
      on.unsafe(s.text, s.params as postgres.ParameterOrJSON<never>[], { prepare })
    return {
      alone: async (s) => (await run(sql, s)) as unknown[],
      together: (statements) => pipelined(sql, statements, run),
    }
  }
  const { pglite } = client
  return {
    alone: async (s) => (await pglite.query<unknown>(s.text, s.params)).rows,
    together: (statements) =>
      pglite.transaction(async (tx) => {
        const rows: unknown[][] = []
        for (const s of statements) rows.push((await tx.query<unknown>(s.text, s.params)).rows)
        return rows
      }),
  }
}
