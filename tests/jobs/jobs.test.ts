import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { jobs } from '../../src/db/schema'
import { AppError } from '../../src/http/errors'
import {
  enqueueJob,
  findJob,
  LEASE_MS,
  MAX_ATTEMPTS,
  runDueJobs,
  type JobHandler,
  type JobHandlers,
} from '../../src/jobs/jobs'
import { createTestApp, fixedClock, type TestApp } from '../helpers/app'

/**
 * The job runner (src/jobs/jobs.ts) with handlers of the test's own: what it claims, when, how it
 * records progress and failures, and that two runners never take the same step.
 */

const clock = fixedClock()
let t: TestApp
beforeAll(async () => {
  t = await createTestApp({ clock })
})
afterAll(() => t.close())
beforeEach(async () => {
  await t.services.db.delete(jobs)
})

interface Count {
  n: number
}

/** A handler that counts to `steps`, one per step, recording each step it was given. */
function counter(steps: number, seen: string[] = [], extra: Partial<JobHandler<unknown, Count>> = {}) {
  const handler: JobHandler<unknown, Count> = {
    async step(_services, job) {
      seen.push(`${job.id}:${job.progress.n}`)
      await new Promise((resolve) => setTimeout(resolve, 2)) // let another runner interleave
      const n = job.progress.n + 1
      return { progress: { n }, done: n >= steps }
    },
    ...extra,
  }
  return { patreon_import: handler as JobHandler<never, never> } satisfies JobHandlers
}

const enqueue = (key: string) =>
  enqueueJob<unknown, Count>(t.services.db, clock.now(), {
    kind: 'patreon_import',
    key,
    payload: {},
    progress: { n: 0 },
    createdBy: null,
  })

describe('enqueueing', () => {
  it('keeps one open job per kind and key: asking again gives the same job', async () => {
    const first = await enqueue('a')
    const again = await enqueue('a')
    const other = await enqueue('b')
    expect(first.created).toBe(true)
    expect(again).toMatchObject({ created: false, job: { id: first.job.id, state: 'queued' } })
    expect(other.created).toBe(true)
    expect(other.job.id).not.toBe(first.job.id)
  })

  it('takes a new job for the same key once the last one has finished', async () => {
    const first = await enqueue('a')
    await runDueJobs(t.services, counter(1), { budgetMs: 10_000 })
    expect((await findJob(t.services.db, first.job.id))?.state).toBe('done')
    const next = await enqueue('a')
    expect(next.created).toBe(true)
    expect(next.job.id).not.toBe(first.job.id)
  })
})

describe('running', () => {
  it('runs a job step by step to the end, keeping its progress, and reports what it did', async () => {
    const { job } = await enqueue('a')
    const report = await runDueJobs(t.services, counter(3), { budgetMs: 10_000 })
    expect(report).toEqual({ steps: 3, finished: 1, failed: 0, nextAt: null })
    expect(await findJob(t.services.db, job.id)).toMatchObject({
      state: 'done',
      progress: { n: 3 },
      attempts: 0,
      lastError: null,
      finishedAt: clock.now(),
    })
    expect(await runDueJobs(t.services, counter(3), { budgetMs: 10_000 })).toEqual({
      steps: 0,
      finished: 0,
      failed: 0,
      nextAt: null,
    })
  })

  it('waits as long as a step asks before the next one', async () => {
    const { job } = await enqueue('a')
    const waiting: JobHandlers = {
      patreon_import: {
        async step(_s, j: { progress: Count }) {
          const n = j.progress.n + 1
          return { progress: { n }, done: n >= 2, waitMs: 60_000 }
        },
      } as JobHandler<never, never>,
    }
    const first = await runDueJobs(t.services, waiting, { budgetMs: 10_000 })
    expect(first.steps).toBe(1)
    // The runner is told when to come back: the Node server's loop sleeps until then.
    expect(first.nextAt).toEqual(new Date(clock.now().getTime() + 60_000))
    expect(await findJob(t.services.db, job.id)).toMatchObject({ state: 'queued', progress: { n: 1 } })
    clock.advance(59_000)
    expect((await runDueJobs(t.services, waiting, { budgetMs: 10_000 })).steps).toBe(0)
    clock.advance(1_000)
    expect((await runDueJobs(t.services, waiting, { budgetMs: 10_000 })).steps).toBe(1)
    expect((await findJob(t.services.db, job.id))?.state).toBe('done')
  })

  it('takes at most stepsPerRun steps of a kind in one run, and the rest in the next', async () => {
    await enqueue('a')
    await enqueue('b')
    const handlers = counter(1, [], { stepsPerRun: 1 })
    expect((await runDueJobs(t.services, handlers, { budgetMs: 10_000 })).steps).toBe(1)
    expect((await runDueJobs(t.services, handlers, { budgetMs: 10_000 })).steps).toBe(1)
    expect((await runDueJobs(t.services, handlers, { budgetMs: 10_000 })).steps).toBe(0)
  })

  it('leaves alone a kind it has no handler for', async () => {
    const { job } = await enqueue('a')
    expect(await runDueJobs(t.services, {}, { budgetMs: 10_000 })).toMatchObject({ steps: 0, finished: 0, failed: 0 })
    expect((await findJob(t.services.db, job.id))?.state).toBe('queued')
  })
})

describe('failures', () => {
  it('tries a failed step again later, backing off, and gives up after a few, with a message that tells nothing of the error', async () => {
    const { job } = await enqueue('a')
    const failing: JobHandlers = {
      patreon_import: {
        step: () => Promise.reject(new Error('connection reset by ana@example.org')),
      } as JobHandler<never, never>,
    }
    expect(await runDueJobs(t.services, failing, { budgetMs: 10_000 })).toMatchObject({
      steps: 1,
      finished: 0,
      failed: 0,
    })
    const once = await findJob(t.services.db, job.id)
    expect(once).toMatchObject({ state: 'queued', attempts: 1 })
    expect(once!.lastError).toMatch(/^The step failed on our side/)
    expect(once!.lastError).not.toContain('ana@example.org')
    expect(once!.runAt.getTime() - clock.now().getTime()).toBe(30_000)
    for (let attempt = 2; attempt <= MAX_ATTEMPTS; attempt++) {
      clock.advance(30_000 * attempt * attempt)
      expect((await runDueJobs(t.services, failing, { budgetMs: 10_000 })).steps).toBe(1)
    }
    expect(await findJob(t.services.db, job.id)).toMatchObject({ state: 'failed', attempts: MAX_ATTEMPTS })
  })

  it('stops at once, with its message, on an error that says the input is wrong', async () => {
    const { job } = await enqueue('a')
    const refusing: JobHandlers = {
      patreon_import: {
        step: () => Promise.reject(new AppError('validation_failed', 'Line 7 can no longer be imported.')),
      } as JobHandler<never, never>,
    }
    expect(await runDueJobs(t.services, refusing, { budgetMs: 10_000 })).toEqual({
      steps: 1,
      finished: 0,
      failed: 1,
      nextAt: null,
    })
    expect(await findJob(t.services.db, job.id)).toMatchObject({
      state: 'failed',
      lastError: 'Line 7 can no longer be imported.',
      finishedAt: clock.now(),
    })
  })

  it('tries a conflict again rather than failing', async () => {
    const { job } = await enqueue('a')
    const conflicting: JobHandlers = {
      patreon_import: {
        step: () => Promise.reject(new AppError('conflict', 'Accounts changed meanwhile.')),
      } as JobHandler<never, never>,
    }
    await runDueJobs(t.services, conflicting, { budgetMs: 10_000 })
    expect(await findJob(t.services.db, job.id)).toMatchObject({ state: 'queued', attempts: 1 })
  })
})

describe('leases', () => {
  it('two runners at once share the jobs and never take the same step', async () => {
    const ids = await Promise.all(['a', 'b', 'c'].map(async (key) => (await enqueue(key)).job.id))
    const seen: string[] = []
    const handlers = counter(5, seen)
    const reports = await Promise.all([
      runDueJobs(t.services, handlers, { budgetMs: 10_000 }),
      runDueJobs(t.services, handlers, { budgetMs: 10_000 }),
    ])
    expect(reports[0]!.steps + reports[1]!.steps).toBe(15)
    expect(new Set(seen).size).toBe(15)
    for (const id of ids) expect(await findJob(t.services.db, id)).toMatchObject({ state: 'done', progress: { n: 5 } })
  })

  it('a step whose lease was taken over writes nothing; the job is taken again once a lease runs out', async () => {
    const { job } = await enqueue('a')
    const overrun: JobHandlers = {
      patreon_import: {
        async step(services, j: { id: string }) {
          // Another runner took the job meanwhile (this step overran its lease).
          await services.db.update(jobs).set({ lease: 'another runner' }).where(eq(jobs.id, j.id))
          return { progress: { n: 99 }, done: true }
        },
      } as JobHandler<never, never>,
    }
    await runDueJobs(t.services, overrun, { budgetMs: 10_000 })
    expect(await findJob(t.services.db, job.id)).toMatchObject({ state: 'running', progress: { n: 0 } })
    // Until the other runner's lease runs out, nobody takes it; then it is taken again.
    expect((await runDueJobs(t.services, counter(1), { budgetMs: 10_000 })).steps).toBe(0)
    clock.advance(LEASE_MS + 1)
    expect((await runDueJobs(t.services, counter(1), { budgetMs: 10_000 })).steps).toBe(1)
    expect(await findJob(t.services.db, job.id)).toMatchObject({ state: 'done', progress: { n: 1 } })
  })
})
