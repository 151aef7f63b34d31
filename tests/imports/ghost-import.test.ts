import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { eq, sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { findUserByEmail } from '../../src/accounts/users'
import { tierCatalog } from '../../src/billing/adopt'
import { rowsOf } from '../../src/db/client'
import { auditLog, grants, stripeCustomers, subscriptions } from '../../src/db/schema'
import { loadEntitlements } from '../../src/entitlements/entitlements'
import { GhostCsvError, parseGhostCsv } from '../../src/imports/ghost-csv'
import { commitGhostImport, planGhostImport } from '../../src/imports/ghost-import'
import { openAccount } from '../../src/privacy/people'
import { useBillingWorld } from '../helpers/billing'

const w = useBillingWorld({ live: true })
const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'fixtures', name))
const MAPPING = { Gold: 'patron' }
const HEADER =
  'id,email,name,note,subscribed_to_emails,complimentary_plan,stripe_customer_id,created_at,deleted_at,labels,tiers'
const db = () => w.t.services.db
const count = async (table: string) =>
  Number((await rowsOf<{ n: string }>(db(), sql`select count(*) as n from ${sql.raw(table)}`))[0]!.n)
const userOf = async (email: string) => findUserByEmail(db(), await w.t.services.keyring, email)

async function importFile(file: Uint8Array | string, mapping: Record<string, string> = MAPPING, dryRun = false) {
  const keyring = await w.t.services.keyring
  const parsed = parseGhostCsv(file)
  const catalog = await tierCatalog(db())
  const plan = await planGhostImport(
    db(),
    keyring,
    catalog,
    parsed.rows,
    parsed.rejected,
    mapping,
    w.clock.now(),
    parsed.deleted,
  )
  if (!dryRun) await commitGhostImport(db(), keyring, plan, w.clock.now(), null, [])
  return { parsed, plan }
}

let dir: string
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'masthead-ghost-'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('reading a Ghost export', () => {
  it('reads quoted and multi-line fields, the tiers column, comps, and leaves deleted members out', () => {
    const parsed = parseGhostCsv(fixture('ghost-current.csv'))
    expect(parsed.variant).toBe('current')
    expect(parsed.deleted).toBe(1)
    expect(parsed.rejected).toEqual([])
    expect(parsed.rows.map((r) => [r.line, r.email, r.name, r.comp, r.tiers])).toEqual([
      [2, 'ada@ghost.example', 'Ada Lovelace', false, ['Free']],
      [3, 'grace@ghost.example', 'Hopper, Grace', true, ['Gold']],
      [7, 'edsger@ghost.example', null, true, ['Silver', 'Gold']],
    ])
    // note and labels are never read: nothing of them is in what the reader hands on.
    expect(JSON.stringify(parsed)).not.toMatch(/conference|vip|press|no name given/)
  })

  it('reads the older products column', () => {
    const parsed = parseGhostCsv(fixture('ghost-older.csv'))
    expect(parsed.variant).toBe('older')
    expect(parsed.rows.map((r) => [r.email, r.comp, r.tiers])).toEqual([
      ['barbara@ghost.example', false, []],
      ['donald@ghost.example', true, ['Gold']],
    ])
  })

  it('refuses files that are not Ghost exports, bad rows one by one, and files over the limit', () => {
    expect(() => parseGhostCsv('email,name\na@b.example,A\n')).toThrow(
      'This is not a Ghost members export: the columns complimentary_plan, stripe_customer_id, created_at, deleted_at, tiers (or products) are missing.',
    )
    expect(() => parseGhostCsv(`${HEADER}\n`)).toThrow('The file has a header but no members.')
    expect(() => parseGhostCsv('')).toThrow(GhostCsvError)
    expect(() => parseGhostCsv(`${HEADER}\n1,a@b.example,"A,,,\n`)).toThrow(/never closed/)
    const big = `${HEADER}\n${'1,a@b.example,A,,true,false,,,,,\n'.repeat(200)}`
    expect(() => parseGhostCsv(big, { maxBytes: 1000, maxRows: 10 })).toThrow('The file is too big')
    const parsed = parseGhostCsv(
      `${HEADER}\n1,not-an-address,A,,true,false,,,,,\n2,b@b.example,B,,true,maybe,,,,,\n3,c@b.example,C,,true,false,acct_1,,,,\n4,d@b.example,B,,true,false,,yesterday,,,\n`,
    )
    expect(parsed.rejected).toEqual([
      { line: 2, reason: 'The e-mail address is not valid.' },
      { line: 3, reason: 'The complimentary_plan value "maybe" should be true or false.' },
      { line: 4, reason: 'The stripe_customer_id "acct_1" is not a Stripe customer id (cus_…).' },
      { line: 5, reason: 'The created_at "yesterday" is not a date like 2024-03-01T10:20:30.000Z.' },
    ])
  })
})

describe('importing members', () => {
  it('a dry run counts and writes nothing', async () => {
    const users = await count('users')
    const { plan } = await importFile(fixture('ghost-current.csv'), MAPPING, true)
    expect(plan.counts).toMatchObject({ new: 3, updated: 0, unchanged: 0, rejected: 0, deleted: 1, comps: 2 })
    expect(await count('users')).toBe(users)
    expect(await count('grants')).toBe(0)
  })

  it('an unmapped comp tier is rejected with its line, and nothing is written', async () => {
    const users = await count('users')
    const { plan } = await importFile(fixture('ghost-current.csv'), {}, true)
    expect(plan.rejected.map((r) => r.line)).toEqual([3, 7])
    await expect(commitGhostImport(db(), await w.t.services.keyring, plan, w.clock.now(), null, [])).rejects.toThrow(
      /Nothing was imported: 2 rows were rejected \(first: line 3/,
    )
    expect(await count('users')).toBe(users)
  })

  it('members become accounts, comps become comps, deleted members are left out; again, nothing changes', async () => {
    await importFile(fixture('ghost-current.csv'))
    const keyring = await w.t.services.keyring
    const grace = (await userOf('grace@ghost.example'))!
    expect(await openAccount(keyring, grace)).toEqual({ email: 'grace@ghost.example', name: 'Hopper, Grace' })
    expect(grace.createdAt.toISOString()).toBe('2023-11-12T08:00:00.000Z')
    expect(await userOf('alan@ghost.example')).toBeUndefined()
    const comp = await db().select().from(grants).where(eq(grants.userId, grace.id))
    expect(comp).toMatchObject([{ source: 'comp', tierId: 'patron', endsAt: null, note: 'Complimentary in Ghost' }])
    const entitled = await loadEntitlements(db(), grace.id, w.clock.now(), w.t.services.config)
    expect(entitled.membership.entitled).toBe(true)
    expect((await db().select().from(auditLog).where(eq(auditLog.action, 'ghost.imported'))).length).toBe(1)

    const before = { users: await count('users'), grants: await count('grants') }
    const again = await importFile(fixture('ghost-current.csv'))
    expect(again.plan.counts).toMatchObject({ new: 0, updated: 0, unchanged: 3, comps: 0 })
    expect({ users: await count('users'), grants: await count('grants') }).toEqual(before)
  })

  it('an older export with products imports the same way', async () => {
    const { plan } = await importFile(fixture('ghost-older.csv'))
    expect(plan.counts).toMatchObject({ new: 2, comps: 1 })
    const donald = (await userOf('donald@ghost.example'))!
    expect(await db().select({ tierId: grants.tierId }).from(grants).where(eq(grants.userId, donald.id))).toEqual([
      { tierId: 'patron' },
    ])
  })
})

describe('members who pay through Stripe (the command line)', () => {
  /** Runs the command (asynchronously: the stand-in answering it runs in this process). */
  function importGhost(...argv: string[]): Promise<{ status: number | null; output: string }> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', 'src/cli/import-ghost.ts', ...argv],
        {
          encoding: 'utf8',
          env: {
            ...process.env,
            ...w.standIn.env,
            DATABASE_URL: w.t.database.url ?? '',
            APP_ENV: 'development',
            RESEND_API_KEY: '',
          },
          timeout: 90_000,
        },
        (error, stdout, stderr) =>
          resolve({ status: error ? ((error as { code?: number }).code ?? 1) : 0, output: `${stdout}\n${stderr}` }),
      )
    })
  }

  it('links the customer, adopts its live subscription by product name, and a later webhook updates it', async () => {
    if (!w.t.database.url) return // the command needs a server database it can reach
    // What Ghost made in Stripe: its own product and price, a customer, a subscription outside Masthead.
    const product = await w.stripe.products.create({ name: 'Patron' })
    const price = await w.stripe.prices.create({
      product: product.id,
      currency: 'usd',
      unit_amount: 1200,
      recurring: { interval: 'month' },
    })
    const customer = await w.stripe.customers.create({ email: 'kathleen@ghost.example' })
    const sub = await w.stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] })
    await w.standIn.idle()
    expect(await db().select().from(subscriptions).where(eq(subscriptions.id, sub.id))).toEqual([]) // not Masthead's
    const file = join(dir, 'paid.csv')
    writeFileSync(
      file,
      `${HEADER}\n77,kathleen@ghost.example,Kathleen Booth,,true,false,${customer.id},2024-01-01T00:00:00.000Z,,,Patron\n`,
    )

    const dry = await importGhost(file, '--dry-run', '--map', 'auto')
    expect(dry.status).toBe(0)
    expect(dry.output).toContain('1 to adopt')
    expect(dry.output).toContain(`price ${price.id} (product "Patron", 12.00 USD a month): 1 → patron`)
    expect(dry.output).toContain('Dry run: nothing was written.')
    expect(dry.output).not.toMatch(/kathleen|Booth/i)
    expect(await userOf('kathleen@ghost.example')).toBeUndefined()

    const unmapped = await importGhost(file)
    expect(unmapped.status).toBe(1)
    expect(unmapped.output).toContain('1 Stripe price not mapped to a tier')
    expect(await userOf('kathleen@ghost.example')).toBeUndefined()

    const run = await importGhost(file, '--map', 'auto')
    expect(run.output).toContain('1 subscriptions marked')
    expect(run.status).toBe(0)
    await w.standIn.idle()
    const kathleen = (await userOf('kathleen@ghost.example'))!
    expect(await db().select().from(stripeCustomers).where(eq(stripeCustomers.userId, kathleen.id))).toMatchObject([
      { customerId: customer.id },
    ])
    const [stored] = await db().select().from(subscriptions).where(eq(subscriptions.id, sub.id))
    expect(stored).toMatchObject({ tierId: 'patron', status: 'active', amount: 1200, cancelAtPeriodEnd: false })
    const entitled = await loadEntitlements(db(), kathleen.id, w.clock.now(), w.t.services.config)
    expect(entitled.membership).toMatchObject({ source: 'stripe', entitled: true })
    expect((await w.stripe.subscriptions.retrieve(sub.id)).metadata).toMatchObject({ masthead: '1', tier_id: 'patron' })

    // Running it again changes nothing.
    const snapshot = await w.snapshot()
    const again = await importGhost(file, '--map', 'auto')
    expect(again.status).toBe(0)
    expect(again.output).toContain('0 new, 0 updated, 1 unchanged')
    expect(again.output).toContain('1 already kept by Masthead, 0 to adopt')
    expect(again.output).toContain('0 subscriptions marked')
    expect(await w.snapshot()).toEqual(snapshot)

    // From now on Stripe's webhooks keep it current.
    w.clock.advance(5000)
    await w.standIn.setCancelAtPeriodEnd(sub.id, true)
    const [updated] = await db().select().from(subscriptions).where(eq(subscriptions.id, sub.id))
    expect(updated).toMatchObject({ tierId: 'patron', cancelAtPeriodEnd: true })
  }, 120_000)

  it('bad files exit non-zero with a message and write nothing', async () => {
    if (!w.t.database.url) return
    const users = await count('users')
    const missing = join(dir, 'missing.csv')
    writeFileSync(missing, 'email,name\na@b.example,A\n')
    const run = await importGhost(missing)
    expect(run.status).toBe(1)
    expect(run.output).toContain('This is not a Ghost members export')
    expect((await importGhost(join(dir, 'nope.csv'))).status).toBe(2)
    expect((await importGhost()).status).toBe(2)
    expect(await count('users')).toBe(users)
  }, 60_000)
})
