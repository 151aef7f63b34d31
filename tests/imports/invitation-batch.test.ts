import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { jobs } from '../../src/db/schema'
import { ConfigError, loadConfig } from '../../src/config'
import { seedDemoTiers } from '../../src/dev/demo-tiers'
import { createTestApp, fixedClock, runDueJobs, type TestApp } from '../helpers/app'
import { signIn } from '../helpers/auth'
import { importFixture } from '../helpers/imports'

/**
 * INVITATIONS_PER_BATCH: each invitation is one call to the mail provider, and Workers allow 50
 * subrequests per invocation on the free plan, so wrangler.toml sends 40 a request there.
 */
let t: TestApp
let admin: string
const clock = fixedClock()

beforeAll(async () => {
  t = await createTestApp({ clock, env: { ADMIN_EMAILS: 'admin@batch.example', INVITATIONS_PER_BATCH: '2' } })
  admin = await signIn(t.app, 'admin@batch.example')
  await seedDemoTiers(t.services.db, new Date())
  await importFixture(t, admin)
})
afterAll(() => t.close())

describe('invitations per step', () => {
  it('sends at most INVITATIONS_PER_BATCH a step, a step a minute, until none is left', async () => {
    const res = await t.app.request('/api/admin/imports/patreon-invitations', {
      method: 'POST',
      headers: { Cookie: admin, 'Content-Type': 'application/json' },
      body: '{}',
    })
    expect(res.status).toBe(202)
    const { job } = (await res.json()) as { job: { id: string } }
    const progress = async () => {
      const found = await t.app.request(`/api/admin/imports/jobs/${job.id}`, { headers: { Cookie: admin } })
      return ((await found.json()) as { job: { state: string; progress: Record<string, number> } }).job
    }
    expect((await runDueJobs(t)).steps).toBe(1)
    expect(await progress()).toMatchObject({ state: 'queued', progress: { sent: 2, failed: 0, remaining: 1 } })
    // The next batch waits a minute.
    expect((await runDueJobs(t)).steps).toBe(0)
    clock.advance(60_000)
    expect((await runDueJobs(t)).steps).toBe(1)
    // All invited: the job waits for the reminders, PATREON_REMINDER_DAYS (14) after each invitation.
    expect(await progress()).toMatchObject({ state: 'queued', progress: { sent: 3, failed: 0, remaining: 0 } })
    expect((await runDueJobs(t)).steps).toBe(0)
  })

  it('reminds those who have not moved, once, 14 days on, a batch at a time, then ends', async () => {
    const mailsTo = async (email: string) =>
      (
        (await (await t.app.request(`/dev/mailbox.json?to=${encodeURIComponent(email)}`)).json()) as {
          messages: { subject: string }[]
        }
      ).messages.map((m) => m.subject)
    expect(await mailsTo('ada@example.com')).toEqual(['Continue your Masthead membership'])
    clock.advance(14 * 86_400_000)
    const first = await runDueJobs(t)
    expect(first.steps).toBe(1)
    clock.advance(60_000)
    await runDueJobs(t)
    const [job] = await t.services.db.select().from(jobs).where(eq(jobs.kind, 'patreon_invitations'))
    expect(job).toMatchObject({ state: 'done', progress: { sent: 6, reminded: 3, remaining: 0 } })
    expect(await mailsTo('ada@example.com')).toEqual([
      'Reminder: continue your Masthead membership',
      'Continue your Masthead membership',
    ])
    // Once only: months later, nothing more.
    clock.advance(60 * 86_400_000)
    expect((await runDueJobs(t)).steps).toBe(0)
    expect(await mailsTo('ada@example.com')).toHaveLength(2)
  })

  it('is a whole number from 1 to 100', () => {
    for (const value of ['0', '101', 'lots', '2.5']) {
      expect(() => loadConfig({ APP_ENV: 'test', INVITATIONS_PER_BATCH: value }), value).toThrow(ConfigError)
    }
    expect(loadConfig({ APP_ENV: 'test' }).INVITATIONS_PER_BATCH).toBe(100)
  })
})
