import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { seedDemoTiers } from '../../src/dev/demo-tiers'
import { seedDemoArticles } from '../../src/dev/demo-articles'
import { articles } from '../../src/db/schema'
import { createTestApp, fixedClock, type TestApp } from '../helpers/app'
import { signIn } from '../helpers/auth'

let t: TestApp
let editor: Record<string, string>
let reader: string
const clock = fixedClock('2026-11-25T12:00:00Z')

beforeAll(async () => {
  t = await createTestApp({ clock, env: { ADMIN_EMAILS: 'editor@articles.example' } })
  await seedDemoTiers(t.services.db, clock.now())
  editor = { Cookie: await signIn(t.app, 'editor@articles.example'), 'Content-Type': 'application/json' }
  reader = await signIn(t.app, 'reader@articles.example')
})
afterAll(() => t.close())

const api = (path: string, method: string, body?: unknown) =>
  t.app.request(path, { method, headers: editor, body: body === undefined ? undefined : JSON.stringify(body) })

const valid = {
  title: 'The harbour dredging contract',
  author: 'Mo Diallo',
  body: 'The contract was **signed** in June.\n\nMore follows.',
  access: 'public',
}

describe('editors write, publish and unpublish articles by API', () => {
  it('a draft is invisible to readers until published, and gone again when unpublished', async () => {
    const created = await api('/api/admin/articles', 'POST', valid)
    expect(created.status).toBe(201)
    const { article } = await created.json()
    expect(article).toMatchObject({
      slug: 'the-harbour-dredging-contract',
      publishedAt: null,
      bodyHtml: '<p>The contract was <strong>signed</strong> in June.</p>\n<p>More follows.</p>\n',
      excerpt: 'The contract was signed in June. More follows.',
    })
    expect((await t.app.request('/articles/the-harbour-dredging-contract')).status).toBe(404)
    expect((await t.app.request('/api/articles/the-harbour-dredging-contract')).status).toBe(404)
    expect(await (await t.app.request('/')).text()).not.toContain('harbour dredging')

    const published = await api(`/api/admin/articles/${article.id}/publish`, 'POST')
    expect((await published.json()).article.publishedAt).toBe(clock.now().toISOString())
    expect((await t.app.request('/articles/the-harbour-dredging-contract')).status).toBe(200)
    expect(await (await t.app.request('/')).text()).toContain('The harbour dredging contract')

    await api(`/api/admin/articles/${article.id}/unpublish`, 'POST')
    expect((await t.app.request('/articles/the-harbour-dredging-contract')).status).toBe(404)
  })

  it('an edit re-renders the body and keeps the slug unique', async () => {
    const a = (await (await api('/api/admin/articles', 'POST', { ...valid, title: 'First', slug: 'first' })).json())
      .article
    await api('/api/admin/articles', 'POST', { ...valid, title: 'Second', slug: 'second' })
    const edit = await api(`/api/admin/articles/${a.id}`, 'PUT', {
      ...valid,
      title: 'First',
      slug: 'first',
      body: '# New',
    })
    expect((await edit.json()).article.bodyHtml).toBe('<h1>New</h1>\n')
    const clash = await api(`/api/admin/articles/${a.id}`, 'PUT', { ...valid, slug: 'second' })
    expect(clash.status).toBe(409)
    expect((await clash.json()).error.message).toBe('Another article already uses the slug "second". Choose another.')
  })

  it('hostile Markdown is stored and served safe', async () => {
    const body = [
      '<script>alert(1)</script>',
      '<iframe src="https://evil.example"></iframe>',
      '[click](javascript:alert(1))',
      '<a href="javascript:alert(2)">raw</a>',
    ].join('\n\n')
    const { article } = await (await api('/api/admin/articles', 'POST', { ...valid, title: 'Hostile', body })).json()
    await api(`/api/admin/articles/${article.id}/publish`, 'POST')
    const html = await (await t.app.request(`/articles/${article.slug}`)).text()
    expect(html).not.toMatch(/<script|<iframe|href="javascript:/i)
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')
  })
})

describe('bad input changes nothing', () => {
  const cases: [string, Record<string, unknown>, number, string][] = [
    ['no title', { ...valid, title: '' }, 422, 'Enter a title.'],
    [
      'an unknown access level',
      { ...valid, access: 'vip' },
      422,
      'Access must be public, members, supporters or tiers.',
    ],
    [
      'tiers-only without tiers',
      { ...valid, access: 'tiers' },
      422,
      'Choose at least one tier for a tiers-only article.',
    ],
    ['an unknown tier', { ...valid, access: 'tiers', tiers: ['gold'] }, 422, 'There is no tier called "gold".'],
    [
      'a bad slug',
      { ...valid, slug: 'Not A Slug' },
      422,
      'The slug may hold lowercase letters, digits and single hyphens, like "council-votes".',
    ],
    [
      'a bad early-access date',
      { ...valid, earlyAccessUntil: 'next week' },
      422,
      'The early-access date must be a date and time, such as 2026-12-01T09:00Z.',
    ],
    [
      'a body too long',
      { ...valid, body: 'x'.repeat(200_001) },
      422,
      'The article text must be at most 200000 characters.',
    ],
  ]
  for (const [what, body, status, message] of cases) {
    it(`${what}: ${status}, "${message}"`, async () => {
      const before = await t.services.db.select().from(articles)
      const res = await api('/api/admin/articles', 'POST', body)
      expect(res.status).toBe(status)
      expect((await res.json()).error.message).toBe(message)
      expect(await t.services.db.select().from(articles)).toEqual(before)
    })
  }

  it('readers cannot write articles', async () => {
    const res = await t.app.request('/api/admin/articles', {
      method: 'POST',
      headers: { Cookie: reader, 'Content-Type': 'application/json' },
      body: JSON.stringify(valid),
    })
    expect(res.status).toBe(403)
  })
})

describe('the editor pages', () => {
  const form = (fields: Record<string, string | string[]>) => {
    const body = new URLSearchParams()
    for (const [k, v] of Object.entries(fields)) for (const one of [v].flat()) body.append(k, one)
    return body
  }
  const post = (path: string, fields: Record<string, string | string[]>) =>
    t.app.request(path, {
      method: 'POST',
      headers: { Cookie: editor.Cookie!, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: form(fields),
    })

  it('a new article for chosen tiers, with early access, saved from the form and published', async () => {
    const res = await post('/admin/articles/new', {
      title: 'For patrons first',
      author: 'Ed',
      body: 'Text',
      access: 'tiers',
      tiers: ['reader', 'patron'],
      earlyAccessUntil: '2026-12-01T09:00',
    })
    expect(res.status).toBe(303)
    const edit = res.headers.get('location')!
    expect(edit).toMatch(/^\/admin\/articles\/[\w-]+\?notice=created$/)
    const page = await (await t.app.request(edit, { headers: { Cookie: editor.Cookie! } })).text()
    expect(page).toContain('Draft saved.')
    expect(page).toMatch(/value="patron" checked/)
    expect(page).toContain('value="2026-12-01T09:00"')
    const id = edit.split('/').pop()!.split('?')[0]!
    const published = await post(`/admin/articles/${id}/publish`, {})
    expect(published.headers.get('location')).toBe(`/admin/articles/${id}?notice=published`)
    const [row] = (await t.services.db.select().from(articles)).filter((a) => a.id === id)
    expect(row).toMatchObject({
      accessTierIds: ['reader', 'patron'],
      earlyAccessUntil: new Date('2026-12-01T09:00:00Z'),
      publishedAt: clock.now(),
    })
  })

  it('a form with mistakes comes back with each one beside its field, keeping what was typed', async () => {
    const res = await post('/admin/articles/new', { title: '', author: 'Ed', body: 'Kept text', access: 'tiers' })
    expect(res.status).toBe(422)
    const html = await res.text()
    expect(html).toContain('Enter a title.')
    expect(html).toContain('Kept text')
    const again = await post('/admin/articles/new', { title: 'T', author: 'Ed', body: 'B', access: 'tiers' })
    expect(again.status).toBe(422)
    expect(await again.text()).toContain('Choose at least one tier for a tiers-only article.')
  })
})

describe('demo articles', () => {
  it('a fresh start gets one article of each kind, once', async () => {
    const fresh = await createTestApp({ clock })
    try {
      await seedDemoTiers(fresh.services.db, clock.now())
      expect(await seedDemoArticles(fresh.services.db, clock.now())).toBe(5)
      expect(await seedDemoArticles(fresh.services.db, clock.now())).toBe(0)
      const rows = await fresh.services.db.select().from(articles)
      expect(new Set(rows.map((r) => r.access))).toEqual(new Set(['public', 'members', 'supporters', 'tiers']))
      expect(rows.some((r) => r.earlyAccessUntil && r.earlyAccessUntil > clock.now())).toBe(true)
    } finally {
      await fresh.close()
    }
  })
})
