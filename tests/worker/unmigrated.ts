import postgres from 'postgres'

/**
 * Takes a database back to before `npm run db:migrate`: no table, no routine, no extension and
 * no record of migrations, as a database is when a Worker is deployed before it is migrated.
 * For a Worker of the harness (tests/worker/harness.ts), whose database comes migrated: the
 * Worker reaches the same database through Hyperdrive, which keeps no cache in tests.
 */
export async function unmigrate(databaseUrl: string): Promise<void> {
  const db = postgres(databaseUrl, { max: 1, onnotice: () => {} })
  try {
    await db`drop schema if exists drizzle cascade`
    await db`drop schema public cascade`
    await db`create schema public`
    const [{ tables }] = (await db`select count(*)::int as tables from information_schema.tables
      where table_schema not in ('pg_catalog', 'information_schema')`) as unknown as [{ tables: number }]
    if (tables !== 0) throw new Error(`the database still holds ${tables} tables`)
  } finally {
    await db.end({ timeout: 5 })
  }
}
