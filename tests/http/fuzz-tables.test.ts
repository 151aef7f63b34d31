import { getTableName, is } from 'drizzle-orm'
import { PgTable } from 'drizzle-orm/pg-core'
import { describe, expect, it } from 'vitest'
import * as schema from '../../src/db/schema'
import { TABLES, UNCHECKED_TABLES } from '../helpers/fuzz'

/**
 * The fuzz tests (tests/http/fuzz.test.ts, tests/worker/fuzz.test.ts) check that a refused request
 * writes nothing, by a digest of the tables in TABLES: a table added to the schema must be added
 * there (or to UNCHECKED_TABLES, with the reason it may change on any request).
 */
const tables = Object.values(schema)
  .filter((value) => is(value, PgTable))
  .map((table) => getTableName(table as PgTable))

describe('the tables the fuzz tests watch', () => {
  it('cover every table of the schema but the counters and caches left out on purpose', () => {
    expect(tables.length).toBeGreaterThan(20)
    const unchecked = new Set(Object.keys(UNCHECKED_TABLES))
    expect(tables.filter((name) => !TABLES.includes(name) && !unchecked.has(name))).toEqual([])
  })

  it('include the gifts, statements, welcome and tier price tables', () => {
    for (const name of ['gifts', 'statement_sends', 'welcome_mails', 'tier_prices']) expect(TABLES).toContain(name)
  })

  it('name only tables the schema has, and none both watched and left out', () => {
    expect(TABLES.filter((name) => !tables.includes(name))).toEqual([])
    expect(TABLES.filter((name) => name in UNCHECKED_TABLES)).toEqual([])
  })
})
