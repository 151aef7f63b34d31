/**
 * Moving from Ghost inside workerd: a Ghost members export uploaded to the Worker's admin API is
 * read as it arrives and stored sealed a part at a time; the import runs as a job, in steps taken
 * by the Worker's Cron Trigger (its `scheduled` handler), not in the request.
 */
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connectPostgres } from '../../src/db/client'
import { seedDemoTiers } from '../../src/dev/demo-tiers'
import { startTestWorker, type TestWorker } from './harness'
import { signInWorker } from './session'

const ADMIN = 'worker-ghost@example.org'
const HEADER =
  'id,email,name,note,subscribed_to_emails,complimentary_plan,stripe_customer_id,created_at,deleted_at,labels,tiers'

let worker: TestWorker
let sql: postgres.Sql
let admin: string

beforeAll(async () => {
  worker = await startTestWorker({ ADMIN_EMAILS: ADMIN, SIGN_IN_LIMIT: '20' })
  sql = postgres(worker.databaseUrl, { max: 1, onnotice: () => {} })
  const handle = connectPostgres(worker.databaseUrl, { max: 1 })
  try {
    await seedDemoTiers(handle.db, new Date())
  } finally {
    await handle.close()
  }
  admin = await signInWorker(worker, ADMIN)
})
afterAll(async () => {
  await sql?.end()
  await worker?.stop()
})

/** A Ghost export: one in ten a comp of "Patron", notes with line breaks, one row rejected, one deleted. */
function ghostExport(rows: number): string {
  const lines = [HEADER]
  for (let i = 0; i < rows; i++) {
    const comp = i % 10 === 3
    const email = i === 7 ? 'not-an-address' : `w${i}@ghost-worker.example`
    const deleted = i === 8 ? '2025-01-01T00:00:00.000Z' : ''
    const note = i % 5 === 0 ? '"a note,\nover two lines"' : ''
    lines.push(
      `g${i},${email},Member ${i},${note},true,${comp},,2024-01-01T00:00:00.000Z,${deleted},"vip, press",${comp ? 'Patron' : 'Free'}`,
    )
  }
  return lines.join('\n') + '\n'
}

const jobOf = async (id: string) =>
  (
    (await (await worker.fetch(`/api/admin/imports/jobs/${id}`, { headers: { Cookie: admin } })).json()) as {
      job: { state: string; progress: Record<string, unknown>; error: string | null }
    }
  ).job

describe('a Ghost import inside workerd', () => {
  it('takes an export through the admin API, and imports it in steps run by the Cron Trigger', async () => {
    const rows = 12_000
    const form = new FormData()
    form.set('mapping', JSON.stringify({ Patron: 'patron' }))
    form.set('skip_rejected', 'true')
    form.set('file', new File([ghostExport(rows)], 'members.csv', { type: 'text/csv' }))
    const res = await worker.fetch('/api/admin/imports/ghost', {
      method: 'POST',
      headers: { Cookie: admin },
      body: form,
    })
    const body = (await res.json()) as {
      counts: Record<string, number>
      rejected: { line: number }[]
      job: { id: string; state: string }
      error?: unknown
    }
    expect(res.status, JSON.stringify(body.error)).toBe(202)
    expect(body.counts).toMatchObject({ new: rows - 2, updated: 0, unchanged: 0, rejected: 1, deleted: 1 })
    // Line 11: rows 0 and 5 have a note over two lines.
    expect(body.rejected).toEqual([{ line: 11, reason: 'The e-mail address is not valid.' }])
    expect(body.job.state).toBe('queued')
    const [stored] = await sql<{ variant: string; total: number }[]>`select variant, total from import_batches`
    expect(stored).toEqual({ variant: 'ghost', total: rows })
    expect(Number((await sql`select count(*) as n from users where role = 'reader'`)[0]!.n)).toBe(0)

    for (let run = 0; run < 10 && (await jobOf(body.job.id)).state !== 'done'; run++) await worker.scheduled()
    const job = await jobOf(body.job.id)
    expect(job).toMatchObject({ state: 'done', error: null })
    expect(job.progress).toMatchObject({ phase: 'done', counts: { new: rows - 2, rejected: 1 } })
    expect(Number((await sql`select count(*) as n from users where role = 'reader'`)[0]!.n)).toBe(rows - 2)
    expect(Number((await sql`select count(*) as n from grants where source = 'comp'`)[0]!.n)).toBe(rows / 10)
    expect(await sql`select count(*)::int as n from users where name_order = ''`).toEqual([{ n: 0 }])
    expect(await sql`select count(*)::int as n from import_batch_parts`).toEqual([{ n: 0 }])
    const [audit] = await sql<{ details: { rows: number; skipped: number } }[]>`
      select details from audit_log where action = 'ghost.imported'`
    expect(audit!.details).toMatchObject({ rows: rows - 2, skipped: 1 })
  }, 600_000)

  it('refuses a reader, and a file that is not a Ghost export, storing nothing', async () => {
    const reader = await signInWorker(worker, 'worker-ghost-reader@example.org')
    const form = new FormData()
    form.set('file', new File(['email,name\na@b.example,A\n'], 'members.csv', { type: 'text/csv' }))
    const refused = await worker.fetch('/api/admin/imports/ghost', {
      method: 'POST',
      headers: { Cookie: reader },
      body: form,
    })
    expect(refused.status).toBe(403)
    const bad = await worker.fetch('/api/admin/imports/ghost', {
      method: 'POST',
      headers: { Cookie: admin },
      body: form,
    })
    expect(bad.status).toBe(422)
    expect(await sql`select count(*)::int as n from import_batches`).toEqual([{ n: 0 }])
  })
})
