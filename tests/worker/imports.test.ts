/**
 * Moving from Patreon inside workerd: a 20 MiB export uploaded to the Worker is read as it
 * arrives and stored a part at a time; the import and the invitations run as jobs, by the
 * Worker's Cron Trigger (its `scheduled` handler), not in the request.
 */
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { seedDemoTiers } from '../../src/dev/demo-tiers'
import { connectPostgres } from '../../src/db/client'
import { patreonCsvFixture } from '../../src/dev/patreon-fixture'
import { startTestWorker, type TestWorker } from './harness'
import { signInWorker } from './session'

const ADMIN = 'worker-importer@example.org'
const MAPPING = { Reader: 'reader', Supporter: 'reader', Patron: 'patron' }

let worker: TestWorker
let sql: postgres.Sql
let admin: string

beforeAll(async () => {
  worker = await startTestWorker({ ADMIN_EMAILS: ADMIN, SIGN_IN_LIMIT: '20', INVITATIONS_PER_BATCH: '40' })
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

/** Grows the fixture until it is just under `bytes`: Patreon's columns, made-up patrons. */
function exportOf(bytes: number): { csv: string; rows: number } {
  let rows = Math.floor(bytes / 300) // a little over: the fixture averages about 320 bytes a row
  for (;;) {
    const csv = patreonCsvFixture(rows, { seed: 11 })
    const size = new TextEncoder().encode(csv).byteLength
    if (size <= bytes) return { csv, rows }
    rows = Math.floor(rows * (bytes / size) * 0.995)
  }
}

const jobOf = async (id: string) =>
  (
    (await (await worker.fetch(`/api/admin/imports/jobs/${id}`, { headers: { Cookie: admin } })).json()) as {
      job: { state: string; progress: Record<string, unknown>; error: string | null }
    }
  ).job

describe('a Patreon import inside workerd', () => {
  it('takes a 20 MiB export, previews it, and imports it in steps run by the Cron Trigger', async () => {
    const { csv, rows } = exportOf(20 * 1024 * 1024 - 64 * 1024)
    const form = new FormData()
    form.set('mapping', JSON.stringify(MAPPING))
    form.set('file', new File([csv], 'members.csv', { type: 'text/csv' }))
    const res = await worker.fetch('/api/admin/imports/patreon', {
      method: 'POST',
      headers: { Cookie: admin },
      body: form,
    })
    const body = (await res.json()) as {
      counts: Record<string, number>
      job: { id: string; state: string }
      error?: unknown
    }
    expect(res.status, JSON.stringify(body.error)).toBe(202)
    expect(body.counts).toEqual({ new: rows, updated: 0, unchanged: 0, rejected: 0 })
    expect(body.job.state).toBe('queued')
    // Stored a part at a time, a thousand rows or so each; nothing imported yet.
    const [stored] = await sql<{ parts: number; total: number }[]>`select parts, total from import_batches`
    expect(stored).toEqual({ parts: Math.ceil(rows / 1000), total: rows })
    expect(Number((await sql`select count(*) as n from patreon_members`)[0]!.n)).toBe(0)

    // Each run of the Cron Trigger takes steps for up to 25 s; a few runs bring the whole file in.
    for (let run = 0; run < 20 && (await jobOf(body.job.id)).state !== 'done'; run++) await worker.scheduled()
    const job = await jobOf(body.job.id)
    expect(job).toMatchObject({ state: 'done', error: null })
    expect(job.progress).toMatchObject({ counts: { new: rows, updated: 0, unchanged: 0 } })
    expect(Number((await sql`select count(*) as n from patreon_members`)[0]!.n)).toBe(rows)
    expect(await sql`select count(*)::int as n from users where name_order = ''`).toEqual([{ n: 0 }])
    // The preview is gone once imported, and the audit log says who imported how many.
    expect(await sql`select count(*)::int as n from import_batch_parts`).toEqual([{ n: 0 }])
    const [audit] = await sql<{ details: { rows: number } }[]>`
      select details from audit_log where action = 'patreon.imported'`
    expect(audit!.details.rows).toBe(rows)
  }, 600_000)

  it('sends the invitations a batch per run of the Cron Trigger, within the subrequests of one invocation', async () => {
    const res = await worker.fetch('/api/admin/imports/patreon-invitations', {
      method: 'POST',
      headers: { Cookie: admin, 'Content-Type': 'application/json' },
      body: '{}',
    })
    expect(res.status).toBe(202)
    const { job } = (await res.json()) as { job: { id: string } }
    await worker.scheduled()
    const first = await jobOf(job.id)
    expect(first).toMatchObject({ state: 'queued', progress: { sent: 40, failed: 0 } })
    expect(Number(first.progress.remaining)).toBeGreaterThan(0)
    // The next batch waits a minute: another run now sends nothing.
    await worker.scheduled()
    expect((await jobOf(job.id)).progress).toMatchObject({ sent: 40 })
    const [invited] = await sql<
      { n: number }[]
    >`select count(*)::int as n from patreon_members where invited_at is not null`
    expect(invited!.n).toBe(40)
  })
})
