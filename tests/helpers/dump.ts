import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { sql } from 'drizzle-orm'
import { rowsOf } from '../../src/db/client'
import { decrypt } from '../../src/privacy/cipher'
import type { Keyring } from '../../src/privacy/keys'
import { CONTEXT } from '../../src/privacy/people'
import { GIFT_COLUMNS } from '../../src/accounts/seal-existing'
import type { TestDatabase } from './db'

const run = promisify(execFile)

/** How `dumpDatabase` reads the database the suite runs on, for test names. */
export const DUMP_METHOD = process.env.TEST_DATABASE_URL
  ? 'pg_dump --data-only'
  : 'PGlite: select t::text from every table of the public schema'

export interface Dump {
  /** Everything dumped, as one text. */
  text: string
  /** Each table's rows as text, by name (`schema.table` outside public). */
  tables: Map<string, string>
}

/**
 * Every row of the database as text, to grep. On PostgreSQL it is the real
 * `pg_dump --data-only` of the whole database (its COPY sections give the
 * tables); on PGlite, which has no pg_dump, every table and view of the public
 * schema read as `select t::text from <table> t`.
 */
export async function dumpDatabase(database: TestDatabase): Promise<Dump> {
  if (database.url) {
    const { stdout } = await run('/usr/bin/pg_dump', ['--data-only', `--dbname=${database.url}`], {
      maxBuffer: 256 * 1024 * 1024,
    })
    return { text: stdout, tables: copySections(stdout) }
  }
  const names = await rowsOf<{ table_name: string }>(
    database.db,
    sql`select table_name from information_schema.tables where table_schema = 'public' order by table_name`,
  )
  const tables = new Map<string, string>()
  for (const { table_name: name } of names) {
    const rows = await rowsOf<{ row: string }>(
      database.db,
      sql`select t::text as row from ${sql.identifier('public')}.${sql.identifier(name)} t`,
    )
    tables.set(name, rows.map((r) => r.row).join('\n'))
  }
  return { text: [...tables.values()].join('\n'), tables }
}

/** pg_dump's `COPY public.users (…) FROM stdin;` … `\.` sections, by table. */
function copySections(dump: string): Map<string, string> {
  const tables = new Map<string, string>()
  let current: { name: string; rows: string[] } | null = null
  for (const line of dump.split('\n')) {
    if (current) {
      if (line === '\\.') {
        tables.set(current.name, current.rows.join('\n'))
        current = null
      } else {
        current.rows.push(line)
      }
      continue
    }
    const copy = /^COPY ("?[\w$]+"?)\.("?[\w$]+"?) \(.*\) FROM stdin;$/.exec(line)
    if (copy) {
      const [schema, table] = [copy[1]!, copy[2]!].map((part) => part.replaceAll('"', ''))
      current = { name: schema === 'public' ? table! : `${schema}.${table}`, rows: [] }
    }
  }
  return tables
}

/** An encrypted value as it appears in a dump (src/privacy/cipher.ts). */
const SEALED = /v1\.k\d+\.[\w-]+\.[\w-]+/g

/**
 * What the keys can read in a dump: every encrypted value in each table, decrypted under
 * whichever column's context opens it, as text by table. A dump in clear names no one; this
 * is what a thief who also held the keys would read, and so what deleting must leave nothing of.
 */
export async function openDump(dump: Dump, keyring: Keyring): Promise<Dump & { unreadable: number }> {
  const contexts = [...Object.values(CONTEXT), ...Object.values(GIFT_COLUMNS)]
  const tables = new Map<string, string>()
  // Values no context opens would be a blind spot of whatever greps the result: they are counted.
  let unreadable = 0
  for (const [name, text] of dump.tables) {
    const opened: string[] = []
    for (const value of new Set(text.match(SEALED) ?? [])) {
      let plain: string | null = null
      for (const context of contexts) {
        plain = await decrypt(keyring, value, context).catch(() => null)
        if (plain !== null) break
      }
      if (plain === null) unreadable += 1
      else opened.push(plain)
    }
    tables.set(name, opened.join('\n'))
  }
  return { text: [...tables.values()].join('\n'), tables, unreadable }
}
