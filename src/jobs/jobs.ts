import { and, desc, eq, sql } from 'drizzle-orm'
import { rowsOf, type Database } from '../db/client'
import { isPgError } from '../db/pg-errors'
import { JOB_KINDS, jobs, type JobKind, type JobState } from '../db/schema'
import { AppError } from '../http/errors'
import { describeError, log } from '../http/log'
import type { Services } from '../services'
import { randomId } from '../util/random'

/**
 * Work too long for one request, run off the request path in bounded steps: on Workers by the
 * Cron Trigger (src/worker.ts `scheduled`), on Node by a loop in the server (src/node.ts), both
 * through `runDueJobs`. A request only enqueues; the job's row says how far it has got, for the
 * next step and for the page that shows it.
 *
 * A step is claimed under a lease: a runner that dies mid-step leaves a lease that runs out, and
 * the step is taken again. Steps must therefore be safe to run again (each kind's handler says
 * how it is). A step that throws is tried again later, backing off; an `AppError` that says the
 * input is wrong (4xx other than a conflict) fails the job at once, with its message for the admin.
 */

export interface Job<P = unknown, G = unknown> {
  id: string
  kind: JobKind
  key: string
  state: JobState
  payload: P
  progress: G
  attempts: number
  lastError: string | null
  createdBy: string | null
  createdAt: Date
  updatedAt: Date
  finishedAt: Date | null
  runAt: Date
}

/** What a step did: how far the job has got, and whether it is finished or when to go on. */
export interface StepResult<G> {
  progress: G
  done: boolean
  /** Wait this long before the next step (invitations go out a batch a minute). */
  waitMs?: number
}

export interface JobHandler<P = never, G = never> {
  step(services: Services, job: Job<P, G>): Promise<StepResult<G>>
  /**
   * Steps of this kind one run may take: a step that sends mail makes one subrequest per message,
   * and a Worker invocation may make 50 on the free plan.
   */
  stepsPerRun?: number
}

export type JobHandlers = Partial<Record<JobKind, JobHandler<never, never>>>

/** How long a claimed step may take before another runner may take it again. */
export const LEASE_MS = 5 * 60_000
/** Failed steps in a row before a job fails for good. */
export const MAX_ATTEMPTS = 5

const toJob = (row: typeof jobs.$inferSelect): Job => ({
  id: row.id,
  kind: row.kind,
  key: row.key,
  state: row.state,
  payload: row.payload,
  progress: row.progress,
  attempts: row.attempts,
  lastError: row.lastError,
  createdBy: row.createdBy,
  createdAt: row.createdAt,
  updatedAt: row.updatedAt,
  finishedAt: row.finishedAt,
  runAt: row.runAt,
})

/**
 * Queues a job. At most one job per kind and key is open (queued or running): asking again while
 * one is returns that one, with `created: false`.
 */
export async function enqueueJob<P, G>(
  db: Database,
  now: Date,
  job: { kind: JobKind; key: string; payload: P; progress: G; createdBy: string | null },
): Promise<{ job: Job<P, G>; created: boolean }> {
  try {
    const [row] = await db
      .insert(jobs)
      .values({
        id: randomId(),
        kind: job.kind,
        key: job.key,
        state: 'queued',
        payload: job.payload,
        progress: job.progress,
        runAt: now,
        createdBy: job.createdBy,
        createdAt: now,
        updatedAt: now,
      })
      .returning()
    return { job: toJob(row!) as Job<P, G>, created: true }
  } catch (error) {
    if (!isPgError(error, 'uniqueViolation')) throw error
    const open = await openJob<P, G>(db, job.kind, job.key)
    if (!open) throw error
    return { job: open, created: false }
  }
}

export async function openJob<P, G>(db: Database, kind: JobKind, key: string): Promise<Job<P, G> | null> {
  const [row] = await db
    .select()
    .from(jobs)
    .where(and(eq(jobs.kind, kind), eq(jobs.key, key), sql`${jobs.state} in ('queued', 'running')`))
  return row ? (toJob(row) as Job<P, G>) : null
}

export async function findJob<P, G>(db: Database, id: string): Promise<Job<P, G> | null> {
  const [row] = await db.select().from(jobs).where(eq(jobs.id, id))
  return row ? (toJob(row) as Job<P, G>) : null
}

/** The latest jobs of some kinds, for the page that shows them: those still open first, then the newest. */
export async function recentJobs(db: Database, kinds: readonly JobKind[], limit = 5): Promise<Job[]> {
  const rows = await db
    .select()
    .from(jobs)
    .where(sql`${jobs.kind} in ${kinds}`)
    .orderBy(desc(sql`${jobs.state} in ('queued', 'running')`), desc(jobs.createdAt), desc(jobs.id))
    .limit(limit)
  return rows.map(toJob)
}

/** Takes the next due step, if any, under a fresh lease; kinds in `skip` are left for the next run. */
async function claim(db: Database, now: Date, lease: string, skip: JobKind[]): Promise<Job | null> {
  const at = sql`${now.toISOString()}::timestamptz`
  const until = sql`${new Date(now.getTime() + LEASE_MS).toISOString()}::timestamptz`
  const skipped = skip.length > 0 ? sql`and kind not in ${skip}` : sql``
  const [row] = await rowsOf<{ id: string }>(
    db,
    sql`update jobs set state = 'running', lease = ${lease}, locked_until = ${until}, updated_at = ${at}
        where id = (select id from jobs
          where state in ('queued', 'running') and run_at <= ${at} and (locked_until is null or locked_until < ${at})
            ${skipped}
          order by run_at, created_at, id limit 1 for update skip locked)
        returning id`,
  )
  return row ? findJob(db, row.id) : null
}

/** Writes a step's outcome, if the lease is still this runner's (a step that overran it lost the job). */
async function settle(db: Database, job: Job, lease: string, set: Partial<typeof jobs.$inferInsert>): Promise<boolean> {
  const done = await db
    .update(jobs)
    .set({ ...set, lease: null, lockedUntil: null })
    .where(and(eq(jobs.id, job.id), eq(jobs.lease, lease)))
    .returning({ id: jobs.id })
  return done.length === 1
}

/** A failure the admin must act on: the job stops, with the message. Others are tried again. */
function isFinal(error: unknown): error is AppError {
  return error instanceof AppError && error.status >= 400 && error.status < 500 && error.code !== 'conflict'
}

/** Backs off 30 s, 2 min, 4.5 min, 8 min between failed steps. */
const backoffMs = (attempts: number) => 30_000 * attempts * attempts

export interface RunReport {
  steps: number
  finished: number
  failed: number
  /** When the next step is due (null: no job is open), for a runner that sleeps until then. */
  nextAt: Date | null
}

/**
 * Runs due steps, one after another, until none is due, or `budgetMs` of real time has gone (a
 * Worker's invocation is bounded; the Node loop comes back soon anyway). Steps are claimed one at
 * a time, so two runners at once share the work without taking the same step.
 */
export async function runDueJobs(
  services: Services,
  handlers: JobHandlers,
  options: { budgetMs: number },
): Promise<RunReport> {
  const { db, clock } = services
  const started = Date.now()
  const report: RunReport = { steps: 0, finished: 0, failed: 0, nextAt: null }
  const taken = new Map<JobKind, number>()
  // A kind this runner has no handler for is left alone (a Worker deployed before its handler was).
  const unknown = JOB_KINDS.filter((kind) => !handlers[kind])
  while (Date.now() - started < options.budgetMs) {
    const skip = [
      ...unknown,
      ...[...taken].filter(([kind, n]) => n >= (handlers[kind]?.stepsPerRun ?? Infinity)).map(([kind]) => kind),
    ]
    const lease = randomId()
    const job = await claim(db, clock.now(), lease, skip)
    if (!job) break
    taken.set(job.kind, (taken.get(job.kind) ?? 0) + 1)
    report.steps += 1
    const handler = handlers[job.kind]! as JobHandler<unknown, unknown>
    try {
      const result = await handler.step(services, job)
      const now = clock.now()
      await settle(db, job, lease, {
        state: result.done ? 'done' : 'queued',
        progress: result.progress,
        attempts: 0,
        lastError: null,
        runAt: new Date(now.getTime() + (result.waitMs ?? 0)),
        updatedAt: now,
        finishedAt: result.done ? now : null,
      })
      if (result.done) {
        report.finished += 1
        log('info', 'job_finished', { job: job.id, kind: job.kind })
      }
    } catch (error) {
      const now = clock.now()
      const attempts = job.attempts + 1
      const final = isFinal(error) || attempts >= MAX_ATTEMPTS
      const message =
        error instanceof AppError
          ? error.message
          : 'The step failed on our side; it is tried again a few times. The server log has the details.'
      log(final ? 'error' : 'warn', 'job_step_failed', {
        job: job.id,
        kind: job.kind,
        attempts,
        ...describeError(error),
      })
      await settle(db, job, lease, {
        state: final ? 'failed' : 'queued',
        attempts,
        lastError: message,
        runAt: new Date(now.getTime() + backoffMs(attempts)),
        updatedAt: now,
        finishedAt: final ? now : null,
      })
      if (final) report.failed += 1
    }
  }
  const [next] = await rowsOf<{ at: Date | string | null }>(
    db,
    sql`select min(greatest(run_at, coalesce(locked_until, run_at))) as at from jobs
        where state in ('queued', 'running')`,
  )
  report.nextAt = next?.at ? new Date(next.at) : null
  return report
}
