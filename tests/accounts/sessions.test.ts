import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sessionIdOf } from '../../src/accounts/sessions'
import { sessions } from '../../src/db/schema'
import { createTestApp, fixedClock, type TestApp } from '../helpers/app'
import { sessionCookie, signIn } from '../helpers/auth'
import { startStubOrigin } from '../helpers/origin'
import { makeReader } from '../helpers/readers'

const DAY = 86_400_000
const clock = fixedClock('2026-11-25T12:00:00Z')
let origin: Awaited<ReturnType<typeof startStubOrigin>>
/** Masthead on its own, and Masthead as a gateway in front of the stub origin (which validates sessions itself). */
let t: TestApp
let gw: TestApp

beforeAll(async () => {
  origin = await startStubOrigin()
  t = await createTestApp({ clock })
  gw = await createTestApp({ clock, env: { ORIGIN_URL: origin.url } })
})
afterAll(async () => {
  await t.close()
  await gw.close()
  await origin.close()
})

const tokenOf = (cookie: string) => cookie.slice('masthead_session='.length)
const account = (cookie: string) => t.app.request('/api/account', { headers: { Cookie: cookie } })
const page = (cookie: string) => gw.app.request('/markers', { headers: { Cookie: cookie } })
const clearsSession = (res: Response) => res.headers.getSetCookie().some((c) => c.startsWith('masthead_session=;'))

/** Moves a session into the second half of its life, where the next use renews it. */
async function ageSession(app: TestApp, cookie: string): Promise<string> {
  const id = sessionIdOf(tokenOf(cookie))
  // Lucia judges expiry by the system clock, not the services' fixed one.
  const soon = new Date(Date.now() + 5 * DAY)
  const aged = await app.database.db
    .update(sessions)
    .set({ expiresAt: soon })
    .where(eq(sessions.id, id))
    .returning({ id: sessions.id })
  expect(aged).toHaveLength(1)
  return id
}

describe('a copy of the sessions table', () => {
  it('signs no one in: every stored id is refused as a cookie, while every real cookie works', async () => {
    const cookies = [
      await signIn(t.app, 'first@example.org'),
      await signIn(t.app, 'first@example.org'),
      await makeReader(t.services.db, t.services.config, clock.now(), 'admin@example.org', {}, 'admin'),
    ]
    const ids = (await t.database.db.select({ id: sessions.id }).from(sessions)).map((row) => row.id)
    expect(ids).toHaveLength(cookies.length)
    for (const cookie of cookies) {
      expect(ids).toContain(sessionIdOf(tokenOf(cookie)))
      expect(ids).not.toContain(tokenOf(cookie))
    }

    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{64}$/)
      const res = await account(`masthead_session=${id}`)
      expect(res.status).toBe(401)
      expect(clearsSession(res)).toBe(true)
    }
    for (const cookie of cookies) expect((await account(cookie)).status).toBe(200)
  })

  it('signs no one in through the gateway either', async () => {
    const cookie = await makeReader(gw.services.db, gw.services.config, clock.now(), 'gw@example.org')
    const [row] = await gw.database.db.select({ id: sessions.id }).from(sessions)
    const stolen = await page(`masthead_session=${row!.id}`)
    expect(await stolen.text()).not.toContain('MEMBERS-SECRET')
    expect(clearsSession(stolen)).toBe(true)
    expect(await (await page(cookie)).text()).toContain('MEMBERS-SECRET')
  })
})

describe('renewal', () => {
  it('extends a session used in its second half and re-sends the token, never the hash', async () => {
    const cookie = await signIn(t.app, 'regular@example.org')
    const id = await ageSession(t, cookie)
    const res = await account(cookie)
    expect(res.status).toBe(200)
    const renewed = res.headers.getSetCookie().find((c) => c.startsWith('masthead_session='))
    expect(renewed).toMatch(/Max-Age=2592000/)
    expect(sessionCookie(res)).toBe(cookie)
    expect(renewed).not.toContain(id)
    const [row] = await t.database.db.select().from(sessions).where(eq(sessions.id, id))
    expect(row!.expiresAt.getTime()).toBeGreaterThan(Date.now() + 29 * DAY)
    expect((await account(sessionCookie(res)!)).status).toBe(200)
  })

  it('through the gateway, re-sends the token too', async () => {
    const cookie = await makeReader(gw.services.db, gw.services.config, clock.now(), 'renewed@example.org')
    const id = await ageSession(gw, cookie)
    const res = await page(cookie)
    expect(await res.text()).toContain('MEMBERS-SECRET')
    expect(sessionCookie(res)).toBe(cookie)
    expect(res.headers.getSetCookie().join('\n')).not.toContain(id)
  })
})
