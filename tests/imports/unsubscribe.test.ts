import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rowsOf } from '../../src/db/client'
import { seedDemoTiers } from '../../src/dev/demo-tiers'
import { invitationMessage } from '../../src/imports/invitations'
import { createTestApp, fixedClock, runDueJobs, type TestApp } from '../helpers/app'
import { lastMailTo, signIn } from '../helpers/auth'
import { importFixture } from '../helpers/imports'

/**
 * Invitations people can stop: each carries a one-click unsubscribe link (RFC 8058), which works
 * from a mail provider's own POST (no cookie, another origin), once, and only with a token we sent.
 */
let t: TestApp
let admin: string
const clock = fixedClock()

const unsubscribeLinkOf = async (email: string) => {
  const { message } = await lastMailTo(t.app, email)
  expect(message?.subject).toBe('Continue your Masthead membership')
  const link = /No more e-mails about this: (http\S+)/.exec(message!.text)?.[1]
  expect(link).toMatch(/^http:\/\/localhost:8787\/invitations\/unsubscribe\?token=[\w-]{16,}$/)
  return new URL(link!)
}
const unsubscribed = () =>
  rowsOf<{ n: number }>(
    t.services.db,
    sql`select count(*)::int as n from patreon_members where unsubscribed_at is not null`,
  )

beforeAll(async () => {
  // No reminder here (tests/imports/invitation-batch.test.ts has them): each invitations job ends once all are invited.
  t = await createTestApp({ clock, env: { ADMIN_EMAILS: 'admin@stop.example', PATREON_REMINDER_DAYS: '0' } })
  admin = await signIn(t.app, 'admin@stop.example')
  await seedDemoTiers(t.services.db, clock.now())
  await importFixture(t, admin)
  const invited = await t.app.request('/api/admin/imports/patreon-invitations', {
    method: 'POST',
    headers: { Cookie: admin, 'Content-Type': 'application/json' },
    body: '{}',
  })
  expect(invited.status).toBe(202)
  await runDueJobs(t)
})
afterAll(() => t.close())

describe('the unsubscribe link of an invitation', () => {
  it('is in the headers a mail provider reads, and in the text and the HTML', () => {
    const url = 'https://news.example.org/invitations/unsubscribe?token=abc'
    const message = invitationMessage(
      'ada@example.com',
      'The Ledger',
      'https://news.example.org/join',
      {
        id: 'reader',
        name: 'Reader',
      },
      url,
    )
    expect(message.headers).toEqual({
      'List-Unsubscribe': `<${url}>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    })
    expect(message.text).toContain(`No more e-mails about this: ${url}`)
    expect(message.html).toContain('href="https://news.example.org/invitations/unsubscribe?token=abc"')
  })

  it('shows a page with a button, then stops the e-mails with a one-click POST from elsewhere, once', async () => {
    const link = await unsubscribeLinkOf('ada@example.com')
    const shown = await t.app.request(link.pathname + link.search)
    expect(shown.status).toBe(200)
    expect(await shown.text()).toContain('Stop these e-mails')
    expect(await unsubscribed()).toEqual([{ n: 0 }])

    // As a mail provider sends it (RFC 8058): no cookie, no Origin of ours, the form body it defines.
    const oneClick = () =>
      t.app.request(link.pathname + link.search, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: 'https://mail.example.com' },
        body: 'List-Unsubscribe=One-Click',
      })
    const done = await oneClick()
    expect(done.status).toBe(200)
    expect(await done.text()).toContain('You will get no more e-mails about moving your membership from Patreon.')
    const [first] = await rowsOf<{ at: Date }>(
      t.services.db,
      sql`select unsubscribed_at as at from patreon_members where unsubscribed_at is not null`,
    )
    clock.advance(60_000)
    expect((await oneClick()).status).toBe(200)
    const [again] = await rowsOf<{ at: Date }>(
      t.services.db,
      sql`select unsubscribed_at as at from patreon_members where unsubscribed_at is not null`,
    )
    expect(new Date(again!.at)).toEqual(new Date(first!.at)) // asked again: nothing changes
  })

  it('answers a token we never sent 404, changing nothing', async () => {
    const before = await unsubscribed()
    for (const token of ['never-sent-0000000000', 'x', '']) {
      const res = await t.app.request(`/invitations/unsubscribe?token=${token}`, { method: 'POST' })
      expect(res.status, token).toBe(404)
    }
    expect(await unsubscribed()).toEqual(before)
  })

  it('keeps an unsubscribed patron out of every later invitation', async () => {
    // Invited again from scratch (a new move, say): everyone but the one who said no.
    await t.services.db.execute(sql`update patreon_members set invited_at = null`)
    clock.advance(120_000)
    const before = (await lastMailTo(t.app, 'ada@example.com')).count
    const res = await t.app.request('/api/admin/imports/patreon-invitations', {
      method: 'POST',
      headers: { Cookie: admin, 'Content-Type': 'application/json' },
      body: '{}',
    })
    expect(res.status).toBe(202)
    await runDueJobs(t)
    expect((await lastMailTo(t.app, 'ada@example.com')).count).toBe(before)
    const [others] = await rowsOf<{ n: number }>(
      t.services.db,
      sql`select count(*)::int as n from patreon_members where invited_at is not null`,
    )
    expect(others!.n).toBeGreaterThan(0)
  })
})
