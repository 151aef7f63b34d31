import { inArray, sql } from 'drizzle-orm'
import { audit } from '../../audit/audit'
import { rowsOf, type Database } from '../../db/client'
import { users } from '../../db/schema'
import { AppError } from '../../http/errors'
import { describeError, log } from '../../http/log'
import { absoluteUrl } from '../../http/paths'
import { enqueueJob, type Job, type JobHandler, type JobHandlers } from '../../jobs/jobs'
import { MailError } from '../../mail/mailer'
import { DecryptionError } from '../../privacy/cipher'
import { openAddress } from '../../privacy/people'
import type { Services } from '../../services'
import { FIRST_YEAR, issuerOf, statementOf, yearBounds } from './ledger'
import { statementMessage } from './messages'

/**
 * Sending a year's statements, as a job (src/jobs/jobs.ts, kind `year_end_statements`, one open
 * job per year): each step e-mails the next STATEMENTS_PER_BATCH donors, then waits a minute.
 * `statement_sends` (user, year) is the record of who has had theirs: a donor is claimed there
 * (insert … on conflict do nothing) before the mail goes out, so no start, step run again after a
 * lost lease, or second job for the year sends anyone a second one. A mail the provider did not
 * take is released again: when the provider is busy or away (429, 5xx, unreachable) the rest of the
 * batch is released too and the step ends, to go on later; when it refuses that one message (a 4xx,
 * an address that cannot be read), that donor is set aside in the job's progress, by id, and the
 * job goes on without them.
 */

/** A batch at most once a minute, as the Patreon invitations go. */
const STATEMENT_INTERVAL_MS = 60_000
/**
 * Between two messages to Resend: its default limit is 2 requests a second per team (resend.com/docs,
 * "Usage limits"). The development mailbox has none.
 */
const RESEND_GAP_MS = 500

export interface StatementPayload {
  year: number
}

export interface StatementProgress {
  year: number
  /** Accounts with a payment in the year. */
  donors: number
  /** Of them, those who have had their statement (by this job or an earlier one). */
  sent: number
  /** Of them, those still to be sent, the set-aside ones left out. */
  remaining: number
  /** Messages the provider did not take while busy or away, tried again later. */
  failed: number
  /** Accounts whose message the provider refused, or whose address could not be read: not tried again by this job. */
  setAside: string[]
}

/** The accounts with a payment (or a refund) in `year`, as a subquery. */
const donorsOf = (year: number) => {
  const [start, end] = yearBounds(year)
  return sql`select distinct sc.user_id from payments p join stripe_customers sc on sc.customer_id = p.customer_id
    where p.occurred_at >= ${start.toISOString()}::timestamptz and p.occurred_at < ${end.toISOString()}::timestamptz`
}

const idList = (ids: readonly string[]) => sql`(select jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb))`

/** Where the year's statements stand, counted from the ledger and `statement_sends`. */
export async function statementCounts(
  db: Database,
  year: number,
  setAside: readonly string[] = [],
): Promise<Pick<StatementProgress, 'donors' | 'sent' | 'remaining'>> {
  const [row] = await rowsOf<{ donors: number | string; sent: number | string; remaining: number | string }>(
    db,
    sql`with donors as (${donorsOf(year)}),
        sent as (select d.user_id from donors d join statement_sends s on s.user_id = d.user_id and s.year = ${year})
      select (select count(*) from donors) as donors, (select count(*) from sent) as sent,
        (select count(*) from donors d where d.user_id not in (select user_id from sent)
          and d.user_id not in ${idList(setAside)}) as remaining`,
  )
  return { donors: Number(row?.donors ?? 0), sent: Number(row?.sent ?? 0), remaining: Number(row?.remaining ?? 0) }
}

/** Per year with payments, newest first: how many donors, and how many have had their statement. */
export async function statementYearCounts(db: Database): Promise<{ year: number; donors: number; sent: number }[]> {
  const rows = await rowsOf<{ year: number | string; donors: number | string; sent: number | string }>(
    db,
    sql`select y.year, count(distinct y.user_id) as donors, count(distinct s.user_id) as sent
      from (select extract(year from p.occurred_at at time zone 'UTC')::integer as year, sc.user_id
        from payments p join stripe_customers sc on sc.customer_id = p.customer_id) y
      left join statement_sends s on s.user_id = y.user_id and s.year = y.year
      group by y.year order by y.year desc`,
  )
  return rows.map((r) => ({ year: Number(r.year), donors: Number(r.donors), sent: Number(r.sent) }))
}

/** Claims the next donors of the year who have had no statement: their rows in statement_sends, written now. */
async function claimBatch(db: Database, year: number, now: Date, limit: number, setAside: readonly string[]) {
  const rows = await rowsOf<{ user_id: string }>(
    db,
    sql`insert into statement_sends (user_id, year, sent_at)
      select d.user_id, ${year}::integer, ${now.toISOString()}::timestamptz from (${donorsOf(year)}) d
      where not exists (select 1 from statement_sends s where s.user_id = d.user_id and s.year = ${year})
        and d.user_id not in ${idList(setAside)}
      order by d.user_id limit ${limit}
      on conflict do nothing
      returning user_id`,
  )
  return rows.map((r) => r.user_id)
}

/** Gives claims back: their statements were not sent. */
async function release(db: Database, year: number, userIds: readonly string[]) {
  if (userIds.length === 0) return
  await db.execute(sql`delete from statement_sends where year = ${year} and user_id in ${idList(userIds)}`)
}

/**
 * What is about that one donor and will not change by trying again: the provider refused the message
 * (a 4xx other than its rate limit), or the account's address cannot be read. Anything else (the
 * provider busy or away, the database not answering) may go through later.
 */
const isRefusal = (error: unknown) =>
  (error instanceof MailError && /answered 4(?!29)\d\d/.test(error.message)) || error instanceof DecryptionError

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** One batch: claimed, then sent a message at a time; what was not sent is released. */
async function sendBatch(services: Services, year: number, setAside: readonly string[]) {
  const { db, config, clock, mailer } = services
  const keyring = await services.keyring
  const claimed = await claimBatch(db, year, clock.now(), config.STATEMENTS_PER_BATCH, setAside)
  const accounts = new Map(
    claimed.length === 0
      ? []
      : (
          await db
            .select({ id: users.id, card: users.card, email: users.email, name: users.name })
            .from(users)
            .where(inArray(users.id, claimed))
        ).map((row) => [row.id, row]),
  )
  const issuer = issuerOf(config)
  const url = absoluteUrl(config, `/account/statements/${year}`)
  const gap = config.RESEND_API_KEY ? RESEND_GAP_MS : 0
  let sent = 0
  let failed = 0
  const refused: string[] = []
  for (const [i, userId] of claimed.entries()) {
    if (i > 0 && gap > 0) await pause(gap)
    try {
      const account = accounts.get(userId)
      if (!account) continue // deleted since the claim: its claim went with it
      const email = await openAddress(keyring, account)
      const statement = await statementOf(db, userId, year)
      await mailer.send(statementMessage(email, issuer, statement, url))
      sent += 1
    } catch (error) {
      log('warn', 'statement_send_failed', { year, ...describeError(error) })
      if (isRefusal(error)) {
        refused.push(userId)
        await release(db, year, [userId])
        continue
      }
      failed += 1
      await release(db, year, claimed.slice(i))
      break
    }
  }
  return { claimed: claimed.length, sent, failed, refused }
}

const yearEndStatements: JobHandler<StatementPayload, StatementProgress> = {
  // Each message is one subrequest, and a Worker invocation may make 50 on the free plan.
  stepsPerRun: 1,
  async step(services, job) {
    const { year } = job.payload
    const before = job.progress
    const batch = await sendBatch(services, year, before.setAside)
    const setAside = [...before.setAside, ...batch.refused]
    const progress: StatementProgress = {
      year,
      ...(await statementCounts(services.db, year, setAside)),
      failed: before.failed + batch.failed,
      setAside,
    }
    if (batch.failed > 0 && batch.sent === 0) {
      // Tried again after a pause that grows (jobs.ts); the statements sent so far stay sent.
      throw new AppError(
        'mail_unavailable',
        `None of the last batch went out (the mail provider or the database did not answer); trying again later (${progress.sent} of ${progress.donors} sent).`,
      )
    }
    if (progress.remaining === 0) return { progress, done: true }
    return { progress, done: false, waitMs: STATEMENT_INTERVAL_MS }
  },
}

export const statementJobs: JobHandlers = {
  year_end_statements: yearEndStatements as JobHandler<never, never>,
}

/**
 * The year an admin asks to send, checked: four digits, a year that has ended, not before
 * FIRST_YEAR (422, about the field); with nobody to send to, 404. Nothing is written before.
 */
export async function yearToSend(db: Database, input: unknown, now: Date): Promise<number> {
  const text = typeof input === 'number' ? String(input) : typeof input === 'string' ? input.trim() : ''
  const fail = (message: string) => new AppError('validation_failed', message, { field: 'year' })
  if (!/^\d{4}$/.test(text)) throw fail('Enter the year as four digits, such as 2025.')
  const year = Number(text)
  const current = now.getUTCFullYear()
  if (year >= current) {
    throw fail(`${year} has not ended yet: its statements can be sent from 1 January ${year + 1}.`)
  }
  if (year < FIRST_YEAR) throw fail(`Statements go back to ${FIRST_YEAR}.`)
  const { donors } = await statementCounts(db, year)
  if (donors === 0) {
    throw new AppError('not_found', `Nobody made a payment in ${year}: there are no statements to send.`, {
      field: 'year',
    })
  }
  return year
}

/**
 * Starts sending a year's statements, or finds them already going out (`created: false`). A start
 * is audited (`statements.sending_started`, with the year and the job); a second start while the
 * first runs changes nothing, and one after it has finished finds nobody left to send to.
 */
export async function startStatements(
  services: Services,
  actor: { id: string },
  year: number,
): Promise<{ job: Job<StatementPayload, StatementProgress>; created: boolean }> {
  const { db, clock } = services
  const now = clock.now()
  const counts = await statementCounts(db, year)
  const queued = await enqueueJob<StatementPayload, StatementProgress>(db, now, {
    kind: 'year_end_statements',
    key: String(year),
    payload: { year },
    progress: { year, ...counts, failed: 0, setAside: [] },
    createdBy: actor.id,
  })
  if (queued.created) {
    await audit(db, now, actor, 'statements.sending_started', null, { year, job: queued.job.id, ...counts })
    services.kickJobs?.()
  }
  return queued
}

/** A statements job, for the admin page and the API. */
export function describeStatementJob(job: Job): string {
  const p = job.progress as StatementProgress
  const state = { queued: 'waiting for its next batch', running: 'sending', done: 'finished', failed: 'stopped' }[
    job.state
  ]
  const setAside = p.setAside.length > 0 ? `, ${p.setAside.length} refused by the mail provider` : ''
  return `Statements for ${p.year} ${state}: ${p.sent} of ${p.donors} sent, ${p.remaining} to go${setAside}.`
}
