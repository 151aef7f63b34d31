/**
 * Masthead served under a base path (createApp's `basePath`): every route,
 * door and guard moves with it. Where its links, redirects and e-mails point
 * under the base path is checked in base-path-links.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { articles } from '../../src/db/schema'
import { createTestApp, type TestApp } from '../helpers/app'

const SLUG = 'base-path-article'

let t: TestApp
beforeAll(async () => {
  t = await createTestApp({ basePath: '/members' })
  const now = t.services.clock.now()
  await t.services.db.insert(articles).values({
    id: SLUG,
    slug: SLUG,
    title: 'Under a base path',
    excerpt: 'Served from /members.',
    author: 'Test',
    bodyMarkdown: 'BASE-PATH-BODY',
    bodyHtml: '<p>BASE-PATH-BODY</p>',
    access: 'public',
    publishedAt: now,
    createdAt: now,
    updatedAt: now,
  })
})
afterAll(() => t.close())

describe('under the base path /members', () => {
  it('answers /members/healthz 200 in JSON, through the whole middleware chain', async () => {
    const res = await t.app.request('/members/healthz')
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ ok: true })
    expect(res.headers.get('x-request-id')).toBeTruthy()
    // JSON, not a page: the security headers that let nothing load (src/http/middleware.ts).
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'")
  })

  it('answers /members/api/entitlements in JSON for a reader who is not signed in', async () => {
    const res = await t.app.request('/members/api/entitlements')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('application/json')
    expect(await res.json()).toMatchObject({ signedIn: false })
  })

  it('serves the pages: the front page and an article', async () => {
    // Hono routes '/' under a base path to /members itself; /members/ (trailing slash) is not served.
    const home = await t.app.request('/members')
    expect(home.status).toBe(200)
    expect(home.headers.get('content-type')).toContain('text/html')
    expect(await home.text()).toContain('Under a base path')

    const article = await t.app.request(`/members/articles/${SLUG}`)
    expect(article.status).toBe(200)
    expect(article.headers.get('content-type')).toContain('text/html')
    expect(await article.text()).toContain('BASE-PATH-BODY')
  })

  it('answers an unknown API route 404 in the JSON error shape', async () => {
    const res = await t.app.request('/members/api/nope')
    expect(res.status).toBe(404)
    expect(await res.json()).toMatchObject({ error: { code: 'not_found' } })
  })

  it('answers an unknown page 404 with an HTML page', async () => {
    const res = await t.app.request('/members/nope')
    expect(res.status).toBe(404)
    expect(res.headers.get('content-type')).toContain('text/html')
    expect(await res.text()).toContain('Page not found')
  })

  it('keeps the guards: the account API answers 401 in JSON, the account page sends the reader to sign in', async () => {
    const api = await t.app.request('/members/api/account')
    expect(api.status).toBe(401)
    expect(await api.json()).toMatchObject({ error: { code: 'unauthorized' } })

    const page = await t.app.request('/members/account')
    expect(page.status).toBe(303)
  })

  it('serves nothing outside the base path', async () => {
    expect((await t.app.request('/healthz')).status).toBe(404)
    expect((await t.app.request(`/articles/${SLUG}`)).status).toBe(404)
  })
})
