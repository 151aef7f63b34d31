import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { sql } from 'drizzle-orm'
import { afterAll, describe, expect, it } from 'vitest'
import journal from '../../drizzle/meta/_journal.json'
import { rowsOf } from '../../src/db/client'
import { makePgliteTemplate, openPglite, pgliteTemplateDir } from '../../src/db/pglite'

describe("the embedded database's template (src/db/pglite.ts)", () => {
  const dir = mkdtempSync(join(tmpdir(), 'masthead-template-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('is made by npm install, named for this PGlite and these migrations', () => {
    const template = pgliteTemplateDir()
    expect(existsSync(join(template, 'PG_VERSION')), `${template} is missing: run npm install`).toBe(true)
    expect(template).toMatch(/pglite-\d+\.\d+\.\d+-[0-9a-f]{16}$/)
  })

  it('is the only one npm install keeps: a template of other migrations is removed, one being made is not', async () => {
    const template = pgliteTemplateDir()
    const stale = join(dirname(template), 'pglite-0.0.1-0123456789abcdef')
    const partial = join(dirname(template), 'pglite-0.0.1-0123456789abcdef.partial-1')
    mkdirSync(join(stale, 'base'), { recursive: true })
    mkdirSync(partial, { recursive: true })
    try {
      expect(await makePgliteTemplate()).toBe(false) // this one is there already
      expect(existsSync(stale)).toBe(false)
      expect(existsSync(partial)).toBe(true)
      expect(existsSync(join(template, 'PG_VERSION'))).toBe(true)
    } finally {
      rmSync(stale, { recursive: true, force: true })
      rmSync(partial, { recursive: true, force: true })
    }
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
