import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { eq, sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { findUserByEmail } from '../../src/accounts/users'
import { rowsOf } from '../../src/db/client'
import {
  auditLog,
  grants,
  importBatches,
  importBatchParts,
  jobs,
  stripeCustomers,
  subscriptions,
} from '../../src/db/schema'
import { isEncrypted } from '../../src/privacy/cipher'
import { runDueJobs } from '../helpers/app'
import { signIn } from '../helpers/auth'
import { useBillingWorld } from '../helpers/billing'

const ADMIN = 'admin@ghost-upload.example'
const w = useBillingWorld({ live: true, env: { ADMIN_EMAILS: ADMIN } })
const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'fixtures', name))
const HEADER =
  'id,email,name,note,subscribed_to_emails,complimentary_plan,stripe_customer_id,created_at,deleted_at,labels,tiers'
const db = () => w.t.services.db
const count = async (table: string) =>
  Number((await rowsOf<{ n: string }>(db(), sql`select count(*) as n from ${sql.raw(table)}`))[0]!.n)
const userOf = async (email: string) => findUserByEmail(db(), await w.t.services.keyring, email)
let admin: string
let dir: string

const form = (file: Uint8Array | string, fields: Record<string, string> = {}) => {
  const body = new FormData()
  body.set('file', new File([typeof file === 'string' ? file : Uint8Array.from(file)], 'members.csv'))
  for (const [k, v] of Object.entries(fields)) body.set(k, v)
  return body
}

/** Posts a file to the API; an import it accepts (202) runs as a job, run here as the server's loop would. */
async function upload(file: Uint8Array | string, fields: Record<string, string> = {}, cookie = admin) {
  const res = await w.t.app.request('/api/admin/imports/ghost', {
    method: 'POST',
    headers: { Cookie: cookie },
    body: form(file, fields),
  })
  if (res.status === 202) await runDueJobs(w.t)
  return res
}

/** The page: upload → the preview's HTML and the batch id in its form's action. */
async function previewOnPage(file: Uint8Array | string) {
  const res = await w.t.app.request('/admin/imports/ghost', {
    method: 'POST',
    headers: { Cookie: admin },
    body: form(file),
  })
  const html = await res.text()
  const batch = /action="[^"]*\/admin\/imports\/ghost\/([A-Za-z0-9_-]+)"/.exec(html)?.[1]
  return { res, html, batch: batch! }
}

const confirm = (batch: string, fields: [string, string][]) =>
  w.t.app.request(`/admin/imports/ghost/${batch}`, {
    method: 'POST',
    headers: { Cookie: admin, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  })

beforeAll(async () => {
  admin = await signIn(w.t.app, ADMIN)
  dir = mkdtempSync(join(tmpdir(), 'masthead-ghost-routes-'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('the Ghost import through the API', () => {
  it('a dry run counts and writes nothing; the import runs as a job; again changes nothing', async () => {
    const users = await count('users')
    const dry = await upload(fixture('ghost-current.csv'), { dry_run: 'true', mapping: '{"Gold": "patron"}' })
    expect(dry.status).toBe(200)
    expect(await dry.json()).toMatchObject({
      dryRun: true,
      variant: 'ghost',
      counts: { new: 3, updated: 0, unchanged: 0, rejected: 0, deleted: 1, comps: 2 },
      tiers: [
        { name: 'Gold', rows: 2, mappedTo: 'patron' },
        { name: 'Silver', rows: 1, mappedTo: null },
      ],
    })
    expect(await count('users')).toBe(users)
    expect(await count('import_batches')).toBe(0)

    const res = await upload(fixture('ghost-current.csv'), { mapping: '{"Gold": "patron"}' })
    expect(res.status).toBe(202)
    const { job } = (await res.json()) as { job: { id: string } }
    const [done] = await db().select().from(jobs).where(eq(jobs.id, job.id))
    expect(done).toMatchObject({ kind: 'ghost_import', state: 'done', lastError: null })
    expect(done!.progress).toMatchObject({ phase: 'done', counts: { new: 3, updated: 0, unchanged: 0, rejected: 0 } })
    expect(await count('users')).toBe(users + 3)
    const grace = (await userOf('grace@ghost.example'))!
    expect(await db().select({ tierId: grants.tierId }).from(grants).where(eq(grants.userId, grace.id))).toEqual([
      { tierId: 'patron' },
    ])
    // The preview is gone once imported; the audit log says who imported how many.
    expect(await count('import_batch_parts')).toBe(0)
    const audits = await db().select().from(auditLog).where(eq(auditLog.action, 'ghost.imported'))
    expect(audits.at(-1)).toMatchObject({ details: { rows: 3 } })

    const snapshot = { users: await count('users'), grants: await count('grants') }
    const again = await upload(fixture('ghost-current.csv'), { mapping: '{"Gold": "patron"}' })
    expect(again.status).toBe(202)
    expect((await again.json()).counts).toMatchObject({ new: 0, updated: 0, unchanged: 3 })
    expect({ users: await count('users'), grants: await count('grants') }).toEqual(snapshot)
  })

  it('rows rejected stop the import (422, nothing written) unless skip_rejected, which imports the others', async () => {
    const csv =
      `${HEADER}\n` +
      '1,not-an-address,Nobody,,true,false,,2024-01-01T00:00:00.000Z,,,\n' +
      '2,valid.one@ghost-skip.example,Valid One,,true,false,,2024-01-01T00:00:00.000Z,,,\n' +
      '3,bronze@ghost-skip.example,Bronze,,true,true,,2024-01-01T00:00:00.000Z,,,Bronze\n'
    const users = await count('users')
    const refused = await upload(csv)
    expect(refused.status).toBe(422)
    expect(await count('users')).toBe(users)
    expect(await count('import_batches')).toBe(0)
    const skipping = await upload(csv, { skip_rejected: 'true' })
    expect(skipping.status).toBe(202)
    const body = await skipping.json()
    expect(body.counts).toMatchObject({ new: 1, rejected: 2 })
    expect(body.rejected.map((r: { line: number }) => r.line)).toEqual([2, 4])
    expect(await count('users')).toBe(users + 1)
    expect(await userOf('valid.one@ghost-skip.example')).toBeDefined()
    expect(await userOf('bronze@ghost-skip.example')).toBeUndefined()
    const [job] = await db().select().from(jobs).where(eq(jobs.id, body.job.id))
    expect(job).toMatchObject({ state: 'done', progress: { counts: { new: 1, rejected: 2 } } })

    const all = await upload(`${HEADER}\n1,nope,,,true,false,,,,,\n`, { skip_rejected: 'true' })
    expect(all.status).toBe(422)
    expect((await all.json()).error.message).toContain('every row was rejected')
  })

  it('bad files are refused with nothing stored', async () => {
    const cases: [string | Uint8Array, number, string][] = [
      ['', 422, 'the upload was empty'],
      ['email,name\na@b.example,A\n', 422, 'This is not a Ghost members export'],
      [Uint8Array.from([0xff, 0xfe, 0x00, 0x41]), 422, 'not UTF-8'],
      [`${HEADER}\n1,"a@b.example,A\n`, 422, 'not valid CSV'],
    ]
    for (const [file, status, message] of cases) {
      const res = await upload(file)
      expect(res.status, message).toBe(status)
      expect((await res.json()).error.message).toContain(message)
    }
    const notMultipart = await w.t.app.request('/api/admin/imports/ghost', {
      method: 'POST',
      headers: { Cookie: admin, 'Content-Type': 'text/csv' },
      body: 'email\n',
    })
    expect(notMultipart.status).toBe(415)
    const tooBig = await w.t.app.request('/api/admin/imports/ghost', {
      method: 'POST',
      headers: { Cookie: admin, 'Content-Type': 'multipart/form-data; boundary=x', 'Content-Length': String(30 << 20) },
      body: 'x',
    })
    expect(tooBig.status).toBe(413)
    expect(await count('import_batches')).toBe(0)
    expect(await count('import_batch_parts')).toBe(0)
  })

  it('is for admins only: readers and editors are refused, nothing stored', async () => {
    const reader = await signIn(w.t.app, 'reader@ghost-upload.example')
    const editor = await signIn(w.t.app, 'editor@ghost-upload.example')
    const made = await w.t.app.request('/api/admin/staff', {
      method: 'POST',
      headers: { Cookie: admin, 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: 'editor@ghost-upload.example', role: 'editor' }),
    })
    expect(made.status).toBeLessThan(300)
    for (const cookie of [reader, editor]) {
      const res = await upload(fixture('ghost-current.csv'), {}, cookie)
      expect(res.status).toBe(403)
      const page = await w.t.app.request('/admin/imports/ghost', { headers: { Cookie: cookie } })
      expect([403, 303, 302]).toContain(page.status)
    }
    const anonymous = await w.t.app.request('/api/admin/imports/ghost', { method: 'POST', body: form('x') })
    expect(anonymous.status).toBe(401)
    expect(await count('import_batches')).toBe(0)
  })
})

describe('the Ghost import page', () => {
  it('a Ghost preview is not the Patreon import’s: its confirm and its rejected rows there answer 404, nothing written', async () => {
    const csv = `${HEADER}\n1,cross.one@ghost-cross.example,Cross One,,true,false,,2024-01-01T00:00:00.000Z,,,Free\n`
    const { res, batch } = await previewOnPage(csv)
    expect(res.status).toBe(200)
    const [accountsBefore, jobsBefore] = [await count('users'), await count('jobs')]
    const confirmed = await w.t.app.request(`/admin/imports/patreon/${batch}`, {
      method: 'POST',
      headers: { Cookie: admin, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ action: 'commit' }).toString(),
    })
    expect(confirmed.status).toBe(404)
    expect(await confirmed.text()).toContain('No such Patreon preview')
    const rejected = await w.t.app.request(`/admin/imports/patreon/${batch}/rejected.csv`, {
      headers: { Cookie: admin },
    })
    expect(rejected.status).toBe(404)
    expect([await count('users'), await count('jobs')]).toEqual([accountsBefore, jobsBefore])
    expect(await userOf('cross.one@ghost-cross.example')).toBeUndefined()
  })

  it('upload → preview (suggested mapping pre-filled, rejected rows) → rejected CSV → import the valid ones → 409 again', async () => {
    const csv =
      `${HEADER}\n` +
      '1,page.one@ghost-page.example,Page One,,true,false,,2024-01-01T00:00:00.000Z,,,Free\n' +
      '2,page.gold@ghost-page.example,"=HYPERLINK(""x"")",,true,true,,2024-01-01T00:00:00.000Z,,,Patron\n' +
      '3,page.silver@ghost-page.example,Silver,,true,true,,2024-01-01T00:00:00.000Z,,,Silver\n' +
      '4,@ghost-page.example,Broken,,true,false,,2024-01-01T00:00:00.000Z,,,\n'
    const { res, html, batch } = await previewOnPage(csv)
    expect(res.status).toBe(200)
    // "Patron" is a tier's name here: suggested and pre-selected; "Silver" is not, so its comp is rejected.
    expect(html).toContain('2 new, 0 updated, 0 unchanged, 2 rejected')
    expect(html).toMatch(/<option value="patron" selected="">/)
    const stored = await db().select().from(importBatchParts).where(eq(importBatchParts.batchId, batch))
    expect(stored.length).toBeGreaterThan(0)
    expect(stored.every((p) => isEncrypted(p.rows))).toBe(true)
    expect(JSON.stringify(stored)).not.toContain('ghost-page.example')

    // Under the mapping as it stands (Silver unmapped), line 4 and the Silver comp are rejected.
    const mapping: [string, string][] = [
      ['ghost_key', 'Patron'],
      ['masthead_tier', 'patron'],
      ['ghost_key', 'Silver'],
      ['masthead_tier', ''],
    ]
    const preview = await confirm(batch, [...mapping, ['action', 'preview']])
    const previewHtml = await preview.text()
    expect(previewHtml).toContain('2 new, 0 updated, 0 unchanged, 2 rejected')
    expect(previewHtml).toContain('Import the 2 valid rows, skip 2')
    expect(previewHtml).toContain(`/admin/imports/ghost/${batch}/rejected.csv?`)

    const download = await w.t.app.request(
      `/admin/imports/ghost/${batch}/rejected.csv?ghost_key=Patron&masthead_tier=patron`,
      { headers: { Cookie: admin } },
    )
    expect(download.status).toBe(200)
    expect(download.headers.get('content-disposition')).toMatch(/^attachment; filename="ghost-rejected-/)
    expect(download.headers.get('cache-control')).toBe('private, no-store')
    const text = (await download.text()).replace(/^\uFEFF/, '')
    const lines = text.trim().split('\r\n')
    expect(lines[0]).toBe('email,name,complimentary_plan,stripe_customer_id,created_at,tiers,reason')
    expect(lines[1]).toMatch(/^page\.silver@ghost-page\.example,Silver,true,,2024-01-01T00:00:00.000Z,Silver,/)
    // Formula-safe: a cell that starts as a formula would is written with a leading quote.
    expect(lines[2]).toMatch(
      /^'@ghost-page\.example,Broken,false,,2024-01-01T00:00:00.000Z,,The e-mail address is not valid\./,
    )
    expect(lines).toHaveLength(3)
    const [exported] = await db().select().from(auditLog).where(eq(auditLog.action, 'ghost.rejected_exported'))
    expect(exported).toMatchObject({ details: { batch, rows: 2 } })
    const asReader = await w.t.app.request(`/admin/imports/ghost/${batch}/rejected.csv`, {
      headers: { Cookie: await signIn(w.t.app, 'reader2@ghost-upload.example') },
    })
    expect(asReader.status).not.toBe(200)

    // A plain import is refused while rows are rejected; "import the valid ones anyway" queues it.
    const refused = await confirm(batch, [...mapping, ['action', 'commit']])
    expect(refused.status).toBe(422)
    const started = await confirm(batch, [...mapping, ['action', 'commit-valid']])
    expect(started.status).toBe(303)
    // Confirmed again before it has run: 409, and one job.
    const twice = await confirm(batch, [...mapping, ['action', 'commit-valid']])
    expect(twice.status).toBe(409)
    expect(await db().select().from(jobs).where(eq(jobs.key, batch))).toHaveLength(1)
    await runDueJobs(w.t)
    const [job] = await db().select().from(jobs).where(eq(jobs.key, batch))
    expect(job).toMatchObject({ state: 'done', progress: { counts: { new: 2, rejected: 2 } } })
    expect(await userOf('page.gold@ghost-page.example')).toBeDefined()
    expect(await userOf('page.silver@ghost-page.example')).toBeUndefined()
    expect(await db().select().from(importBatches).where(eq(importBatches.id, batch))).toEqual([])
    // And once imported, confirming it again is still a conflict, not a second import.
    expect((await confirm(batch, [...mapping, ['action', 'commit-valid']])).status).toBe(409)
    const listing = await (await w.t.app.request('/admin/imports/ghost', { headers: { Cookie: admin } })).text()
    expect(listing).toContain(
      'Ghost import finished: 1 of 1 parts, 2 members (2 new, 0 updated, 0 unchanged, 2 rejected rows skipped).',
    )
  })

  it('members with a Stripe customer: prices mapped on the preview, subscriptions adopted by the job, marked in Stripe', async () => {
    const product = await w.stripe.products.create({ name: 'Ghost Gold' })
    const price = await w.stripe.prices.create({
      product: product.id,
      currency: 'usd',
      unit_amount: 1500,
      recurring: { interval: 'month' },
    })
    const customer = await w.stripe.customers.create({ email: 'paying@ghost-page.example' })
    const sub = await w.stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] })
    await w.standIn.idle()
    const csv = `${HEADER}\n1,paying@ghost-page.example,Paying,,true,false,${customer.id},2024-01-01T00:00:00.000Z,,,Ghost Gold\n`
    const { html, batch } = await previewOnPage(csv)
    expect(html).toContain(price.id)
    expect(html).toContain('1 member has a Stripe customer')
    const started = await confirm(batch, [
      ['ghost_key', price.id],
      ['masthead_tier', 'patron'],
      ['action', 'commit'],
    ])
    expect(started.status).toBe(303)
    for (let i = 0; i < 5; i++) await runDueJobs(w.t)
    const [job] = await db().select().from(jobs).where(eq(jobs.key, batch))
    expect(job).toMatchObject({ state: 'done', progress: { phase: 'done', adopted: 1, marked: 1 } })
    const paying = (await userOf('paying@ghost-page.example'))!
    expect(await db().select().from(stripeCustomers).where(eq(stripeCustomers.userId, paying.id))).toMatchObject([
      { customerId: customer.id },
    ])
    expect(await db().select().from(subscriptions).where(eq(subscriptions.id, sub.id))).toMatchObject([
      { tierId: 'patron', status: 'active', amount: 1500 },
    ])
    expect((await w.stripe.subscriptions.retrieve(sub.id)).metadata).toMatchObject({ masthead: '1', tier_id: 'patron' })
  })
})

describe('--skip-rejected on the command line', () => {
  function importGhost(...argv: string[]): Promise<{ status: number | null; output: string }> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', 'src/cli/import-ghost.ts', ...argv],
        {
          encoding: 'utf8',
          env: { ...process.env, ...w.standIn.env, DATABASE_URL: w.t.database.url ?? '', APP_ENV: 'development' },
          timeout: 90_000,
        },
        (error, stdout, stderr) =>
          resolve({ status: error ? ((error as { code?: number }).code ?? 1) : 0, output: `${stdout}\n${stderr}` }),
      )
    })
  }

  it('refuses a file with rejected rows, and with --skip-rejected imports the valid ones', async () => {
    if (!w.t.database.url) return // the command needs a server database it can reach
    const file = join(dir, 'skip.csv')
    writeFileSync(
      file,
      `${HEADER}\n1,cli.valid@ghost-cli.example,Valid,,true,false,,2024-01-01T00:00:00.000Z,,,\n` +
        '2,cli-broken,Broken,,true,false,,2024-01-01T00:00:00.000Z,,,\n',
    )
    const refused = await importGhost(file)
    expect(refused.status).toBe(1)
    expect(refused.output).toContain('--skip-rejected')
    expect(await userOf('cli.valid@ghost-cli.example')).toBeUndefined()
    const run = await importGhost(file, '--skip-rejected')
    expect(run.status, run.output).toBe(0)
    expect(run.output).toContain('Imported 1 members in one transaction')
    expect(run.output).toContain('1 rejected row left out (--skip-rejected)')
    expect(run.output).not.toMatch(/cli\.valid|cli-broken/)
    expect(await userOf('cli.valid@ghost-cli.example')).toBeDefined()
  }, 60_000)
})
