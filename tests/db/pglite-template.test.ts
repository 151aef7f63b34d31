import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import { afterAll, describe, expect, it } from 'vitest'
import journal from '../../drizzle/meta/_journal.json'
import { rowsOf } from '../../src/db/client'
import { openPglite, pgliteTemplateDir } from '../../src/db/pglite'

describe("the embedded database's template (src/db/pglite.ts)", () => {
  const dir = mkdtempSync(join(tmpdir(), 'masthead-template-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('is made by npm install, named for this PGlite and these migrations', () => {
    const template = pgliteTemplateDir()
    expect(existsSync(join(template, 'PG_VERSION')), `${template} is missing: run npm install`).toBe(true)
    expect(template).toMatch(/pglite-\d+\.\d+\.\d+-[0-9a-f]{16}$/)
  })

  it('gives a new data directory every migration without running one, and leaves an existing one alone', async () => {
    const data = join(dir, 'new')
    const handle = await openPglite(data, { migrated: true })
    try {
      const rows = await rowsOf<{ n: number }>(
        handle.db,
        sql`select count(*)::int as n from drizzle.__drizzle_migrations`,
      )
      expect(rows[0]!.n).toBe(journal.entries.length)
      await handle.db.execute(sql`create table marker (x int)`)
    } finally {
      await handle.close()
    }
    const again = await openPglite(data, { migrated: true })
    try {
      const rows = await rowsOf<{ n: number }>(again.db, sql`select count(*)::int as n from marker`)
      expect(rows[0]!.n).toBe(0) // the same database, not a new copy
    } finally {
      await again.close()
    }
    expect(readdirSync(data)).toContain('PG_VERSION')
  })
})
