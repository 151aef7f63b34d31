import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { desc, eq, sql } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import { loadEntitlements } from '../../src/entitlements/entitlements'
import { rowsOf } from '../../src/db/client'
import { findUserByEmail } from '../../src/accounts/users'
import { allGrants, auditLog, importBatchParts, jobs, patreonMembers, supporters, users } from '../../src/db/schema'
import { describeJob } from '../../src/imports/pages'
import { AppError } from '../../src/http/errors'
import { parsePatreonCsv } from '../../src/imports/patreon-csv'
import { commitImport, monthlyPledge, planImport, suggestMapping, tierPledges } from '../../src/imports/patreon-import'
import { findPreview, previewParts } from '../../src/imports/previews'
import { addressIndex, queryTokens, searchTokens } from '../../src/privacy/blind-index'
import { isEncrypted } from '../../src/privacy/cipher'
import { compareSortTexts, sortTextOf } from '../../src/privacy/name-order'
import { openAccount, openCard, openPeople } from '../../src/privacy/people'
import { runDueJobs } from '../helpers/app'
import { lastMailTo, signIn } from '../helpers/auth'
import { startTierCheckout, useBillingWorld } from '../helpers/billing'

const w = useBillingWorld({ live: true, env: { ADMIN_EMAILS: 'admin@import.example', PAST_DUE_GRACE_DAYS: '7' } })
const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'fixtures', name))
const MAPPING = { Reader: 'reader', Patron: 'patron', Supporter: 'reader' }
const DAY = 86_400_000
let admin: string

/** Posts a file to the import API; an import it accepts (202) runs as a job, run here as the server's loop would. */
async function upload(
  file: Uint8Array | string,
  fields: Record<string, string> = {},
  path = '/api/admin/imports/patreon',
) {
  const form = new FormData()
  form.set(
    'file',
    new File([typeof file === 'string' ? file : Uint8Array.from(file)], 'members.csv', { type: 'text/csv' }),
  )
  for (const [k, v] of Object.entries(fields)) form.set(k, v)
  const res = await w.t.app.request(path, { method: 'POST', headers: { Cookie: admin }, body: form })
  if (res.status === 202) await runDueJobs(w.t)
  return res
}

const db = () => w.t.services.db
const keyring = () => w.t.services.keyring
const userByEmail = async (email: string) => findUserByEmail(db(), await keyring(), email)
const nameOf = async (email: string) => (await openAccount(await keyring(), (await userByEmail(email))!)).name
const countOf = async (table: 'users' | 'all_grants' | 'patreon_members') =>
  Number((await rowsOf<{ n: string }>(db(), sql`select count(*) as n from ${sql.raw(table)}`))[0]!.n)

beforeAll(async () => {
  admin = await signIn(w.t.app, 'admin@import.example')
  // An existing account, in another case: the import must find it, not make a second one.
  await signIn(w.t.app, 'grace.hopper@navy.example.org')
})

describe('a dry run', () => {
  it('counts new, updated, unchanged and rejected rows, and writes nothing', async () => {
    const before = await countOf('users')
    const res = await upload(fixture('current.csv'), { dry_run: 'true', mapping: JSON.stringify(MAPPING) })
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body).toMatchObject({
      dryRun: true,
      variant: 'current',
      counts: { new: 7, updated: 0, unchanged: 0, rejected: 0 },
    })
    expect(await countOf('users')).toBe(before)
    expect(await countOf('patreon_members')).toBe(0)
  })

  it('rows whose tier is not mapped are rejected with their line, and then nothing can be imported', async () => {
    const dry = await (
      await upload(fixture('current.csv'), { dry_run: 'true', mapping: '{"Reader": "reader"}' })
    ).json()
    expect(dry.rejected).toEqual([
      { line: 3, reason: 'The Patreon tier "Patron" is not mapped to a Masthead tier.' },
      { line: 4, reason: 'The Patreon tier "Supporter" is not mapped to a Masthead tier.' },
    ])
    const before = await countOf('users')
    const commit = await upload(fixture('current.csv'), { mapping: '{"Reader": "reader"}' })
    expect(commit.status).toBe(422)
    expect((await commit.json()).error.message).toMatch(/^Nothing was imported: 2 rows were rejected \(first: line 3/)
    expect(await countOf('users')).toBe(before)
    const bad = await upload(fixture('current.csv'), { mapping: '{"Reader": "gold"}' })
    expect((await bad.json()).error.message).toBe(
      'The Patreon tier "Reader" is mapped to "gold", which is not a tier here.',
    )
  })
})

describe('the import', () => {
  it('gives each status its meaning, matching addresses case-insensitively', async () => {
    const now = w.clock.now()
    const existing = await userByEmail('grace.hopper@navy.example.org')
    const res = await upload(fixture('current.csv'), { mapping: JSON.stringify(MAPPING) })
    expect(res.status).toBe(202)
    const accepted = await res.json()
    expect(accepted.counts).toEqual({ new: 7, updated: 0, unchanged: 0, rejected: 0 })
    const job = await (
      await w.t.app.request(`/api/admin/imports/jobs/${accepted.job.id}`, { headers: { Cookie: admin } })
    ).json()
    expect(job.job).toMatchObject({
      kind: 'patreon_import',
      state: 'done',
      progress: { part: 1, counts: { new: 7, updated: 0, unchanged: 0 } },
      error: null,
    })
    expect((await userByEmail('grace.hopper@navy.example.org'))!.id).toBe(existing!.id)
    expect(await nameOf('grace.hopper@navy.example.org')).toBe('Grace Hopper')

    const rules = { PAST_DUE_GRACE_DAYS: 7, DONATION_BENEFIT_DAYS: 90 }
    const ent = async (email: string) => loadEntitlements(db(), (await userByEmail(email))!.id, now, rules)
    // Active: the mapped tier until the next charge date (here already past) plus the grace period.
    expect(await ent('ada@example.com')).toMatchObject({
      tierIds: ['reader'],
      membership: { source: 'patreon', entitled: true, until: new Date(now.getTime() + 7 * DAY) },
    })
    expect((await ent('grace.hopper@navy.example.org')).tierIds).toEqual(['patron'])
    // Declined: the grace period only.
    expect((await ent('alan@bletchley.example')).membership).toMatchObject({
      source: 'patreon',
      until: new Date(now.getTime() + 7 * DAY),
    })
    // Former: no benefits, but a former supporter with their history.
    expect((await ent('kj@orbit.example.com')).benefits).toEqual([])
    const kj = await userByEmail('kj@orbit.example.com')
    const list = await (
      await w.t.app.request('/api/admin/supporters?q=orbit.example', { headers: { Cookie: admin } })
    ).json()
    expect(list.supporters[0]).toMatchObject({
      userId: kj!.id,
      status: 'ended',
      source: 'patreon',
      lifetimeAmount: 6000,
      lifetimeCurrency: 'usd',
      since: '2025-06-30T18:00:00.000Z',
      patreonStatus: 'former',
      movedFromPatreon: false,
    })
    // Free members become members, with nothing to pay for.
    expect(await userByEmail('edsger@shortest.example.nl')).toBeDefined()
    expect((await ent('edsger@shortest.example.nl')).benefits).toEqual([])
    const [audit] = await db().select().from(auditLog).where(eq(auditLog.action, 'patreon.imported'))
    const importer = await userByEmail('admin@import.example')
    expect(audit).toMatchObject({ actorId: importer!.id, details: { rows: 7 } })
    // The supporter page lists the Patreon membership with the comps, and its timeline says when it came.
    const ada = await userByEmail('ada@example.com')
    const detail = await (
      await w.t.app.request(`/api/admin/supporters/${ada!.id}`, { headers: { Cookie: admin } })
    ).json()
    expect(detail.grants).toEqual([
      expect.objectContaining({
        id: `patreon:${ada!.id}`,
        source: 'patreon',
        tierName: 'Reader',
        note: 'Patreon tier: Reader',
        endsAt: new Date(now.getTime() + 7 * DAY).toISOString(),
      }),
    ])
    expect(detail.timeline.map((e: { kind: string }) => e.kind)).toContain('patreon.granted')
    const page = await (await w.t.app.request(`/admin/supporters/${ada!.id}`, { headers: { Cookie: admin } })).text()
    expect(page).toContain('Patreon import: Reader')
    expect(page).toContain('Imported from Patreon')
  })

  it('stores addresses and names sealed: ciphertext, address index, search tokens, and a place in the name order', async () => {
    const ring = await keyring()
    const people = [
      ['ada@example.com', 'Ada Lovelace', 'lovelace'],
      ['grace.hopper@navy.example.org', 'Grace Hopper', 'hopper'], // her account had no name: the import gave it
      ['juergen@example.de', 'Jürgen Müller', 'muller'],
    ] as const
    for (const [email, name, word] of people) {
      const user = (await userByEmail(email))!
      // One value holds both, and nothing else holds either.
      expect([user.email, user.name], email).toEqual([null, null])
      expect(isEncrypted(user.card!), email).toBe(true)
      expect(user.named, email).toBe(true)
      for (const clear of [email, name, name.split(' ')[1]!]) expect(user.card).not.toContain(clear)
      expect(user.emailIndex).toBe(await addressIndex(ring, email))
      expect(await openCard(ring, user.card!)).toEqual({ email, name })
      expect(user.searchTokens).toEqual(await searchTokens(ring, { email, name }))
      // Found by a word of the name and by a part of the address.
      for (const q of [word, email.split('@')[1]!.split('.')[0]!]) {
        const [tokens] = await queryTokens(ring, q)
        expect(user.searchTokens, `${email} by ${q}`).toEqual(expect.arrayContaining(tokens!))
      }
    }
    // Every account (the new, the named and those the import did not touch) in the order of its name, or its address.
    const ordered = await rowsOf<{
      card: string | null
      email: string | null
      name: string | null
      name_order: string
    }>(db(), sql`select card, email, name, name_order from ${users} order by name_order collate "C"`)
    expect(ordered.every((u) => u.name_order !== '')).toBe(true)
    const texts = (await openPeople(ring, ordered)).map(sortTextOf)
    expect(texts).toContain('Grace Hopper')
    expect(texts).toEqual([...texts].sort(compareSortTexts))
    // Nothing the import writes holds a name or an address of the file in clear.
    const file = parsePatreonCsv(fixture('current.csv'))
    // (Words of five characters and more: a shorter one turns up in ciphertext and tokens by chance.)
    const clear = file.rows
      .flatMap((r) => [r.email, r.email.split('@')[0]!, r.name ?? '', ...(r.name ?? '').split(' ')])
      .filter((value) => value.length >= 5)
    expect(clear).toEqual(expect.arrayContaining(['ada@example.com', 'Lovelace', 'Jürgen Müller']))
    for (const table of ['users', 'supporters', 'patreon_members', 'audit_log', 'import_batch_parts', 'jobs']) {
      const rows = await rowsOf<{ r: string }>(db(), sql`select t::text as r from ${sql.identifier(table)} t`)
      const text = rows.map((r) => r.r).join('\n')
      for (const value of clear) expect(text, `${value} in ${table}`).not.toContain(value)
    }
  })

  it('importing the same export again changes nothing and duplicates nothing', async () => {
    const counts = {
      users: await countOf('users'),
      grants: await countOf('all_grants'),
      members: await countOf('patreon_members'),
    }
    const res = await upload(fixture('current.csv'), { mapping: JSON.stringify(MAPPING) })
    expect((await res.json()).counts).toEqual({ new: 0, updated: 0, unchanged: 7, rejected: 0 })
    expect({
      users: await countOf('users'),
      grants: await countOf('all_grants'),
      members: await countOf('patreon_members'),
    }).toEqual(counts)
  })

  it('the same export again days later restarts no grace period and extends no membership', async () => {
    const rules = { PAST_DUE_GRACE_DAYS: 7, DONATION_BENEFIT_DAYS: 90 }
    const until = async (email: string) =>
      (await loadEntitlements(db(), (await userByEmail(email))!.id, w.clock.now(), rules)).membership?.until
    // Alan is a declined patron (the grace period only); Ada's next charge date has passed (grace from the import).
    const before = { alan: await until('alan@bletchley.example'), ada: await until('ada@example.com') }
    expect(before.alan).toBeInstanceOf(Date)
    w.clock.advance(3 * DAY)
    try {
      const res = await upload(fixture('current.csv'), { mapping: JSON.stringify(MAPPING) })
      expect((await res.json()).counts).toEqual({ new: 0, updated: 0, unchanged: 7, rejected: 0 })
      expect({ alan: await until('alan@bletchley.example'), ada: await until('ada@example.com') }).toEqual(before)
    } finally {
      w.clock.advance(-3 * DAY)
    }
  })

  it('a newer export updates: a patron who left loses the Patreon membership', async () => {
    const newer = fixture('current.csv')
      .toString('utf8')
      .replace(
        'Ada Lovelace,ada@example.com,ada_analytical,Active patron',
        'Ada Lovelace,ada@example.com,ada_analytical,Former patron',
      )
    const res = await upload(newer, { mapping: JSON.stringify(MAPPING) })
    expect((await res.json()).counts).toEqual({ new: 0, updated: 1, unchanged: 6, rejected: 0 })
    const ada = await userByEmail('ada@example.com')
    const ent = await loadEntitlements(db(), ada!.id, w.clock.now(), {
      PAST_DUE_GRACE_DAYS: 7,
      DONATION_BENEFIT_DAYS: 90,
    })
    expect(ent.benefits).toEqual([])
    // The membership is kept for the supporter's history, ended as of this import.
    const [ended] = await db().select().from(allGrants).where(eq(allGrants.userId, ada!.id))
    expect(ended).toMatchObject({ source: 'patreon', endsAt: w.clock.now() })
    await upload(fixture('current.csv'), { mapping: JSON.stringify(MAPPING) }) // back as it was
  })

  it('the older header variant imports too', async () => {
    const res = await upload(fixture('older.csv'), { mapping: JSON.stringify({ ...MAPPING }) })
    expect(res.status).toBe(202)
    const body = await res.json()
    expect(body.variant).toBe('older')
    expect(body.counts.rejected).toBe(0)
    expect(await userByEmail('radia@spanning.example')).toBeDefined()
  })

  it('Stripe wins: a member who already pays keeps the Stripe membership', async () => {
    const cookie = await signIn(w.t.app, 'payer@import.example')
    await w.standIn.completeCheckout(await startTierCheckout(w, cookie, 'reader', 'month'))
    const csv = fixture('current.csv').toString('utf8').replace('juergen@example.de', 'payer@import.example')
    expect((await upload(csv, { mapping: JSON.stringify(MAPPING) })).status).toBe(202)
    const payer = await userByEmail('payer@import.example')
    expect(await db().select().from(allGrants).where(eq(allGrants.userId, payer!.id))).toEqual([])
    const [member] = await db().select().from(patreonMembers).where(eq(patreonMembers.userId, payer!.id))
    expect(member).toMatchObject({ status: 'active', patreonTier: 'Reader' })
    const list = await (
      await w.t.app.request('/api/admin/supporters?patreon=moved', { headers: { Cookie: admin } })
    ).json()
    expect(list.supporters.map((s: { email: string }) => s.email)).toContain('payer@import.example')
  })

  it('a failure part-way through a step leaves nothing of it written, and the step is tried again later', async () => {
    const csv = fixture('current.csv').toString('utf8').replaceAll('@example.com', '@halfway.example')
    const before = { users: await countOf('users'), members: await countOf('patreon_members') }
    // The accounts are written first, then the Patreon memberships, which fail.
    await db().execute(sql`create function refuse_patron() returns trigger language plpgsql as $$
      begin raise exception 'patrons are refused'; end $$`)
    await db().execute(
      sql`create trigger refuse_patron before insert on patreon_members for each row execute function refuse_patron()`,
    )
    let job: { id: string }
    try {
      const res = await upload(csv, { mapping: JSON.stringify(MAPPING) })
      expect(res.status).toBe(202)
      job = (await res.json()).job
    } finally {
      await db().execute(sql`drop trigger refuse_patron on patreon_members`)
      await db().execute(sql`drop function refuse_patron()`)
    }
    expect({ users: await countOf('users'), members: await countOf('patreon_members') }).toEqual(before)
    expect(await userByEmail('ada@halfway.example')).toBeUndefined()
    const state = async () =>
      (await (await w.t.app.request(`/api/admin/imports/jobs/${job.id}`, { headers: { Cookie: admin } })).json()).job
    const failed = await state()
    expect(failed).toMatchObject({ state: 'queued', progress: { part: 0 } })
    expect(failed.error).toMatch(/^The step failed on our side/)
    // Half a minute later the step runs again, and goes through.
    w.clock.advance(30_000)
    try {
      await runDueJobs(w.t)
    } finally {
      w.clock.advance(-30_000)
    }
    expect(await state()).toMatchObject({ state: 'done', error: null })
    expect(await userByEmail('ada@halfway.example')).toBeDefined()
  })

  it('an address that signs up after the plan keeps its account; an account deleted after it stops the import (409)', async () => {
    const { config, clock } = w.t.services
    const csv = fixture('current.csv').toString('utf8').replaceAll('@example.com', '@race.example')
    const parsed = parsePatreonCsv(new TextEncoder().encode(csv))
    const before = { users: await countOf('users'), members: await countOf('patreon_members') }

    // A reader signs up with one of the file's addresses after the preview.
    const plan = await planImport(db(), await keyring(), config, parsed.rows, parsed.rejected, MAPPING, clock.now())
    await signIn(w.t.app, 'ada@race.example')
    const ada = await userByEmail('ada@race.example')
    await commitImport(db(), await keyring(), plan, clock.now(), null, [])
    // One account per new address, Ada's being the one she made herself.
    expect(await countOf('users')).toBe(before.users + plan.planned.filter((p) => p.userId === null).length)
    const [member] = await db().select().from(patreonMembers).where(eq(patreonMembers.userId, ada!.id))
    expect(member?.status).toBe('active')

    // The next export is planned against Ada's account, which is then deleted: nothing of it is written.
    const newer = csv.replaceAll('@race.example', '@race2.example').replace('ada@race2.example', 'ada@race.example')
    const next = parsePatreonCsv(new TextEncoder().encode(newer))
    const replanned = await planImport(db(), await keyring(), config, next.rows, next.rejected, MAPPING, clock.now())
    await db().delete(users).where(eq(users.id, ada!.id))
    const counted = { users: await countOf('users'), members: await countOf('patreon_members') }
    const gone = await commitImport(db(), await keyring(), replanned, clock.now(), null, []).catch(
      (error: unknown) => error,
    )
    expect(gone).toBeInstanceOf(AppError)
    expect(gone).toMatchObject({ code: 'conflict', message: expect.stringContaining('Preview the file again') })
    expect({ users: await countOf('users'), members: await countOf('patreon_members') }).toEqual(counted)
    expect(await userByEmail('alan@race2.example')).toBeUndefined()
    expect(replanned.planned.find((p) => p.row.email === 'ada@race.example')?.kind, 'found by the count').toBe(
      'unchanged',
    )

    // A row that changed is written, and the foreign key finds its account gone: the same 409.
    const own = csv
      .replaceAll('@race.example', '@race3.example')
      .replace('alan@bletchley.example', 'alan@race3.example')
    const first = parsePatreonCsv(new TextEncoder().encode(own))
    await commitImport(
      db(),
      await keyring(),
      await planImport(db(), await keyring(), config, first.rows, [], MAPPING, clock.now()),
      clock.now(),
      null,
      [],
    )
    const changed = parsePatreonCsv(
      new TextEncoder().encode(
        own.replace('alan@race3.example,turing_machine,Declined', 'alan@race3.example,turing_machine,Former'),
      ),
    )
    const replannedAgain = await planImport(
      db(),
      await keyring(),
      config,
      changed.rows,
      changed.rejected,
      MAPPING,
      clock.now(),
    )
    expect(replannedAgain.planned.find((p) => p.row.email === 'alan@race3.example')?.kind).toBe('updated')
    await db()
      .delete(users)
      .where(eq(users.id, (await userByEmail('alan@race3.example'))!.id))
    const counted2 = { users: await countOf('users'), members: await countOf('patreon_members') }
    const refused = await commitImport(db(), await keyring(), replannedAgain, clock.now(), null, []).catch(
      (error: unknown) => error,
    )
    expect(refused).toMatchObject({ code: 'conflict', message: expect.stringContaining('Preview the file again') })
    expect({ users: await countOf('users'), members: await countOf('patreon_members') }).toEqual(counted2)
  })

  it('never stores the address, phone, Discord, Twitter or "Additional Details" columns anywhere', async () => {
    const forbidden = [
      "12 St James's Square",
      'SW1Y 4JH',
      '+44 20 7946 0018',
      'ada_analytical',
      'Compiler Way',
      'grace_cobol',
      'Hanslope Park',
      '@radia_tw',
      'radia_dc',
      'Rear Adm.',
    ]
    const tables = await rowsOf<{ table_name: string }>(
      db(),
      sql`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`,
    )
    expect(tables.length).toBeGreaterThan(10)
    for (const { table_name } of tables) {
      const rows = await rowsOf<{ r: string }>(db(), sql`select t::text as r from ${sql.identifier(table_name)} t`)
      const text = rows.map((r) => r.r).join('\n')
      for (const value of forbidden) expect(text, `${value} in ${table_name}`).not.toContain(value)
    }
  })
})

describe('bad files', () => {
  const cases: [string, Uint8Array | string, string][] = [
    ['an empty file', '', 'Choose the CSV file exported from Patreon; the upload was empty.'],
    ['not a Patreon export', 'id,name\n1,x\n', 'This is not a Patreon members export'],
    ['not UTF-8', new Uint8Array([0x4e, 0x61, 0x6d, 0x65, 0x0a, 0xff, 0xfe, 0x0a]), 'not UTF-8'],
  ]
  for (const [what, file, message] of cases) {
    it(`${what}: 422 naming the problem, nothing written`, async () => {
      const before = await countOf('users')
      const res = await upload(file)
      expect(res.status).toBe(422)
      expect((await res.json()).error.message).toContain(message)
      expect(await countOf('users')).toBe(before)
    })
  }

  it('invalid e-mails, bad dates and duplicate addresses are rejected by line, and stop the import', async () => {
    const header = fixture('current.csv').toString('utf8').split('\n')[0]!
    const line = fixture('current.csv').toString('utf8').split('\n')[1]!
    const csv = [
      header,
      line.replace('ada@example.com', 'broken@'),
      line.replace('ada@example.com', 'dup@import.example'),
      line.replace('ada@example.com', 'dup@import.example'),
      line.replace('ada@example.com', 'date@import.example').replace('2025-08-10 13:37:12', 'yesterday'),
    ].join('\n')
    const res = await upload(csv, { mapping: JSON.stringify(MAPPING) })
    expect(res.status).toBe(422)
    const dry = await (await upload(csv, { dry_run: 'true', mapping: JSON.stringify(MAPPING) })).json()
    expect(dry.rejected.map((r: { line: number }) => r.line)).toEqual([2, 4, 5])
    expect(dry.rejected[1].reason).toContain('already appears on line 3')
    expect(await userByEmail('dup@import.example')).toBeUndefined()

    // Asked to, it imports the valid row (line 3) and leaves the three rejected ones out.
    const skipping = await upload(csv, { mapping: JSON.stringify(MAPPING), skip_rejected: 'true' })
    expect(skipping.status).toBe(202)
    const { job } = await skipping.json()
    expect(await userByEmail('dup@import.example')).toBeDefined()
    expect(await userByEmail('date@import.example')).toBeUndefined()
    const done = await (
      await w.t.app.request(`/api/admin/imports/jobs/${job.id}`, { headers: { Cookie: admin } })
    ).json()
    expect(done.job).toMatchObject({ state: 'done', progress: { counts: { new: 1, rejected: 3 } } })
    expect(done.job.description).toContain('3 rejected rows skipped')
    const [audited] = await db()
      .select()
      .from(auditLog)
      .where(eq(auditLog.action, 'patreon.imported'))
      .orderBy(desc(auditLog.id)) // the last written (the clock moves back and forth in this file)
      .limit(1)
    expect(audited?.details).toMatchObject({ rows: 1, skipped: 3 })
  })

  it('imports nothing when every row is rejected, even when asked to skip them', async () => {
    const header = fixture('current.csv').toString('utf8').split('\n')[0]!
    const line = fixture('current.csv').toString('utf8').split('\n')[1]!
    const csv = [header, line.replace('ada@example.com', 'broken@')].join('\n')
    const res = await upload(csv, { mapping: JSON.stringify(MAPPING), skip_rejected: 'true' })
    expect(res.status).toBe(422)
    expect((await res.json()).error.message).toBe(
      'Nothing to import: every row was rejected. Fix the file and upload it again.',
    )
  })
})

describe('the admin pages', () => {
  it('offer to import the valid rows and leave the rejected ones out', async () => {
    const [header, ada, grace] = fixture('current.csv').toString('utf8').split('\n')
    const csv = [
      header,
      ada!.replace('ada@example.com', 'valid@skip.example'),
      grace!.replace(/Grace\.Hopper@Navy\.example\.org/i, 'broken@'),
    ].join('\n')
    const form = new FormData()
    form.set('file', new File([csv], 'members.csv'))
    const preview = await w.t.app.request('/admin/imports/patreon', {
      method: 'POST',
      headers: { Cookie: admin },
      body: form,
    })
    const html = await preview.text()
    expect(html).toContain('Import the 1 valid row, skip 1')
    const batch = html.match(/action="\/admin\/imports\/patreon\/([\w-]+)"/)![1]!
    const body = new URLSearchParams()
    for (const [name, tier] of Object.entries(MAPPING)) {
      body.append('patreon_tier', name)
      body.append('masthead_tier', tier)
    }
    body.set('action', 'commit-valid')
    const done = await w.t.app.request(`/admin/imports/patreon/${batch}`, {
      method: 'POST',
      headers: { Cookie: admin, 'Content-Type': 'application/x-www-form-urlencoded' },
      body,
    })
    expect(done.status).toBe(303)
    await runDueJobs(w.t)
    expect(await userByEmail('valid@skip.example')).toBeDefined()
  })

  it('upload → preview with the tier mapping → import', async () => {
    const form = new FormData()
    const csv = fixture('current.csv').toString('utf8').replaceAll('@example.com', '@pages.example')
    form.set('file', new File([csv], 'members.csv'))
    const preview = await w.t.app.request('/admin/imports/patreon', {
      method: 'POST',
      headers: { Cookie: admin },
      body: form,
    })
    expect(preview.status).toBe(200)
    const html = await preview.text()
    expect(html).toContain('Nothing has been saved yet.')
    expect(html).toMatch(/Patron \(1 patron\)/)
    const batch = html.match(/action="\/admin\/imports\/patreon\/([\w-]+)"/)![1]!
    // The preview waits encrypted a part at a time: no address, no name, not even the shape of a row.
    const [stored] = await db().select().from(importBatchParts).where(eq(importBatchParts.batchId, batch))
    expect(isEncrypted(stored!.rows)).toBe(true)
    for (const value of ['@pages.example', 'pages.example', 'Lovelace', 'Hopper', 'email', 'Reader']) {
      expect(stored!.rows).not.toContain(value)
    }
    expect(await findPreview(db(), w.clock.now(), batch)).toMatchObject({ variant: 'current', total: 7, parts: 1 })
    const opened = []
    for await (const part of previewParts(db(), await keyring(), batch)) opened.push(...part.rows)
    expect(opened.map((r) => r.email)).toContain('ada@pages.example')
    expect(opened.find((r) => r.email === 'ada@pages.example')?.patronSince).toBeInstanceOf(Date)
    const body = new URLSearchParams()
    for (const [name, tier] of Object.entries(MAPPING)) {
      body.append('patreon_tier', name)
      body.append('masthead_tier', tier)
    }
    body.set('action', 'commit')
    const done = await w.t.app.request(`/admin/imports/patreon/${batch}`, {
      method: 'POST',
      headers: { Cookie: admin, 'Content-Type': 'application/x-www-form-urlencoded' },
      body,
    })
    expect(done.status).toBe(303)
    const next = new URL(done.headers.get('location')!, 'http://x')
    expect(next.searchParams.get('notice')).toBe(
      'The import has started. It runs in the background; its progress is below.',
    )
    const queued = await (await w.t.app.request(next.pathname + next.search, { headers: { Cookie: admin } })).text()
    expect(queued).toContain('Import waiting for its next step: 0 of 1 parts, 0 rows')
    expect(await userByEmail('ada@pages.example')).toBeUndefined()
    // Asked again while it waits: the same file is not imported twice.
    const twice = await w.t.app.request(`/admin/imports/patreon/${batch}`, {
      method: 'POST',
      headers: { Cookie: admin, 'Content-Type': 'application/x-www-form-urlencoded' },
      body,
    })
    expect(twice.status).toBe(409)
    expect(await twice.text()).toContain('This file is already being imported')
    await runDueJobs(w.t)
    expect(await userByEmail('ada@pages.example')).toBeDefined()
    const [job] = await db().select().from(jobs).where(eq(jobs.key, batch))
    expect(job).toMatchObject({ kind: 'patreon_import', state: 'done', createdBy: expect.any(String) })
    expect(describeJob(job!)).toBe('Import finished: 1 of 1 parts, 7 rows (1 new, 0 updated, 6 unchanged).')
    const finished = await (await w.t.app.request('/admin/imports/patreon', { headers: { Cookie: admin } })).text()
    expect(finished).toContain('Import finished: 1 of 1 parts')
    // The preview is gone once used.
    const again = await w.t.app.request(`/admin/imports/patreon/${batch}`, {
      method: 'POST',
      headers: { Cookie: admin, 'Content-Type': 'application/x-www-form-urlencoded' },
      body,
    })
    expect(again.status).toBe(404)
  })
})

describe('invitations', () => {
  it('e-mails active patrons who have not moved a link with their tier chosen, a batch a minute', async () => {
    const res = await w.t.app.request('/api/admin/imports/patreon-invitations', {
      method: 'POST',
      headers: { Cookie: admin, 'Content-Type': 'application/json' },
      body: '{}',
    })
    expect(res.status).toBe(202)
    const result = await res.json()
    expect(result).toMatchObject({ created: true, job: { kind: 'patreon_invitations', state: 'queued' } })
    await runDueJobs(w.t)
    const state = async (id: string) =>
      (await (await w.t.app.request(`/api/admin/imports/jobs/${id}`, { headers: { Cookie: admin } })).json()).job
    const sent = await state(result.job.id)
    // Everyone invited; the job waits for the reminders (PATREON_REMINDER_DAYS later).
    expect(sent).toMatchObject({ state: 'queued', progress: { failed: 0, remaining: 0 } })
    expect(sent.progress.sent).toBeGreaterThanOrEqual(2)
    const mail = await lastMailTo(w.t.app, 'ada@example.com')
    expect(mail.message?.subject).toBe('Continue your Masthead membership')
    expect(mail.message?.text).toContain('http://localhost:8787/join?tier=reader&from=patreon')
    const invited = async (email: string) =>
      (await lastMailTo(w.t.app, email)).message?.subject === 'Continue your Masthead membership'
    expect(await invited('kj@orbit.example.com')).toBe(false) // former: not invited
    expect(await invited('payer@import.example')).toBe(false) // already pays through Stripe
    const soon = await w.t.app.request('/api/admin/imports/patreon-invitations', {
      method: 'POST',
      headers: { Cookie: admin, 'Content-Type': 'application/json' },
      body: '{}',
    })
    // Asked again while it waits: the same job, nothing sent twice.
    expect(soon.status).toBe(202)
    expect(await soon.json()).toMatchObject({ created: false, job: { id: result.job.id } })
    expect((await runDueJobs(w.t)).steps).toBe(0)
    const join = await (await w.t.app.request('/join?tier=patron&from=patreon')).text()
    expect(join).toContain('Welcome from Patreon')
    expect(join.indexOf('tier-patron')).toBeLessThan(join.indexOf('tier-reader'))
  })
})

describe('npm run import:patreon', () => {
  it('explains its usage, and dry-runs a file into a database', () => {
    const usage = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/import-patreon.ts'], { encoding: 'utf8' })
    expect(usage.status).toBe(2)
    expect(usage.stderr).toContain('Usage: npm run import:patreon -- members.csv')
    const dir = mkdtempSync(join(tmpdir(), 'masthead-import-'))
    try {
      const map = join(dir, 'tiers.json')
      writeFileSync(map, '{}') // a fresh database has no tiers to map to: the active patrons are rejected
      const run = spawnSync(
        process.execPath,
        [
          '--import',
          'tsx',
          'src/cli/import-patreon.ts',
          'tests/imports/fixtures/current.csv',
          '--dry-run',
          '--map',
          map,
        ],
        { encoding: 'utf8', env: { ...process.env, DATA_DIR: dir, DATABASE_URL: '' }, timeout: 60_000 },
      )
      expect(run.stderr).toBe('')
      expect(run.stdout).toContain('3 new, 0 updated, 0 unchanged, 4 rejected')
      expect(run.stdout).toContain('Patreon tier "Reader" (2 rows) → NOT MAPPED')
      expect(run.stdout).toContain('line 2: The Patreon tier "Reader" is not mapped to a Masthead tier.')
      expect(run.stdout).toContain('Dry run: nothing was written.')
      expect(run.status).toBe(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 90_000)
})

void supporters

describe('the suggested tier mapping', () => {
  const choices = [
    { id: 'reader', name: 'Reader', monthlyAmount: 500, currency: 'usd' },
    { id: 'patron', name: 'Patron', monthlyAmount: 1500, currency: 'usd' },
    { id: 'euro', name: 'Euro friend', monthlyAmount: 700, currency: 'eur' },
  ]

  it('takes the tier of the same name, whatever the case, before any price', () => {
    expect(suggestMapping([['PATRON', [{ currency: 'usd', monthly: 400 }]]], choices)).toEqual({ PATRON: 'patron' })
  })

  it('else the nearest monthly price in the currency most pledges use that Masthead has tiers in', () => {
    const mapping = suggestMapping(
      [
        ['Bronze', [{ currency: 'usd', monthly: 600 }]],
        ['Gold', [{ currency: 'usd', monthly: 1200 }]],
        [
          'Pounds first',
          [
            { currency: 'gbp', monthly: 1500 },
            { currency: 'eur', monthly: 100 },
          ],
        ],
        ['Yen only', [{ currency: 'jpy', monthly: 500 }]],
        ['No pledges', []],
      ],
      choices,
    )
    expect({ ...mapping }).toEqual({ Bronze: 'reader', Gold: 'patron', 'Pounds first': 'euro' })
  })

  it('counts an annual pledge as a twelfth a month, and knows nothing of a pledge without a currency', () => {
    expect(monthlyPledge({ pledgeAmount: 12000, chargeFrequency: 'annual', currency: 'usd' })).toBe(1000)
    expect(monthlyPledge({ pledgeAmount: 500, chargeFrequency: 'monthly', currency: 'usd' })).toBe(500)
    expect(monthlyPledge({ pledgeAmount: 500, chargeFrequency: 'monthly', currency: null })).toBeNull()
    const pledges = tierPledges()
    pledges.add(
      parsePatreonCsv(fixture('current.csv')).rows.filter((r) => r.tier === 'Supporter' || r.tier === 'Patron'),
    )
    expect(new Map(pledges.prices()).get('Patron')?.[0]).toMatchObject({ monthly: expect.any(Number) })
  })
})
