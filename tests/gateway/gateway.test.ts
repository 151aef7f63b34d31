import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { appOptions, createApp } from '../../src/app'
import { sessions, type Role } from '../../src/db/schema'
import { seedDemoTiers } from '../../src/dev/demo-tiers'
import { createServices, type Services } from '../../src/services'
import { createTestApp, fixedClock, type TestApp } from '../helpers/app'
import { BINARY, closedPort, startStubOrigin } from '../helpers/origin'
import { makeReader, MALFORMED, MARKERS, READERS, type Membership } from '../helpers/readers'

const clock = fixedClock('2026-11-25T12:00:00Z')
let origin: Awaited<ReturnType<typeof startStubOrigin>>
let t: TestApp

beforeAll(async () => {
  origin = await startStubOrigin()
  t = await createTestApp({
    clock,
    env: {
      ORIGIN_URL: origin.url,
      AD_SELECTORS: 'ins.adsbygoogle',
      ORIGIN_BLOCKED_PATHS: '/feed*,/wp-json/*',
      ORIGIN_TIMEOUT_MS: '300',
      PUBLICATION_NAME: 'The Demo Ledger',
    },
  })
  await seedDemoTiers(t.services.db, clock.now())
})
afterAll(async () => {
  await t.close()
  await origin.close()
})

/** A reader with a session and a membership; returns the session cookie. */
const reader = (email: string, membership: Membership = {}, role: Role = 'reader') =>
  makeReader(t.services.db, t.services.config, clock.now(), email, membership, role)

const view = (path: string, cookie?: string) => t.app.request(path, { headers: cookie ? { Cookie: cookie } : {} })

describe('every marker for every kind of reader, through the gateway', () => {
  for (const { who, reader: r, sees } of READERS) {
    it(`${who} sees ${sees.length} of ${MARKERS.length} marked parts, and nothing of the rest`, async () => {
      const res = await view('/markers', r ? await reader(`${r.email}@gw.example`, r.membership, r.role) : undefined)
      expect(res.status).toBe(200)
      const html = await res.text()
      for (const marker of MARKERS) {
        if (sees.includes(marker)) expect(html, marker).toContain(marker)
        else expect(html, marker).not.toContain(marker)
      }
      expect(html).toContain('"isAccessibleForFree":false')
      expect(html).not.toContain('ORIGIN-LD') // the origin's own structured data could carry gated text
    })
  }
})

describe('nested markers and malformed HTML', () => {
  for (const { who, membership, sees, never } of MALFORMED) {
    it(`${who} gets what is theirs and nothing gated`, async () => {
      const cookie = membership ? await reader(`malformed-${who.length}@gw.example`, membership) : undefined
      const html = await (await view('/malformed', cookie)).text()
      for (const text of sees) expect(html, text).toContain(text)
      for (const text of never) expect(html, text).not.toContain(text)
    })
  }
})

describe('forwarding', () => {
  it('sends the method, path, query, body and headers on, without Masthead’s cookies, with X-Forwarded-*', async () => {
    const cookie = await reader('forward@gw.example')
    const res = await t.app.request('/echo/path?x=1&y=two', {
      method: 'PUT',
      headers: {
        Cookie: `theme=dark; ${cookie}; masthead_view=forged; consent=yes`,
        'Content-Type': 'text/plain',
        'X-Custom': 'kept',
        'Proxy-Authorization': 'hop-by-hop',
        'CF-Connecting-IP': '203.0.113.9',
      },
      body: 'the body',
    })
    expect(res.status).toBe(200)
    const seen = (await res.json()) as { method: string; path: string; headers: Record<string, string>; body: string }
    expect(seen).toMatchObject({ method: 'PUT', path: '/echo/path?x=1&y=two', body: 'the body' })
    expect(seen.headers.cookie).toBe('theme=dark; consent=yes')
    expect(seen.headers['x-custom']).toBe('kept')
    expect(seen.headers['proxy-authorization']).toBeUndefined()
    expect(seen.headers['x-forwarded-for']).toBe('203.0.113.9')
    expect(seen.headers['x-forwarded-host']).toBe('localhost')
    expect(seen.headers['x-forwarded-proto']).toBe('http')
  })

  it('sends no Cookie header at all when Masthead’s were the only cookies', async () => {
    const cookie = await reader('only-ours@gw.example')
    const seen = (await (await view('/echo/only', cookie)).json()) as { headers: Record<string, string> }
    expect(seen.headers.cookie).toBeUndefined()
  })

  it('passes binary bodies through byte for byte', async () => {
    const res = await view('/binary')
    expect(res.headers.get('content-type')).toBe('application/octet-stream')
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(BINARY)
  })

  it('passes redirects, cookies and form posts through', async () => {
    const moved = await view('/moved')
    expect(moved.status).toBe(302)
    expect(moved.headers.get('location')).toBe('/articles/council-budget')
    const cookies = await view('/cookies')
    expect(cookies.headers.getSetCookie()).toEqual(['origin_a=1; Path=/', 'origin_b=2; Path=/; HttpOnly'])
    const posted = await t.app.request('/subscribe', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'email=reader%40example.org',
    })
    expect(posted.status).toBe(201)
    expect(await posted.text()).toContain('thanks reader@example.org')
  })

  it('keeps the origin’s cookies beside its own when it issues the page view', async () => {
    const cookie = await reader('both-cookies@gw.example')
    const res = await view('/cookies', cookie)
    const set = res.headers.getSetCookie()
    expect(set).toContain('origin_a=1; Path=/')
    expect(set).toContain('origin_b=2; Path=/; HttpOnly')
    expect(set.some((c) => c.startsWith('masthead_view='))).toBe(true)
  })

  it('answers blocked paths and Masthead’s own space itself, without asking the origin', async () => {
    const before = origin.seen.length
    for (const path of ['/feed', '/feed.xml', '/wp-json/wp/v2/posts', '/members/nothing-here']) {
      const res = await view(path)
      expect(res.status, path).toBe(404)
    }
    expect(origin.seen.length).toBe(before)
    expect((await view('/members/healthz')).status).toBe(200)
  })

  it('serves the origin’s front page in place of Masthead’s, and Masthead’s own pages under /members', async () => {
    expect(await (await view('/')).text()).toContain('The Demo Ledger')
    const join = await view('/members/join')
    expect(join.status).toBe(200)
    expect(join.headers.get('content-security-policy')).toContain("default-src 'self'")
    expect((await view('/articles/council-budget')).headers.get('content-security-policy')).toBeNull()
  })
})

describe('caching', () => {
  it('keeps the origin’s cache headers for anonymous readers, varied by cookie', async () => {
    const res = await view('/markers')
    expect(res.headers.get('cache-control')).toBe('public, max-age=120')
    expect(res.headers.get('vary')).toContain('Cookie')
  })

  it('carries the request id, as Masthead’s own answers do', async () => {
    const res = await view('/markers')
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    const signedIn = await view('/markers', await reader('request-id@gw.example', { comp: 'reader' }))
    expect(signedIn.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    expect(signedIn.headers.get('x-request-id')).not.toBe(res.headers.get('x-request-id'))
  })

  it('makes a page rewritten for a signed-in reader private', async () => {
    const res = await view('/markers', await reader('private@gw.example', { comp: 'reader' }))
    expect(res.headers.get('cache-control')).toBe('private, no-cache')
    expect(res.headers.get('vary')).toContain('Cookie')
  })
})

describe('the page-view cookie', () => {
  it('decides page views without the database for five minutes, then asks the session again', async () => {
    const cookie = await reader('cookie@gw.example', { comp: 'reader' })
    const first = await view('/markers', cookie)
    const viewCookie = first.headers.getSetCookie().find((c) => c.startsWith('masthead_view='))!
    expect(viewCookie).toMatch(/Max-Age=300/)
    expect(viewCookie).toMatch(/HttpOnly/)
    const both = `${cookie}; ${viewCookie.split(';')[0]}`

    // With the session gone from the database, the cookie alone still decides: no lookup happened.
    await t.services.db.delete(sessions)
    const second = await view('/markers', both)
    expect(await second.text()).toContain('SUPPORTERS-SECRET')
    expect(second.headers.getSetCookie()).toEqual([])

    clock.advance(5 * 60_000 + 1000)
    const third = await view('/markers', both)
    expect(await third.text()).not.toContain('SUPPORTERS-SECRET')
    const cleared = third.headers.getSetCookie()
    expect(cleared.some((c) => c.startsWith('masthead_session=;'))).toBe(true)
    expect(cleared.some((c) => c.startsWith('masthead_view=;'))).toBe(true)
  })

  it('is refused when forged, or carried without a session', async () => {
    const forged =
      'masthead_view=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJtYXN0aGVhZDpwYWdlLXZpZXciLCJiZW5lZml0cyI6WyJzdXBwb3J0ZXJzT25seUNvbnRlbnQiXX0.x'
    const withSession = `${await reader('forged@gw.example')}; ${forged}`
    expect(await (await view('/markers', withSession)).text()).not.toContain('SUPPORTERS-SECRET')
    const alone = await view('/markers', forged)
    expect(await alone.text()).not.toContain('SUPPORTERS-SECRET')
    expect(alone.headers.getSetCookie().some((c) => c.startsWith('masthead_view=;'))).toBe(true)
  })

  it('once checked, is still refused after a change of secret, and a cookie altered by one character is never taken for it', async () => {
    const cookie = await reader('rotated@gw.example', { comp: 'reader' })
    const first = await view('/markers', cookie)
    const viewCookie = first.headers
      .getSetCookie()
      .find((c) => c.startsWith('masthead_view='))!
      .split(';')[0]!
    await t.services.db.delete(sessions)
    // Checked once (and remembered) by the app that issued it.
    expect(await (await view('/markers', `${cookie}; ${viewCookie}`)).text()).toContain('SUPPORTERS-SECRET')

    const at = viewCookie.lastIndexOf('.') + 1 // the signature's first character carries six bits of it
    const altered = viewCookie.slice(0, at) + (viewCookie[at] === 'A' ? 'B' : 'A') + viewCookie.slice(at + 1)
    expect(await (await view('/markers', `${cookie}; ${altered}`)).text()).not.toContain('SUPPORTERS-SECRET')

    const config = { ...t.services.config, ENTITLEMENT_TOKEN_SECRET: 'another-secret-after-a-rotation-0123456789' }
    const services = createServices({ config, db: t.services.db, clock })
    const rotated = createApp(() => ({ services }), appOptions(config))
    const res = await rotated.request('/markers', { headers: { Cookie: `${cookie}; ${viewCookie}` } })
    expect(await res.text()).not.toContain('SUPPORTERS-SECRET')
  })

  it('costs an anonymous reader no database work at all', async () => {
    const noDatabase = new Proxy({} as Services['db'], {
      get: () => {
        throw new Error('the database was used')
      },
    })
    const services = createServices({ config: t.services.config, db: noDatabase, clock })
    const app = createApp(() => ({ services }), appOptions(t.services.config))
    const res = await app.request('/markers')
    expect(res.status).toBe(200)
    expect(await res.text()).toContain('AD-SLOT')
  })
})

describe('leaving and paying', () => {
  const withView = async (cookie: string) => {
    const res = await view('/markers', cookie)
    return `${cookie}; ${
      res.headers
        .getSetCookie()
        .find((c) => c.startsWith('masthead_view='))!
        .split(';')[0]
    }`
  }

  it('signing out clears the page view too, and goes back to the publication’s front page', async () => {
    const cookies = await withView(await reader('leaving@gw.example', { comp: 'reader' }))
    const res = await t.app.request('/members/auth/sign-out', { method: 'POST', headers: { Cookie: cookies } })
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe('/')
    const cleared = res.headers.getSetCookie()
    expect(cleared.some((c) => c.startsWith('masthead_session=;'))).toBe(true)
    expect(cleared.some((c) => c.startsWith('masthead_view=;'))).toBe(true)
  })

  it('the thanks page after checkout clears the page view, so the next page shows the new membership', async () => {
    const cookies = await withView(await reader('paying@gw.example'))
    const res = await t.app.request('/members/billing/thanks', { headers: { Cookie: cookies } })
    expect(res.status).toBe(200)
    expect(res.headers.getSetCookie().some((c) => c.startsWith('masthead_view=;'))).toBe(true)
  })

  it('Masthead’s pages lead home to the publication’s own front page', async () => {
    const html = await (await view('/members/join')).text()
    expect(html).toMatch(/<a href="\/">The Demo Ledger<\/a>/)
    expect(html).toContain('href="/members/assets/style.css"')
  })
})

describe('when the origin fails', () => {
  it('answers 504 in the publication’s name when the origin is slower than ORIGIN_TIMEOUT_MS', async () => {
    const res = await view('/slow')
    expect(res.status).toBe(504)
    const html = await res.text()
    expect(html).toContain('The Demo Ledger')
    expect(html).toContain(res.headers.get('x-request-id')!)
  })

  it('answers 502 when the origin cannot be reached', async () => {
    const down = await createTestApp({ env: { ORIGIN_URL: await closedPort() } })
    try {
      const res = await down.app.request('/articles/anything')
      expect(res.status).toBe(502)
      expect(await res.text()).toContain('The site cannot be reached')
    } finally {
      await down.close()
    }
  })
})

describe('standalone mode', () => {
  it('has no gateway: the home page is Masthead’s own', async () => {
    const plain = await createTestApp()
    try {
      expect(appOptions(plain.services.config)).toEqual({ basePath: '', gateway: false })
      const res = await plain.app.request('/')
      expect(res.headers.get('content-security-policy')).toContain("default-src 'self'")
    } finally {
      await plain.close()
    }
  })
})
