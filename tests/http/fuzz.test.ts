import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { syncAllToStripe } from '../../src/billing/tiers/stripe-sync'
import { startStripeStandIn } from '../../src/dev/stripe-stand-in'
import type { TestApp } from '../helpers/app'
import { fingerprint, fuzzRequest, fuzzSeed, requestFor, ROUTES } from '../helpers/fuzz'
import { roleWorld, type Who } from '../helpers/routes'

/**
 * No bad input reaches a 500: generated path parameters, query strings, bodies (JSON, forms,
 * broken multipart), cookies and content types, sent to every route the app serves (the role
 * test's list) as each role. Any 5xx fails, and so does a refused request (4xx) that changed the
 * database. Fixed seed and budget, so `npm test` (and .ci/run) runs the same requests every time;
 * FUZZ_RUNS and FUZZ_SEED run more or others. The generators are in tests/helpers/fuzz.ts, shared
 * with the same suite inside workerd (tests/worker/fuzz.test.ts).
 */

const RUNS = Number(process.env.FUZZ_RUNS ?? 400)

let t: TestApp
let cookies: Record<Who, string | undefined>
let standIn: Awaited<ReturnType<typeof startStripeStandIn>>

// Payments configured (the local Stripe stand-in): without them checkout answers 503 and the
// webhook 500 by design, which would hide what bad input does to them.
beforeAll(async () => {
  standIn = await startStripeStandIn({ now: () => new Date('2026-11-25T12:00:00Z'), deliver: null })
  ;({ t, cookies } = await roleWorld({
    ...standIn.env,
  }))
  await syncAllToStripe(t.services)
}, 60_000)
afterAll(async () => {
  await standIn?.close()
  await t?.close()
})

describe('no bad input reaches a 500', () => {
  it('answers every generated request below 500, and a refused one changes nothing', async () => {
    expect(ROUTES.length).toBeGreaterThan(50)
    await fc.assert(
      fc.asyncProperty(fuzzRequest, async (generated) => {
        const { url, init, label } = requestFor(generated, cookies)
        const before = await fingerprint(t.services.db)
        const res = await t.app.request(url, init)
        expect(res.status, label).toBeLessThan(500)
        await res.arrayBuffer()
        if (res.status >= 400) expect(await fingerprint(t.services.db), `${label} answered ${res.status}`).toBe(before)
      }),
      { numRuns: RUNS, seed: fuzzSeed(), endOnFailure: true },
    )
  }, 300_000)
})
