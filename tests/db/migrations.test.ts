import { execFile } from 'node:child_process'
import { cpSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { promisify } from 'node:util'
import { sql } from 'drizzle-orm'
import { afterAll, describe, expect, it } from 'vitest'
import { migrationsFolder } from '../../src/db/migrate'
import { createTestDatabase } from '../helpers/db'

const run = promisify(execFile)
const root = join(import.meta.dirname, '../..')
const scratch = join(root, 'node_modules/.cache/masthead-drift', String(process.pid))

/**
 * Runs `drizzle-kit generate` for a schema against a copy of the committed
 * migrations and returns the migration files it would add.
 */
async function pendingMigrations(schemaFile: string, label: string): Promise<string[]> {
  const out = join(scratch, label)
  rmSync(out, { recursive: true, force: true })
  cpSync(migrationsFolder, out, { recursive: true })
  const before = new Set(readdirSync(out))
  const drizzleKit = join(root, 'node_modules/.bin/drizzle-kit')
  const args = ['generate', '--dialect', 'postgresql']
  args.push('--schema', relative(root, schemaFile), '--out', relative(root, out))
  const { stdout, stderr } = await run(drizzleKit, args, { cwd: root })
  expect(stderr).not.toMatch(/Error/)
  expect(stdout).toMatch(/tables/)
  return readdirSync(out).filter((f) => f.endsWith('.sql') && !before.has(f))
}

afterAll(() => rmSync(scratch, { recursive: true, force: true }))

describe('migrations', () => {
  it('the committed migrations match src/db/schema.ts', async () => {
    const added = await pendingMigrations(join(root, 'src/db/schema.ts'), 'current')
    expect(added, 'schema changed without a migration: run `npm run db:generate` and commit drizzle/').toEqual([])
  })

  it('the drift check notices a schema change that has no migration', async () => {
    mkdirSync(scratch, { recursive: true })
    const schemaFile = join(scratch, 'changed-schema.ts')
    const realSchema = relative(scratch, join(root, 'src/db/schema.ts')).replace(/\.ts$/, '')
    writeFileSync(
      schemaFile,
      `import { pgTable, text } from 'drizzle-orm/pg-core'\nexport * from '${realSchema}'\n` +
        `export const driftProbe = pgTable('drift_probe', { id: text().primaryKey() })\n`,
    )
    const added = await pendingMigrations(schemaFile, 'changed')
    expect(added).toHaveLength(1)
  })

  it('applies to an empty database, and applying again changes nothing', async () => {
    const database = await createTestDatabase()
    try {
      const count = async () => {
        const result = await database.db.execute(sql`select count(*)::int as n from drizzle.__drizzle_migrations`)
        // postgres.js returns the rows, PGlite an object holding them.
        const rows = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as { n: number }[]
        return rows[0]?.n
      }
      const applied = await count()
      expect(applied).toBe(readdirSync(migrationsFolder).filter((f) => f.endsWith('.sql')).length)
      if (database.url) {
        const { migratePostgresUrl } = await import('../../src/db/migrate')
        await migratePostgresUrl(database.url)
        expect(await count()).toBe(applied)
      }
    } finally {
      await database.close()
    }
  })
})
