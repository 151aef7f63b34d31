import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse } from 'csv-parse/sync'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rowsOf } from '../../src/db/client'
import { migratePgliteClient } from '../../src/db/migrate'
import { openPglite } from '../../src/db/pglite'
import { seedDemoTiers } from '../../src/dev/demo-tiers'
import { isEncrypted } from '../../src/privacy/cipher'

/**
 * `npm run import:patreon` prints counts, tier names and line numbers: no
 * patron's name, address, handle or phone number, whatever the file holds,
 * and the development mailer it invites through prints no address or link.
 */
const FIXTURES = join(import.meta.dirname, '..', 'imports', 'fixtures')
const PERSONAL_COLUMNS = ['Name', 'Email', 'Discord', 'Addressee', 'Street', 'Phone', 'User ID']

/** Every personal cell of a fixture, as written and as Masthead would store it. */
function personalCells(file: string, columns = PERSONAL_COLUMNS): string[] {
  const rows = parse(readFileSync(join(FIXTURES, file)), {
    columns: true,
    bom: true,
    relax_column_count: true,
  }) as Record<string, string>[]
  // The slipped row's cells are not under their headings; its test lists them.
  const cells = rows
    .filter((row) => row.Name !== 'Slip')
    .flatMap((row) => columns.map((column) => (row[column] ?? '').trim()))
  return [...new Set([...cells, ...cells.map((c) => c.toLowerCase())])].filter((c) => c.length > 2)
}

let dir: string
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'masthead-import-cli-'))
  // The embedded database the command will open, with the demo tiers to map to.
  const handle = await openPglite(join(dir, 'pglite'))
  await migratePgliteClient(handle.client)
  await seedDemoTiers(handle.db, new Date())
  await handle.close()
  writeFileSync(join(dir, 'tiers.json'), JSON.stringify({ Reader: 'reader', Patron: 'patron', Supporter: 'reader' }))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function importPatreon(file: string, ...flags: string[]) {
  const run = spawnSync(
    process.execPath,
    ['--import', 'tsx', 'src/cli/import-patreon.ts', join(FIXTURES, file), '--map', join(dir, 'tiers.json'), ...flags],
    {
      encoding: 'utf8',
      env: { ...process.env, DATA_DIR: dir, DATABASE_URL: '', APP_ENV: 'development', RESEND_API_KEY: '' },
      timeout: 90_000,
    },
  )
  return { ...run, output: `${run.stdout}\n${run.stderr}` }
}

describe('npm run import:patreon', () => {
  it('reports rejected rows by line, without the names, addresses or cells of any of them', () => {
    const run = importPatreon('rejected.csv')
    expect(run.stdout).toContain('2 new, 0 updated, 0 unchanged, 4 rejected')
    expect(run.stdout).toContain('line 3: The e-mail address already appears on line 2.')
    expect(run.stdout).toContain('line 4: The e-mail address is not valid.')
    expect(run.stdout).toContain('line 5: The active patron has no tier.')
    // A row whose name lost its quotes: its cells slipped a column, so its "status" is a handle.
    expect(run.stdout).toMatch(/line 7: .*The Patron Status "…" is not one Patreon uses/)
    expect(run.stderr).toContain('Nothing was imported: 4 rows were rejected (the lines above).')
    expect(run.status).toBe(1)
    const slipped = ['Slip', 'ada.slip', 'adaslip_dc', 'Comma Lane', '1225 555']
    for (const personal of [...personalCells('rejected.csv'), ...slipped]) expect(run.output).not.toContain(personal)
    expect(run.output).not.toMatch(/[@＠]/)
  }, 120_000)

  it('imports and invites with counts only; the development mailer prints no address or link', () => {
    const run = importPatreon('current.csv', '--invite')
    expect(run.stderr).toBe('')
    expect(run.stdout).toContain('7 new, 0 updated, 0 unchanged, 0 rejected')
    expect(run.stdout).toContain('Imported 7 rows in one transaction.')
    expect(run.stdout).toMatch(/Invitations: 3 sent, 0 failed, 0 still to invite/)
    expect(run.stdout).toContain('mail (development): "Continue your Masthead membership", kept at /dev/mailbox')
    for (const personal of personalCells('current.csv')) expect(run.output).not.toContain(personal)
    expect(run.output).not.toMatch(/[@＠]|https?:\/\//)
    expect(run.status).toBe(0)
  }, 120_000)

  it('leaves the accounts it made sealed in the database', async () => {
    const handle = await openPglite(join(dir, 'pglite'))
    try {
      const accounts = await rowsOf<{
        card: string | null
        email: string | null
        name: string | null
        name_order: string
      }>(handle.db, sql`select card, email, name, name_order from users`)
      expect(accounts).toHaveLength(7)
      for (const a of accounts) {
        expect(isEncrypted(a.card!)).toBe(true)
        expect([a.email, a.name]).toEqual([null, null])
        expect(a.name_order).not.toBe('')
      }
      for (const table of ['users', 'supporters', 'patreon_members']) {
        const rows = await rowsOf<{ r: string }>(handle.db, sql`select t::text as r from ${sql.identifier(table)} t`)
        const text = rows.map((r) => r.r).join('\n')
        // Names and addresses (the Patreon user id is kept, by design); short words turn up in ciphertext by chance.
        const people = personalCells('current.csv', ['Name', 'Email']).filter((c) => c.length >= 5)
        expect(people).toContain('ada@example.com')
        for (const personal of people) {
          expect(text, `${personal} in ${table}`).not.toContain(personal)
        }
      }
    } finally {
      await handle.close()
    }
  }, 60_000)

  it('suggests the tier mapping with --map auto: the same name, else the nearest monthly price', () => {
    const run = importPatreon('current.csv', '--map', 'auto', '--dry-run')
    expect(run.status).toBe(0)
    const suggested = JSON.parse(/Suggested tier mapping \(--map auto\): (\{.*\})/.exec(run.stdout)![1]!)
    expect(suggested).toMatchObject({ Reader: 'reader', Patron: 'patron' })
    expect(['reader', 'patron']).toContain(suggested.Supporter)
    expect(run.stdout).toContain('Dry run: nothing was written.')
  }, 120_000)

  it('imports the valid rows and leaves the rejected ones out with --skip-rejected', () => {
    const run = importPatreon('rejected.csv', '--skip-rejected')
    expect(run.stderr).toBe('')
    expect(run.stdout).toContain('4 rejected')
    expect(run.stdout).toContain('rows in one transaction; 4 rejected rows left out.')
    expect(run.status).toBe(0)
    for (const personal of personalCells('rejected.csv')) expect(run.output).not.toContain(personal)
  }, 120_000)
})
