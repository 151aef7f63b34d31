import { execFile } from 'node:child_process'
import { cpSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { promisify } from 'node:util'
import { sql } from 'drizzle-orm'
import { afterAll, describe, expect, it } from 'vitest'
import { sessionIdOf, validateSession } from '../../src/accounts/sessions'
import { loadConfig } from '../../src/config'
import { rowsOf } from '../../src/db/client'
import { migrationsFolder } from '../../src/db/migrate'
import { allGrants, grants, patreonMembers, sessions } from '../../src/db/schema'
import { keyringOf } from '../../src/privacy/keys'
import { openAddress } from '../../src/privacy/people'
import { sealExisting } from '../../src/accounts/seal-existing'
import { createTestDatabase, databaseBefore } from '../helpers/db'

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

  it('0010 moves Patreon grants onto the patrons’ patreon_members rows and keeps comps where they are', async () => {
    // A database as it was before 0010, with the rows a Patreon import and an editor made then.
    const { db, migrateRest, close } = await databaseBefore(10, scratch)
    try {
      const t = '2026-06-01T00:00:00Z'
      await db.execute(sql`insert into tiers (id, name, currency, monthly_amount, yearly_amount, created_at, updated_at)
        values ('reader', 'Reader', 'usd', 500, 5000, ${t}, ${t})`)
      await db.execute(sql`insert into users (id, email, role, created_at, updated_at) values
        ('imported', 'imported@example.org', 'reader', ${t}, ${t}),
        ('seeded', 'seeded@example.org', 'reader', ${t}, ${t}),
        ('comped', 'comped@example.org', 'reader', ${t}, ${t})`)
      await db.execute(sql`insert into patreon_members (user_id, status, patreon_tier, tier_id, imported_at, updated_at)
        values ('imported', 'active', 'Gold', 'reader', ${t}, ${t})`)
      await db.execute(sql`insert into grants (id, user_id, source, tier_id, starts_at, ends_at, note, created_at, updated_at) values
        ('g1', 'imported', 'patreon', 'reader', '2025-01-01T00:00:00Z', '2099-01-08T00:00:00Z', 'Patreon tier: Gold', ${t}, ${t}),
        ('g2', 'seeded', 'patreon', 'reader', '2025-02-01T00:00:00Z', '2026-01-01T00:00:00Z', null, ${t}, ${t}),
        ('g3', 'comped', 'comp', 'reader', '2025-03-01T00:00:00Z', null, 'Press pass', ${t}, ${t})`)

      await migrateRest()

      const members = await db
        .select({
          userId: patreonMembers.userId,
          status: patreonMembers.status,
          startsAt: patreonMembers.accessStartsAt,
          endsAt: patreonMembers.accessEndsAt,
        })
        .from(patreonMembers)
        .orderBy(patreonMembers.userId)
      expect(members).toEqual([
        {
          userId: 'imported',
          status: 'active',
          startsAt: new Date('2025-01-01T00:00:00Z'),
          endsAt: new Date('2099-01-08T00:00:00Z'),
        },
        // Lapsed, and without a row of its own before: it gets one, as a former patron.
        {
          userId: 'seeded',
          status: 'former',
          startsAt: new Date('2025-02-01T00:00:00Z'),
          endsAt: new Date('2026-01-01T00:00:00Z'),
        },
      ])
      expect((await db.select({ id: grants.id }).from(grants)).map((g) => g.id)).toEqual(['g3'])
      const all = await db
        .select({ id: allGrants.id, source: allGrants.source, note: allGrants.note })
        .from(allGrants)
        .orderBy(allGrants.id)
      expect(all).toEqual([
        { id: 'g3', source: 'comp', note: 'Press pass' },
        { id: 'patreon:imported', source: 'patreon', note: 'Patreon tier: Gold' },
        { id: 'patreon:seeded', source: 'patreon', note: null },
      ])
      const refused = await db
        .execute(
          sql`insert into grants (id, user_id, source, starts_at, created_at, updated_at)
          values ('g4', 'comped', 'patreon', ${t}, ${t}, ${t})`,
        )
        .then(
          () => null,
          (error: unknown) => error,
        )
      expect(refused, 'grants now hold comps only').toBeInstanceOf(Error)
    } finally {
      await close()
    }
  })

  it('0012 stores sessions by their token’s hash, and a reader signed in before it stays signed in', async () => {
    const { db, migrateRest, close } = await databaseBefore(12, scratch)
    try {
      const t = '2026-06-01T00:00:00Z'
      // Before 0012 the cookie's token was the row's id: 40 base32 characters, as Lucia made them.
      const token = 'k2sq7gdpxmz5vwa3b4nyhjt6rcfe7ul2qodiw3as'
      const expiresAt = new Date(Date.now() + 20 * 86_400_000).toISOString() // Lucia judges expiry by the system clock
      await db.execute(sql`insert into users (id, email, role, created_at, updated_at)
        values ('signed-in', 'signed-in@example.org', 'reader', ${t}, ${t})`)
      await db.execute(sql`insert into sessions (id, user_id, expires_at) values (${token}, 'signed-in', ${expiresAt})`)

      await migrateRest()
      // The account's address is encrypted after the migrations, as npm start does (drizzle/0014).
      const config = loadConfig({ APP_ENV: 'test', APP_URL: 'http://localhost:8787' })
      const keyring = await keyringOf(config)
      await sealExisting(db, keyring)

      expect(await db.select({ id: sessions.id }).from(sessions)).toEqual([{ id: sessionIdOf(token) }])
      const kept = await validateSession(db, config, token)
      expect(kept.user).toEqual({
        id: 'signed-in',
        stored: { card: expect.stringMatching(/^v1\.k0\./), email: null, name: null },
        role: 'reader',
      })
      expect(await openAddress(keyring, kept.user!.stored)).toBe('signed-in@example.org')
      expect((await validateSession(db, config, sessionIdOf(token))).session, 'the stored id opens nothing').toBeNull()
    } finally {
      await close()
    }
  })

  it('0013 takes typed terms and actors’ addresses out of the audit log, which stays append-only', async () => {
    const { db, migrateRest, close } = await databaseBefore(13, scratch)
    try {
      const t = '2026-06-01T00:00:00Z'
      await db.execute(sql`insert into tiers (id, name, currency, monthly_amount, yearly_amount, created_at, updated_at)
        values ('reader', 'Reader', 'usd', 500, 5000, ${t}, ${t})`)
      await db.execute(sql`insert into audit_log (at, actor_id, actor_email, action, subject_user_id, details) values
        (${t}, 'staff', 'staff@example.org', 'supporters.exported', null,
          '{"filter": {"q": "Ana Álvarez", "tier": "ana@example.org", "status": "active"}, "rows": 3}'),
        (${t}, 'staff', 'staff@example.org', 'supporters.exported', null, '{"filter": {"tier": "reader"}, "rows": 9}'),
        (${t}, 'staff', 'staff@example.org', 'supporter.viewed', 'ana', '{}'),
        (${t}, null, null, 'comp.ended', 'ana', '{"grantId": "g1"}')`)

      await migrateRest()

      const rows = await rowsOf<Record<string, unknown>>(db, sql`select * from audit_log order by id`)
      expect(rows.map((r) => r.details)).toEqual([
        { filter: { q: '[term removed]', tier: '[term removed]', status: 'active' }, rows: 3 },
        { filter: { tier: 'reader' }, rows: 9 },
        {},
        { grantId: 'g1' },
      ])
      expect(Object.keys(rows[0]!)).not.toContain('actor_email')
      expect(rows.map((r) => r.actor_id)).toEqual(['staff', 'staff', 'staff', null])
      expect(JSON.stringify(rows)).not.toMatch(/Álvarez|@example\.org/)
      const refused = await db.execute(sql`update audit_log set details = '{}'`).then(
        () => null,
        (error: unknown) => error,
      )
      expect(refused, 'the log is append-only again').toBeInstanceOf(Error)
    } finally {
      await close()
    }
  })
})
