import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { sql, TransactionRollbackError } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connectPostgres, rowsOf, type Database } from '../../src/db/client'
import { migratePgliteClient, migratePostgresUrl, migrationsFolder } from '../../src/db/migrate'
import { openPglite } from '../../src/db/pglite'
import { ROUTINES, routinesSql, STATEMENT_BREAKPOINT, type Routine } from '../../src/db/routines'
import { inListText, PAID_UP_STATUSES, PAYING_STATUSES } from '../../src/db/statuses'
import { createServerDatabase, createTestDatabase, type TestDatabase } from '../helpers/db'

interface Installed {
  name: string
  kind: Routine['kind']
  /** The signature of a function (`name(text[])`), the name of a view. */
  identity: string
  definition: string
}

/**
 * Every function and view in schema public that no extension owns (pg_trgm's are
 * there too), with its definition as Postgres reads it back: plpgsql bodies verbatim,
 * views normalized.
 */
async function installedRoutines(db: Database): Promise<Installed[]> {
  const rows = await rowsOf<Installed>(
    db,
    sql`select p.proname as name, 'function' as kind, p.oid::regprocedure::text as identity,
        case when p.prokind = 'a' then 'aggregate' else pg_get_functiondef(p.oid) end as definition
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      where n.nspname = 'public' and not exists (select 1 from pg_depend d
        where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
      union all
      select c.relname, 'view', c.relname, pg_get_viewdef(c.oid)
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind in ('v', 'm') and not exists (select 1 from pg_depend d
        where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')`,
  )
  return rows.sort((a, b) => a.identity.localeCompare(b.identity))
}

/** The routines whose definitions differ between two readings (or that only one has). */
function changed(before: Installed[], after: Installed[]): string[] {
  const definitions = new Map(before.map((r) => [r.identity, r.definition]))
  const names = new Set<string>()
  for (const r of after) if (definitions.get(r.identity) !== r.definition) names.add(r.name)
  const identities = new Set(after.map((r) => r.identity))
  for (const r of before) if (!identities.has(r.identity)) names.add(r.name)
  return [...names].sort()
}

/** Runs a migration's SQL as drizzle's migrator does: statement by statement. */
async function runMigrationSql(db: Database, text: string): Promise<void> {
  for (const statement of text.split(STATEMENT_BREAKPOINT)) await db.execute(sql.raw(statement))
}

/** Runs `work` in a transaction that is always rolled back. */
async function inRolledBackTransaction(db: Database, work: (tx: Database) => Promise<void>): Promise<void> {
  await db
    .transaction(async (tx) => {
      await work(tx)
      tx.rollback()
    })
    .catch((error: unknown) => {
      if (!(error instanceof TransactionRollbackError)) throw error
    })
}

const byName = (routines: readonly { name: string }[]) => routines.map((r) => r.name).sort()

describe('database routines (src/db/routines.ts)', () => {
  let database: TestDatabase
  beforeAll(async () => {
    database = await createTestDatabase()
  })
  afterAll(async () => {
    await database?.close()
  })

  it('the migrations install exactly the functions and views that src/db/routines.ts defines', async () => {
    const installed = await installedRoutines(database.db)
    expect(byName(installed)).toEqual(byName(ROUTINES))
    const kinds = new Map(ROUTINES.map((r) => [r.name, r.kind]))
    for (const r of installed) expect(r.kind, r.name).toBe(kinds.get(r.name))
    // A function is found by name, so two with one name (overloads) would make the check ambiguous.
    expect(new Set(byName(ROUTINES)).size).toBe(ROUTINES.length)
  })

  it('installing routinesSql() changes no definition: the latest migrations install src/db/routines.ts', async () => {
    const before = await installedRoutines(database.db)
    await runMigrationSql(database.db, routinesSql())
    const after = await installedRoutines(database.db)
    expect(
      changed(before, after),
      'src/db/routines.ts changed without a migration: run `npx drizzle-kit generate --custom --name <name>`, ' +
        'then `npm run db:routines -- drizzle/<the new file>.sql`',
    ).toEqual([])
  })

  it('notices a definition that differs (a status list swapped, a view changed)', async () => {
    const alterations: Record<string, [string, string]> = {
      masthead_end_comps_of_payers: [inListText(PAID_UP_STATUSES), inListText(PAYING_STATUSES)],
      all_grants: [`'patreon:' ||`, `'patreon/' ||`],
    }
    const altered = ROUTINES.map((r) => {
      const alteration = alterations[r.name]
      if (!alteration) return r
      const sql = r.sql.replace(...alteration)
      expect(sql, r.name).not.toBe(r.sql)
      return { ...r, sql }
    })
    const before = await installedRoutines(database.db)
    await inRolledBackTransaction(database.db, async (tx) => {
      await runMigrationSql(tx, routinesSql(altered))
      expect(changed(before, await installedRoutines(tx))).toEqual(['all_grants', 'masthead_end_comps_of_payers'])
    })
    expect(changed(before, await installedRoutines(database.db)), 'rolled back').toEqual([])
  })
})

/**
 * The migrations (name and text, in order) that install a new text of masthead_entitlement_facts
 * without putting the stored facts out of date: lookups would go on reading facts in the old shape.
 */
function factsChangesWithoutReset(migrations: { name: string; text: string }[]): string[] {
  let installed: string | undefined
  const faults: string[] = []
  for (const { name, text } of migrations) {
    const statements = text.split(STATEMENT_BREAKPOINT).map((statement) => statement.trim())
    const facts = statements.find((statement) => statement.includes('FUNCTION masthead_entitlement_facts('))
    if (facts === undefined) continue
    const reset = statements.some((statement) =>
      /UPDATE\s+entitlement_facts\s+SET\s+facts\s*=\s*NULL\s*,\s*generation\s*=\s*generation\s*\+\s*1\s*;?\s*$/i.test(
        statement,
      ),
    )
    if (installed !== undefined && facts !== installed && !reset) faults.push(name)
    installed = facts
  }
  return faults
}

describe('the stored entitlement facts and the migrations', () => {
  it('every migration that changes how the facts are computed puts the stored ones out of date', () => {
    const migrations = readdirSync(migrationsFolder)
      .filter((name) => name.endsWith('.sql'))
      .sort()
      .map((name) => ({ name, text: readFileSync(join(migrationsFolder, name), 'utf8') }))
    expect(migrations.some((m) => m.text.includes('FUNCTION masthead_entitlement_facts('))).toBe(true)
    expect(factsChangesWithoutReset(migrations)).toEqual([])

    // The check itself: a later migration with another facts text, with and without the reset.
    const current = ROUTINES.find((r) => r.name === 'masthead_entitlement_facts')!.sql
    const changedFacts = current.replace("'lastDonationAt'", "'lastGiftAt'")
    expect(changedFacts).not.toBe(current)
    const first = { name: '0001_first.sql', text: current }
    const same = { name: '0002_same.sql', text: current }
    const bare = { name: '0003_changed.sql', text: changedFacts }
    const reset = {
      name: '0003_changed_and_reset.sql',
      text: `${changedFacts}\n${STATEMENT_BREAKPOINT}\nUPDATE entitlement_facts SET facts = NULL, generation = generation + 1;`,
    }
    expect(factsChangesWithoutReset([first, same, bare])).toEqual(['0003_changed.sql'])
    expect(factsChangesWithoutReset([first, same, reset])).toEqual([])
  })
})

describe('0011_routines', () => {
  const scratch = join(import.meta.dirname, '../../node_modules/.cache/masthead-routines', String(process.pid))
  afterAll(() => rmSync(scratch, { recursive: true, force: true }))

  /** A copy of drizzle/ whose journal ends with migration `last`. */
  function migrationsUpTo(last: number): string {
    const folder = join(scratch, `up-to-${last}`)
    rmSync(folder, { recursive: true, force: true })
    cpSync(migrationsFolder, folder, { recursive: true })
    const journalFile = join(folder, 'meta/_journal.json')
    const journal = JSON.parse(readFileSync(journalFile, 'utf8')) as { entries: { idx: number }[] }
    journal.entries = journal.entries.filter((e) => e.idx <= last)
    writeFileSync(journalFile, JSON.stringify(journal))
    return folder
  }

  it('installs the definitions the migrations before it left (it only moved them into src/db/routines.ts)', async () => {
    const serverUrl = process.env.TEST_DATABASE_URL
    const server = serverUrl ? await createServerDatabase(serverUrl) : null
    const pglite = server ? null : await openPglite()
    const handle = server ? connectPostgres(server.url, { max: 1 }) : null
    const db = handle?.db ?? pglite!.db
    const migrate = (folder: string) =>
      server ? migratePostgresUrl(server.url, folder) : migratePgliteClient(pglite!.client, folder)
    try {
      await migrate(migrationsUpTo(10))
      const before = await installedRoutines(db)
      await migrate(migrationsUpTo(11))
      const after = await installedRoutines(db)
      expect(byName(after)).toEqual(byName(before))
      expect(changed(before, after)).toEqual([])
    } finally {
      await handle?.close()
      await server?.drop()
      await pglite?.close()
    }
  })
})
