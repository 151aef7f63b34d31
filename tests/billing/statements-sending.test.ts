import { eq, like } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config'
import { auditLog, devMailbox, payments, statementSends, stripeCustomers } from '../../src/db/schema'
import { findJob, type Job } from '../../src/jobs/jobs'
import { MailError, type MailMessage } from '../../src/mail/mailer'
import { JOB_HANDLERS, runJobs } from '../../src/scheduled'
import { createServices } from '../../src/services'
import { createTestApp, fixedClock, runDueJobs, type TestApp } from '../helpers/app'
import { lastMailTo, signIn } from '../helpers/auth'
import { insertAccount } from '../helpers/sealed'

/**
 * Sending a year's statements (src/billing/statements/sending.ts): started by an admin through the
 * app, run by the app's job runner (src/scheduled.ts), two statements a batch here, received in
 * the development mailbox.
 */
const clock = fixedClock('2027-01-10T09:00:00Z')
const ADMIN = 'admin@ledger.example'
let t: TestApp
let admin: string

beforeAll(async () => {
  t = await createTestApp({
    clock,
    env: { ADMIN_EMAILS: ADMIN, STATEMENTS_PER_BATCH: '2', ORG_LEGAL_NAME: 'The Ledger Foundation, Inc.' },
  })
  admin = await signIn(t.app, ADMIN)
})
afterAll(() => t?.close())

let accounts = 0
/** An account with payments at the given times (through a Stripe customer of its own), as webhooks record them. */
async function donor(email: string, paid: [string, number, string][]) {
  const { db, config } = t.services
  const user = await insertAccount(db, config, clock.now(), { email })
  const customerId = `cus_sending_${(accounts += 1)}`
  await db.insert(stripeCustomers).values({ customerId, userId: user.id, createdAt: clock.now() })
  if (paid.length > 0) {
    await db.insert(payments).values(
      paid.map(([iso, amount, currency], i) => ({
        id: `pi_${customerId}_${i}`,
        kind: 'donation' as const,
        customerId,
        paymentIntentId: `pi_${customerId}_${i}`,
        amount,
        currency,
        occurredAt: new Date(iso),
      })),
    )
  }
  return user.id
}

const api = (method: string, path: string, body?: unknown) =>
  t.app.request(path, {
    method,
    headers: { Cookie: admin, 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })

/** Statement e-mails for a year in the mailbox, by recipient. */
async function statementsSent(year: number): Promise<Map<string, number>> {
  const rows = await t.services.db
    .select({ id: devMailbox.id })
    .from(devMailbox)
    .where(like(devMailbox.subject, `Your ${year} statement from %`))
  const counts = new Map<string, number>()
  const res = await t.app.request(`/dev/mailbox.json`)
  const { messages } = (await res.json()) as { messages: { to: string; subject: string }[] }
  for (const m of messages.filter((m) => m.subject.startsWith(`Your ${year} statement from `))) {
    counts.set(m.to, (counts.get(m.to) ?? 0) + 1)
  }
  // The mailbox page lists the newest 50: the counts above are complete only if it held them all.
  expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(rows.length)
  return counts
}

/** Replaces the mailer's send while `run` runs. */
async function withMailer<T>(
  send: (message: MailMessage, original: (m: MailMessage) => Promise<void>) => Promise<void>,
  run: () => Promise<T>,
) {
  const mailer = t.services.mailer
  const original = mailer.send.bind(mailer)
  mailer.send = (message) => send(message, original)
  try {
    return await run()
  } finally {
    mailer.send = original
  }
}

const progressOf = async (year: number) => (await api('GET', `/api/admin/statements/${year}`)).json()

describe('sending a year’s statements', () => {
  it('sends each donor one statement, a batch at a time, and resumes after failed steps without sending twice', async () => {
    const donors = ['d1@example.org', 'd2@example.org', 'd3@example.org', 'd4@example.org', 'd5@example.org']
    await donor(donors[0]!, [
      ['2026-02-01T10:00:00Z', 2500, 'usd'],
      ['2026-03-01T10:00:00Z', 4000, 'eur'],
    ])
    for (const email of donors.slice(1)) await donor(email, [['2026-05-05T10:00:00Z', 1000, 'usd']])
    await donor('only-2025@example.org', [['2025-12-31T23:59:59Z', 500, 'usd']])
    await donor('never-paid@example.org', [])

    const started = await api('POST', '/api/admin/statements', { year: 2026 })
    expect(started.status).toBe(202)
    const { created, job } = await started.json()
    expect(created).toBe(true)
    expect(job.progress).toMatchObject({ year: 2026, donors: 5, sent: 0, remaining: 5 })
    // Started twice: the same job, and one audit entry.
    const again = await (await api('POST', '/api/admin/statements', { year: 2026 })).json()
    expect(again).toMatchObject({ created: false, job: { id: job.id } })
    const audits = await t.services.db.select().from(auditLog).where(eq(auditLog.action, 'statements.sending_started'))
    expect(audits).toHaveLength(1)
    expect(audits[0]!.details).toMatchObject({ year: 2026, job: job.id, donors: 5 })
    expect(audits[0]!.actorId).not.toBeNull()

    // One batch of two per run, then a minute's wait.
    expect(await runDueJobs(t)).toMatchObject({ steps: 1 })
    expect([...(await statementsSent(2026)).values()]).toEqual([1, 1])
    expect(await progressOf(2026)).toMatchObject({ donors: 5, sent: 2, remaining: 3, job: { state: 'queued' } })
    expect(await runDueJobs(t)).toMatchObject({ steps: 0 })

    // The provider takes one message, then refuses (rate limit): the rest of the batch waits.
    clock.advance(60_000)
    let calls = 0
    await withMailer(
      async (message, send) => {
        calls += 1
        if (calls > 1) throw new MailError('Resend answered 429')
        await send(message)
      },
      () => runDueJobs(t),
    )
    expect(await progressOf(2026)).toMatchObject({ sent: 3, remaining: 2, job: { progress: { failed: 1 } } })

    // Nothing taken at all: the step fails, and is tried again later.
    clock.advance(60_000)
    await withMailer(
      async () => {
        throw new MailError('Resend could not be reached: TypeError')
      },
      () => runDueJobs(t),
    )
    const stalled = await findJob(t.services.db, job.id)
    expect(stalled).toMatchObject({ state: 'queued', attempts: 1 })
    expect(stalled!.lastError).toBe(
      'None of the last batch went out (the mail provider or the database did not answer); trying again later (3 of 5 sent).',
    )
    expect(await t.services.db.select().from(statementSends).where(eq(statementSends.year, 2026))).toHaveLength(3)

    clock.advance(30_000) // the first back-off
    await runDueJobs(t)
    const done = await progressOf(2026)
    expect(done).toMatchObject({ donors: 5, sent: 5, remaining: 0, job: { state: 'done' } })
    const sent = await statementsSent(2026)
    expect(Object.fromEntries(sent)).toEqual(Object.fromEntries(donors.map((d) => [d, 1])))

    // Started again once finished: a new job, which finds nobody left to send to.
    clock.advance(60_000)
    const rerun = await (await api('POST', '/api/admin/statements', { year: 2026 })).json()
    expect(rerun).toMatchObject({ created: true, job: { progress: { sent: 5, remaining: 5 - 5 } } })
    await runDueJobs(t)
    expect((await findJob(t.services.db, rerun.job.id))!.state).toBe('done')
    expect(Object.fromEntries(await statementsSent(2026))).toEqual(Object.fromEntries(donors.map((d) => [d, 1])))

    // What the statement says, and where to print it.
    const { message } = await lastMailTo(t.app, donors[0]!)
    expect(message?.subject).toBe('Your 2026 statement from The Ledger Foundation, Inc.')
    expect(message?.text).toContain('2026-02-01  One-time donation  $25.00')
    expect(message?.text).toContain('EUR: paid €40.00, refunded €0.00, total €40.00')
    expect(message?.text).toContain('USD: paid $25.00, refunded $0.00, total $25.00')
    expect(message?.text).toContain('To see or print this statement: http://localhost:8787/account/statements/2026')
    expect(message?.text).not.toContain(donors[0]!)
  })

  it('a step taken twice at once (a lease that ran out) sends nobody a second statement', async () => {
    clock.advance(60_000)
    for (const n of [1, 2, 3]) await donor(`twice-${n}@example.org`, [['2024-07-07T07:00:00Z', 700, 'gbp']])
    const { job } = await (await api('POST', '/api/admin/statements', { year: 2024 })).json()
    const stored = (await findJob(t.services.db, job.id)) as Job<never, never>
    const handler = JOB_HANDLERS.year_end_statements!
    await Promise.all([handler.step(t.services, stored), handler.step(t.services, stored)])
    await handler.step(t.services, stored)
    // The runner's own step then finds nobody left, and finishes the job.
    await runDueJobs(t)
    expect((await findJob(t.services.db, job.id))!.state).toBe('done')
    expect(Object.fromEntries(await statementsSent(2024))).toEqual({
      'twice-1@example.org': 1,
      'twice-2@example.org': 1,
      'twice-3@example.org': 1,
    })
  })

  it('sets aside a donor whose message the provider refuses, and goes on with the others', async () => {
    clock.advance(60_000)
    const refused = await donor('bounces@example.org', [['2023-03-03T03:00:00Z', 300, 'usd']])
    await donor('fine@example.org', [['2023-03-03T03:00:00Z', 300, 'usd']])
    const { job } = await (await api('POST', '/api/admin/statements', { year: 2023 })).json()
    await withMailer(
      async (message, send) => {
        if (message.to === 'bounces@example.org') throw new MailError('Resend answered 422')
        await send(message)
      },
      () => runDueJobs(t),
    )
    const stored = await findJob<unknown, { setAside: string[]; remaining: number }>(t.services.db, job.id)
    expect(stored).toMatchObject({ state: 'done', progress: { setAside: [refused], remaining: 0 } })
    expect(Object.fromEntries(await statementsSent(2023))).toEqual({ 'fine@example.org': 1 })
    const page = await (await t.app.request('/admin/statements', { headers: { Cookie: admin } })).text()
    expect(page).toContain('Statements for 2023 finished: 1 of 2 sent, 0 to go, 1 refused by the mail provider.')
    expect(page).toContain('<td>2026</td><td>5</td><td>5</td>')
  })

  it('through Resend, waits half a second between messages (its limit is 2 a second) and releases what it refuses', async () => {
    clock.advance(60_000)
    for (const n of [1, 2, 3]) await donor(`resend-${n}@example.org`, [['2022-02-02T02:00:00Z', 200, 'usd']])
    const calls: { at: number; to: string }[] = []
    let refuse = false
    const services = createServices({
      config: loadConfig({
        APP_ENV: 'test',
        APP_URL: 'http://localhost:8787',
        STATEMENTS_PER_BATCH: '2',
        RESEND_API_KEY: 're_test_key',
        MAIL_FROM: 'The Ledger <news@ledger.example>',
      }),
      db: t.services.db,
      clock,
      fetch: async (_url, init) => {
        const { to } = JSON.parse(String(init?.body)) as { to: string[] }
        calls.push({ at: performance.now(), to: to[0]! })
        return new Response('{}', { status: refuse && calls.length === 2 ? 429 : 200 })
      },
    })
    const started = await (await api('POST', '/api/admin/statements', { year: 2022 })).json()
    refuse = true
    await runJobs(services, 60_000)
    expect(calls).toHaveLength(2)
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(450)
    // The refused one was given back: it goes in the next batch, with the third.
    expect((await findJob(t.services.db, started.job.id))!.progress).toMatchObject({ sent: 1, remaining: 2, failed: 1 })
    refuse = false
    clock.advance(60_000)
    await runJobs(services, 60_000)
    // Each donor once, and the refused one once more: the provider never took it.
    const refused = calls[1]!.to
    const expected = ['resend-1@example.org', 'resend-2@example.org', 'resend-3@example.org', refused]
    expect(calls.map((c) => c.to).sort()).toEqual(expected.sort())
    expect((await findJob(t.services.db, started.job.id))!.state).toBe('done')
  })
})

describe('the statements configuration', () => {
  it('defaults the statement text and the legal name, and refuses what cannot be printed', () => {
    const config = loadConfig({ APP_ENV: 'test', PUBLICATION_NAME: 'The Ledger' })
    expect(config.STATEMENT_TEXT).toBe('No goods or services were provided in exchange for these contributions.')
    expect(config.ORG_LEGAL_NAME).toBeUndefined()
    expect(config.STATEMENTS_PER_BATCH).toBe(40)
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig({ APP_ENV: 'test', ...env })
      } catch (error) {
        return (error as ConfigError).problems
      }
      return []
    }
    expect(problems({ ORG_TAX_ID: '<b>12</b>' })).toEqual([
      'ORG_TAX_ID: must be up to 64 letters, digits, spaces and . , : # / - (such as EIN 12-3456789)',
    ])
    expect(problems({ STATEMENTS_PER_BATCH: '0' })).toEqual(['STATEMENTS_PER_BATCH: must be at least 1'])
    expect(problems({ STATEMENTS_PER_BATCH: '500' })).toEqual(['STATEMENTS_PER_BATCH: must be at most 100'])
    expect(problems({ STATEMENT_TEXT: 'x'.repeat(1001) })).toEqual(['STATEMENT_TEXT: must be at most 1000 characters'])
    expect(problems({ ORG_TAX_ID: 'EIN 12-3456789', ORG_LEGAL_NAME: 'The Ledger Foundation, Inc.' })).toEqual([])
  })
})
