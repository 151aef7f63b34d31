import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sessionIdOf } from '../../src/accounts/sessions'
import { grants, sessions } from '../../src/db/schema'
import { seedDemoTiers } from '../../src/dev/demo-tiers'
import { createTestApp, fixedClock, type TestApp } from '../helpers/app'
import { makeReader, type Membership } from '../helpers/readers'

/**
 * The readers' routes outside gateway mode (GET /api/entitlements, the front page and articles)
 * decide from the page-view cookie while it is fresh and bound to the session sent with it, and
 * from one session lookup otherwise (src/accounts/reader.ts).
 */
const clock = fixedClock('2026-11-25T12:00:00Z')
let t: TestApp

beforeAll(async () => {
  t = await createTestApp({ clock })
  await seedDemoTiers(t.services.db, clock.now())
})
afterAll(() => t.close())

const reader = (email: string, membership: Membership = {}) =>
  makeReader(t.services.db, t.services.config, clock.now(), email, membership)

/** The account a session cookie opens. */
async function accountOf(cookie: string): Promise<string> {
  const id = sessionIdOf(cookie.slice('masthead_session='.length))
  const [row] = await t.services.db.select({ userId: sessions.userId }).from(sessions).where(eq(sessions.id, id))
  return row!.userId
}

const get = (path: string, cookie?: string) => t.app.request(path, cookie ? { headers: { Cookie: cookie } } : {})

const viewCookieOf = (res: Response) =>
  res.headers.getSetCookie().find((c) => c.startsWith('masthead_view=') && !c.startsWith('masthead_view=;'))

async function entitlements(cookie?: string) {
  const res = await get('/api/entitlements', cookie)
  expect(res.status).toBe(200)
  return {
    res,
    body: (await res.json()) as {
      signedIn: boolean
      benefits: string[]
      membership: { status: string; tierId: string | null; until: string | null }
    },
  }
}

describe('GET /api/entitlements and the page-view cookie', () => {
  it('reads the session once, issues the cookie, then answers from it with the session gone from the database', async () => {
    const session = await reader('api@reader.example', { comp: 'patron' })
    const first = await entitlements(session)
    expect(first.body.signedIn).toBe(true)
    expect(first.body.benefits).toContain('adFree')
    const issued = viewCookieOf(first.res)
    expect(issued).toMatch(/HttpOnly/)
    expect(issued).toMatch(/Max-Age=300/)
    const both = `${session}; ${issued!.split(';')[0]}`

    // No lookup can succeed now: an answer with the benefits comes from the cookie alone.
    await t.services.db.delete(sessions).where(eq(sessions.userId, await accountOf(session)))
    const second = await entitlements(both)
    expect(second.body).toEqual(first.body)
    expect(second.res.headers.getSetCookie()).toEqual([])

    // Five minutes later the cookie is stale: the session is read again, and it is gone.
    clock.advance(5 * 60_000 + 1000)
    const third = await entitlements(both)
    expect(third.body.signedIn).toBe(false)
    expect(third.body.benefits).toEqual([])
    expect(third.res.headers.getSetCookie().some((c) => c.startsWith('masthead_session=;'))).toBe(true)
  })

  it('refuses a cookie whose claims were changed under the signature of one already verified', async () => {
    const session = await reader('tampered@reader.example')
    const issued = viewCookieOf((await entitlements(session)).res)!.split(';')[0]!
    const [header, payload, signature] = issued.slice('masthead_view='.length).split('.')
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as { benefits: string[] }
    expect(claims.benefits).not.toContain('adFree')
    // The real cookie is verified (and remembered by its signature) first.
    expect((await entitlements(`${session}; ${issued}`)).res.headers.getSetCookie()).toEqual([])
    const forged = Buffer.from(JSON.stringify({ ...claims, benefits: ['adFree'] })).toString('base64url')
    await t.services.db.delete(sessions).where(eq(sessions.userId, await accountOf(session)))
    const answer = await entitlements(`${session}; masthead_view=${header}.${forged}.${signature}`)
    // Not taken for the verified one: the session is read, and it is gone.
    expect(answer.body.signedIn).toBe(false)
    expect(answer.body.benefits).toEqual([])
  })

  it('reads its cookies however the header lays them out, as getCookie does', async () => {
    const session = await reader('layout@reader.example', { comp: 'patron' })
    const token = session.slice('masthead_session='.length)
    const view = viewCookieOf((await entitlements(session)).res)!.split(';')[0]!
    await t.services.db.delete(sessions).where(eq(sessions.userId, await accountOf(session)))
    // With the session gone, only the page-view cookie, bound to this token, can vouch for the reader.
    for (const cookie of [
      `theme=dark;masthead_session=${token};${view}`,
      `  ${view} ;  masthead_session=${token}  ; other=x=y`,
      `masthead_session=stale-token; ${view}; masthead_session=${token}`, // the last of a name wins
      `masthead_session="${token}"; ${view}`, // quoted: read by getCookie
    ]) {
      const answer = await entitlements(cookie)
      expect(answer.body.benefits, cookie).toContain('adFree')
      expect(answer.res.headers.getSetCookie(), cookie).toEqual([])
    }
  })

  it('is bound to its session: beside another session cookie it vouches for nothing, and that session is read', async () => {
    const patron = await reader('bound-patron@reader.example', { comp: 'patron' })
    const plain = await reader('bound-plain@reader.example')
    const patronView = viewCookieOf((await entitlements(patron)).res)!.split(';')[0]
    const mixed = await entitlements(`${plain}; ${patronView}`)
    expect(mixed.body.signedIn).toBe(true)
    expect(mixed.body.benefits).toEqual([]) // the plain reader's own, read from the session
    expect(viewCookieOf(mixed.res)).toBeDefined() // and a cookie of its own issued
    // Carried alone, with no session cookie, it opens nothing and is cleared.
    const alone = await entitlements(patronView)
    expect(alone.body.signedIn).toBe(false)
    expect(alone.res.headers.getSetCookie().some((c) => c.startsWith('masthead_view=;'))).toBe(true)
  })

  it('never outlives the moment its facts change by time alone (a comp ending in two minutes)', async () => {
    const session = await reader('ending@reader.example', { comp: 'patron' })
    await t.services.db
      .update(grants)
      .set({ endsAt: new Date(clock.now().getTime() + 120_000) })
      .where(eq(grants.userId, await accountOf(session)))
    const first = await entitlements(session)
    expect(first.body.benefits).toContain('adFree')
    const issued = viewCookieOf(first.res)!
    expect(Number(/Max-Age=(\d+)/.exec(issued)![1])).toBeLessThanOrEqual(120)
    clock.advance(121_000)
    const after = await entitlements(`${session}; ${issued.split(';')[0]}`)
    expect(after.body.benefits).not.toContain('adFree') // read again: the comp has ended
  })

  it('answers an anonymous reader with the empty set and sets no cookie', async () => {
    const { res, body } = await entitlements()
    expect(body).toMatchObject({ signedIn: false, benefits: [], ads: true })
    expect(res.headers.getSetCookie()).toEqual([])
  })
})

describe("Masthead's own reader pages", () => {
  it('decide from the cookie too: the front page stays ad-free and signed in with the session gone', async () => {
    expect(await (await get('/')).text()).toContain('class="ad-slot"') // what an anonymous reader sees
    const session = await reader('pages@reader.example', { comp: 'patron' })
    const home = await get('/', session)
    expect(home.status).toBe(200)
    expect(home.headers.get('cache-control')).toBe('private, no-cache')
    const both = `${session}; ${viewCookieOf(home)!.split(';')[0]}`
    await t.services.db.delete(sessions)
    const again = await get('/', both)
    expect(again.status).toBe(200)
    const html = await again.text()
    expect(html).toContain('Your account') // the header knows the reader is signed in
    expect(html).not.toContain('class="ad-slot"') // and Patron is ad-free
  })
})
