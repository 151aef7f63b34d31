/**
 * No bad input reaches a 500 inside workerd either: the fuzz suite of tests/http/fuzz.test.ts
 * (its generators and seed, tests/helpers/fuzz.ts) sent over HTTP to the real Worker, on a
 * fresh database through Hyperdrive, as each role. Any 5xx fails, and so does a refused request
 * (4xx) that changed the database. The same seed as on Node, so the Worker gets the first 150 of
 * the Node run's 400 requests (each crosses wrangler's proxy into workerd: 150 take about 2 s
 * alone, 400 about 6); FUZZ_WORKER_RUNS runs more, FUZZ_SEED others.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { syncAllToStripe } from '../../src/billing/tiers/stripe-sync'
import type { DatabaseHandle } from '../../src/db/client'
import { startStripeStandIn, type StripeStandIn } from '../../src/dev/stripe-stand-in'
import { createServices } from '../../src/services'
import { fingerprint, fuzzRequest, fuzzSeed, requestFor } from '../helpers/fuzz'
import type { Who } from '../helpers/routes'
import { startTestWorker, type TestWorker } from './harness'
import { ROLE_WORLD_VARS, structuredLogs, workerRoleWorld } from './session'

const RUNS = Number(process.env.FUZZ_WORKER_RUNS ?? 150)

let standIn: StripeStandIn
let worker: TestWorker
let database: DatabaseHandle
let cookies: Record<Who, string | undefined>

// Payments configured (the local Stripe stand-in, its events only recorded), as on Node: without
// them checkout answers 503 and the webhook 500 by design, which would hide what bad input does.
beforeAll(async () => {
  standIn = await startStripeStandIn({ deliver: null })
  const stripeVars = standIn.env
  worker = await startTestWorker({ ...ROLE_WORLD_VARS, ...stripeVars })
  const world = await workerRoleWorld(worker, stripeVars)
  ;({ cookies, database } = world)
  await syncAllToStripe(createServices({ config: world.config, db: database.db }))
}, 120_000)
afterAll(async () => {
  await database?.close()
  await worker?.stop()
  await standIn?.close()
})

describe('no bad input reaches a 500 inside workerd', () => {
  it('answers every generated request below 500, and a refused one changes nothing', async () => {
    let sent = 0
    await fc.assert(
      fc.asyncProperty(fuzzRequest, async (generated) => {
        const { url, init, label } = requestFor(generated, cookies)
        const before = await fingerprint(database.db)
        const res = await worker.fetch(url, { ...init, redirect: 'manual' })
        sent += 1
        expect(res.status, label).toBeLessThan(500)
        await res.arrayBuffer()
        if (res.status >= 400) expect(await fingerprint(database.db), `${label} answered ${res.status}`).toBe(before)
      }),
      { numRuns: RUNS, seed: fuzzSeed(), endOnFailure: true },
    )
    expect(sent).toBe(RUNS)
    // Nothing was answered below 500 while failing inside: no error logged at all.
    expect(structuredLogs(worker).filter((line) => line.level === 'error')).toEqual([])
  }, 300_000)
})
