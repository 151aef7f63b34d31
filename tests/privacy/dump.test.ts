import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { stringify } from 'csv-stringify/sync'
import { eq, sql } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import { findUserByEmail } from '../../src/accounts/users'
import { rowsOf } from '../../src/db/client'
import { PATREON_HEADERS } from '../../src/dev/patreon-fixture'
import { seedSupporters } from '../../src/dev/seed-supporters'
import { importBatches, patreonMembers, stripeCustomers, users } from '../../src/db/schema'
import { openPeople } from '../../src/privacy/people'
import { nextClientIp, signIn } from '../helpers/auth'
import { sessionIdOf, useBillingWorld } from '../helpers/billing'
import { runDueJobs } from '../helpers/app'
import { DUMP_METHOD, dumpDatabase, type Dump } from '../helpers/dump'

/**
 * Issue #15's proof: a realistic database (`npm run db:seed` plus a Patreon import through the
 * app, one preview left pending) dumped whole holds none of the seeded names or addresses, while
 * sign-in, checkout, webhooks, import, search, the supporter page and the CSV export all still work
 * through the app, with seeded people, and leave nothing in clear either.
 */
const ADMIN = 'admin@dump.example'
const w = useBillingWorld({ live: true, env: { ADMIN_EMAILS: ADMIN } })
const SEEDED = 120
const root = join(import.meta.dirname, '../..')

/** Everyone the database holds, in clear, read with the key before the dump: what the dump must not show. */
let people: { id: string; email: string; name: string | null }[] = []
/** Patrons of the import who had no account before it. */
const NEW_PATRONS = [
  { email: 'wilhelmina.okonkwo@patrons.example', name: 'Wilhelmina Okonkwo' },
  { email: 'ñuño.ibáñez@correo.example', name: 'Ñuño Ibáñez-Sørensen' },
]
/** Only in the preview left pending. */
const PREVIEWED = { email: 'peregrine.preview@patrons.example', name: 'Peregrine Previewfield' }
let seededPatron: { id: string; email: string; name: string | null }
let admin: string
let before: Dump

const get = (path: string, cookie = admin) => w.t.app.request(path, { headers: { Cookie: cookie } })

function patreonExport(rows: { email: string; name: string; status: string; tier?: string }[]): string {
  const header = PATREON_HEADERS.current
  const cells = (r: (typeof rows)[number]): Record<string, string> => ({
    Name: r.name,
    Email: r.email,
    'Patron Status': r.status,
    'Pledge Amount': r.status === 'Active patron' ? '5.00' : '',
    'Lifetime Amount': '30.00',
    'Charge Frequency': 'monthly',
    Tier: r.tier ?? 'Reader',
    'Patronage Since Date': '2025-06-01 10:00:00',
    'Next Charge Date': r.status === 'Active patron' ? '2026-12-01 00:00:00' : '',
    'Free Member': 'No',
    Currency: 'USD',
    'User ID': String(90_000_000 + Math.floor(Math.random() * 1_000_000)),
  })
  return stringify([header, ...rows.map((r) => header.map((column) => cells(r)[column] ?? ''))])
}

function upload(path: string, csv: string, fields: Record<string, string> = {}) {
  const form = new FormData()
  form.set('file', new File([csv], 'members.csv', { type: 'text/csv' }))
  for (const [k, v] of Object.entries(fields)) form.set(k, v)
  return w.t.app.request(path, { method: 'POST', headers: { Cookie: admin }, body: form })
}

/** The seeded accounts: through `npm run db:seed` itself on PostgreSQL, through what it runs on PGlite. */
async function seed() {
  const database = w.t.database
  if (database.url) {
    const { stdout } = await promisify(execFile)(
      join(root, 'node_modules/.bin/tsx'),
      ['src/cli/db-seed.ts', '--supporters', String(SEEDED), '--seed', '15'],
      { cwd: root, env: { PATH: process.env.PATH ?? '', DATABASE_URL: database.url, APP_ENV: 'test' } },
    )
    expect(stdout).toMatch(new RegExp(`Made ${SEEDED} accounts`))
    expect(stdout, 'db:seed prints counts, never a person').not.toMatch(/@/)
    return
  }
  await seedSupporters(database.db, { keyring: await w.t.services.keyring, supporters: SEEDED, now: w.clock.now() })
}

async function everyone() {
  const rows = await w.t.services.db
    .select({ id: users.id, card: users.card, email: users.email, name: users.name })
    .from(users)
  return openPeople(await w.t.services.keyring, rows)
}

/** The texts of a dump a person may not appear in: ciphertexts, indexes and tokens (random-looking runs) blanked. */
const withoutSealed = (text: string) => text.replace(/v1\.k\d+\.[\w-]+\.[\w-]+/g, '').replace(/[\w-]{16,}/g, '')

/** Which of the people the dump names, by address (anywhere) or by full name (outside the sealed values). */
function named(dump: Dump, who: readonly { email: string; name: string | null }[]): string[] {
  const raw = dump.text.toLowerCase()
  const open = withoutSealed(dump.text).toLowerCase()
  const found: string[] = []
  for (const person of who) {
    if (raw.includes(person.email.toLowerCase())) found.push('an address')
    if (person.name && open.includes(person.name.toLowerCase())) found.push('a name')
  }
  return found
}

beforeAll(async () => {
  await seed()
  admin = await signIn(w.t.app, ADMIN)
  const seeded = (await everyone()).filter((p) => p.id.startsWith('seed_'))
  expect(seeded).toHaveLength(SEEDED)
  seededPatron = seeded.find((p) => p.name !== null)!

  // The import: a seeded account (its address typed in capitals) and two newcomers; then a preview left pending.
  const rows = [
    { email: seededPatron.email.toUpperCase(), name: seededPatron.name!, status: 'Active patron' },
    ...NEW_PATRONS.map((p) => ({ ...p, status: 'Active patron' })),
  ]
  const imported = await upload('/api/admin/imports/patreon', patreonExport(rows), { mapping: '{"Reader":"reader"}' })
  expect(imported.status).toBe(202)
  expect((await runDueJobs(w.t)).finished).toBe(1)
  const preview = await upload('/admin/imports/patreon', patreonExport([{ ...PREVIEWED, status: 'Active patron' }]))
  expect(preview.status).toBe(200)
  expect(await w.t.services.db.select().from(importBatches)).toHaveLength(1)

  people = [...(await everyone()), { id: '', ...PREVIEWED }]
  before = await dumpDatabase(w.t.database)
}, 120_000)

describe(`a seeded database, dumped (${DUMP_METHOD})`, () => {
  it('holds every seeded and imported person, and names none of them', () => {
    expect(people.length).toBe(SEEDED + 1 + NEW_PATRONS.length + 1)
    expect(named(before, people)).toEqual([])
    for (const table of ['users', 'supporters', 'email_tokens', 'dev_mailbox', 'import_batch_parts', 'jobs']) {
      expect(before.tables.get(table)?.length ?? 0, `${table} has rows`).toBeGreaterThan(0)
    }
  })
})

describe('the app, on that database', () => {
  it('signs a seeded supporter in, to their own account', async () => {
    const person = people.find((p) => p.id.startsWith('seed_') && p.id !== seededPatron.id)!
    const cookie = await signIn(w.t.app, person.email)
    const me = await (await get('/api/account', cookie)).json()
    expect(me.user).toMatchObject({ id: person.id, email: person.email })
  })

  it('links a signed-out checkout by a seeded address to that account, through the webhooks', async () => {
    const person = people.filter((p) => p.id.startsWith('seed_')).at(-1)!
    const res = await w.t.app.request('/billing/checkout', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'CF-Connecting-IP': nextClientIp() },
      body: JSON.stringify({ tier: 'patron', interval: 'year', email: person.email.toUpperCase() }),
    })
    expect(res.status).toBe(200)
    await w.standIn.completeCheckout(sessionIdOf(((await res.json()) as { url: string }).url))
    const linked = await w.t.services.db
      .select({ userId: stripeCustomers.userId })
      .from(stripeCustomers)
      .where(eq(stripeCustomers.userId, person.id))
    expect(linked.length, 'the customer is the seeded account’s').toBeGreaterThan(0)
    expect((await findUserByEmail(w.t.services.db, await w.t.services.keyring, person.email))?.id).toBe(person.id)
    const [count] = await rowsOf<{ n: string }>(w.t.services.db, sql`select count(*) as n from users`)
    // Everyone listed before the dump had an account but the previewed patron: no account was added since.
    expect(Number(count!.n), 'no second account').toBe(people.length - 1)
  })

  it('imported the seeded patron onto their account, and the newcomers as accounts of their own', async () => {
    const [member] = await w.t.services.db
      .select({ userId: patreonMembers.userId })
      .from(patreonMembers)
      .where(eq(patreonMembers.userId, seededPatron.id))
    expect(member?.userId).toBe(seededPatron.id)
    for (const p of NEW_PATRONS) {
      const account = people.find((q) => q.email === p.email.normalize('NFC').toLowerCase())
      expect(account?.name, p.email).toBe(p.name)
    }
  })

  it('finds seeded supporters by a word of their name, and by their address', async () => {
    const person = people.find((p) => p.id.startsWith('seed_') && p.name?.includes(' '))!
    const words = person.name!.split(' ').filter((word) => word.length >= 3)
    const byName = await (await get(`/api/admin/supporters?${new URLSearchParams({ q: words.join(' ') })}`)).json()
    expect(byName.supporters.map((s: { userId: string }) => s.userId)).toContain(person.id)
    const byAddress = await (await get(`/api/admin/supporters?${new URLSearchParams({ q: person.email })}`)).json()
    expect(byAddress.supporters.map((s: { userId: string }) => s.userId)).toContain(person.id)
    const shown = byName.supporters.find((s: { userId: string }) => s.userId === person.id)
    expect(shown).toMatchObject({ email: person.email, name: person.name })
  })

  it('shows a seeded supporter’s page, address and name opened', async () => {
    const detail = await (await get(`/api/admin/supporters/${seededPatron.id}`)).json()
    expect(detail.user).toMatchObject({ id: seededPatron.id, email: seededPatron.email, name: seededPatron.name })
    const html = await (await get(`/admin/supporters/${seededPatron.id}`)).text()
    expect(html).toContain(seededPatron.email)
  })

  it('exports every supporter to CSV, addresses and names in clear', async () => {
    const res = await get('/api/admin/supporters.csv')
    expect(res.status).toBe(200)
    const csv = await res.text()
    for (const person of people.filter((p) => p.id.startsWith('seed_')).slice(0, 20)) {
      expect(csv).toContain(person.email)
    }
    expect(csv).toContain(seededPatron.name!)
    // What the dump is searched with finds a person wherever they are in clear, as they are here.
    expect(named({ text: csv, tables: new Map() }, [seededPatron])).toEqual(['an address', 'a name'])
  })

  it('and after all of that, a dump still names no one', async () => {
    const after = await dumpDatabase(w.t.database)
    expect(named(after, [...people, { email: ADMIN, name: null }])).toEqual([])
  })
})
