import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { rowsOf } from '../../src/db/client'
import { commitGroupFor, type CommitGroup } from '../../src/db/commit-group'
import { isPgError } from '../../src/db/pg-errors'
import { createTestDatabase, type TestDatabase } from '../helpers/db'

/**
 * A commit group (src/db/commit-group.ts) sends the statements asked for at one moment in one
 * transaction; a statement that fails there fails alone, and the others still commit.
 */

let database: TestDatabase
let group: CommitGroup

beforeAll(async () => {
  database = await createTestDatabase()
  await database.db.execute(sql`create table grouped (n integer primary key, check (n >= 0))`)
  group = commitGroupFor(database.db, { prepare: database.kind === 'postgres' })
})
afterAll(() => database.close())
beforeEach(async () => {
  await database.db.execute(sql`delete from grouped`)
})

type Inserted = { n: number; tx: string }
const insert = (n: number) =>
  group.run<Inserted>(sql`insert into grouped (n) values (${n}::integer) returning n, txid_current()::text as tx`)
const stored = async () =>
  (await rowsOf<{ n: number }>(database.db, sql`select n from grouped order by n`)).map((row) => row.n)

describe(`a commit group (${process.env.TEST_DATABASE_URL ? 'PostgreSQL' : 'PGlite'})`, () => {
  it('commits the statements asked for at once in one transaction, each answered with its own rows', async () => {
    const answers = await Promise.all([1, 2, 3, 4, 5].map(insert))
    expect(answers.map(([row]) => row!.n)).toEqual([1, 2, 3, 4, 5])
    expect(new Set(answers.map(([row]) => row!.tx)).size).toBe(1)
    expect(await stored()).toEqual([1, 2, 3, 4, 5])
  })

  it('gathers the statements asked for while a group commits into the next group', async () => {
    const first = insert(1)
    await new Promise((resolve) => setImmediate(resolve)) // the first group is on its way
    const later = [2, 3, 4].map(insert)
    const [[one], ...rest] = await Promise.all([first, ...later])
    const laterTx = new Set(rest.map(([row]) => row!.tx))
    expect(laterTx.size).toBe(1)
    expect(laterTx.has(one!.tx)).toBe(false)
    expect(await stored()).toEqual([1, 2, 3, 4])
  })

  it('fails only the statement at fault, with its own error, and commits the others', async () => {
    const answers = await Promise.allSettled([insert(1), insert(-1), insert(2), insert(1), insert(3)])
    expect(answers.map((a) => a.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled'])
    const reason = (i: number) => (answers[i] as PromiseRejectedResult).reason as { code?: string }
    // A CHECK refused -1 (23514); the second 1 met the first: each its own error, not the group's.
    expect(reason(1).code).toBe('23514')
    expect(isPgError(reason(3), 'uniqueViolation')).toBe(true)
    expect(await stored()).toEqual([1, 2, 3])
  })

  it('leaves nothing half-written when every statement fails', async () => {
    const answers = await Promise.allSettled([insert(-1), insert(-2)])
    expect(answers.map((a) => a.status)).toEqual(['rejected', 'rejected'])
    expect(await stored()).toEqual([])
  })
})
