import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { seedDemoTiers } from '../../src/dev/demo-tiers'
import { articles, type Role } from '../../src/db/schema'
import { createTestApp, type TestApp } from '../helpers/app'
import { signIn } from '../helpers/auth'
import { insertAccount } from '../helpers/sealed'

/** An article that exists, for the routes that take an article id. */
const ARTICLE = 'roles-article'
/** An account that exists, for the routes that take a supporter id. */
const SUPPORTER = 'roles-supporter'

/** Every route that needs a signed-in account, with the least role it needs (and a real path for one with a parameter). */
const PROTECTED: { method: string; path: string; role: Role; example?: string }[] = [
  { method: 'GET', path: '/account', role: 'reader' },
  { method: 'POST', path: '/account/email', role: 'reader' },
  { method: 'GET', path: '/account/data', role: 'reader' },
  { method: 'POST', path: '/account/delete', role: 'reader' },
  { method: 'POST', path: '/auth/sign-out-everywhere', role: 'reader' },
  { method: 'GET', path: '/api/account', role: 'reader' },
  { method: 'DELETE', path: '/api/account', role: 'reader' },
  { method: 'POST', path: '/api/account/email', role: 'reader' },
  { method: 'GET', path: '/api/account/data', role: 'reader' },
  { method: 'POST', path: '/billing/portal', role: 'reader' },
  { method: 'GET', path: '/admin', role: 'editor' },
  { method: 'GET', path: '/admin/staff', role: 'admin' },
  { method: 'POST', path: '/admin/staff', role: 'admin' },
  { method: 'GET', path: '/api/admin/staff', role: 'admin' },
  { method: 'POST', path: '/api/admin/staff', role: 'admin' },
  { method: 'GET', path: '/admin/tiers', role: 'admin' },
  { method: 'POST', path: '/admin/tiers', role: 'admin' },
  { method: 'GET', path: '/admin/tiers/:id', role: 'admin', example: '/admin/tiers/reader' },
  { method: 'POST', path: '/admin/tiers/:id', role: 'admin', example: '/admin/tiers/reader' },
  { method: 'GET', path: '/api/admin/tiers', role: 'admin' },
  { method: 'POST', path: '/api/admin/tiers', role: 'admin' },
  { method: 'PATCH', path: '/api/admin/tiers/:id', role: 'admin', example: '/api/admin/tiers/reader' },
  { method: 'GET', path: '/admin/articles', role: 'editor' },
  { method: 'GET', path: '/admin/articles/new', role: 'editor' },
  { method: 'POST', path: '/admin/articles/new', role: 'editor' },
  { method: 'GET', path: '/admin/articles/:id', role: 'editor', example: `/admin/articles/${ARTICLE}` },
  { method: 'POST', path: '/admin/articles/:id', role: 'editor', example: `/admin/articles/${ARTICLE}` },
  {
    method: 'POST',
    path: '/admin/articles/:id/publish',
    role: 'editor',
    example: `/admin/articles/${ARTICLE}/publish`,
  },
  {
    method: 'POST',
    path: '/admin/articles/:id/unpublish',
    role: 'editor',
    example: `/admin/articles/${ARTICLE}/unpublish`,
  },
  { method: 'GET', path: '/admin/supporters', role: 'editor' },
  { method: 'GET', path: '/api/admin/supporters', role: 'editor' },
  { method: 'GET', path: '/api/admin/supporters.csv', role: 'editor' },
  { method: 'GET', path: '/admin/supporters/:id', role: 'editor', example: `/admin/supporters/${SUPPORTER}` },
  { method: 'GET', path: '/api/admin/supporters/:id', role: 'editor', example: `/api/admin/supporters/${SUPPORTER}` },
  {
    method: 'POST',
    path: '/admin/supporters/:id/comps',
    role: 'editor',
    example: `/admin/supporters/${SUPPORTER}/comps`,
  },
  {
    method: 'POST',
    path: '/api/admin/supporters/:id/comps',
    role: 'editor',
    example: `/api/admin/supporters/${SUPPORTER}/comps`,
  },
  {
    method: 'POST',
    path: '/admin/supporters/:id/erase',
    role: 'admin',
    example: `/admin/supporters/${SUPPORTER}/erase`,
  },
  {
    method: 'DELETE',
    path: '/api/admin/supporters/:id',
    role: 'admin',
    example: `/api/admin/supporters/${SUPPORTER}`,
  },
  { method: 'POST', path: '/admin/comps/:id/revoke', role: 'editor', example: '/admin/comps/no-such-comp/revoke' },
  {
    method: 'POST',
    path: '/api/admin/comps/:id/revoke',
    role: 'editor',
    example: '/api/admin/comps/no-such-comp/revoke',
  },
  { method: 'GET', path: '/admin/metrics', role: 'editor' },
  { method: 'GET', path: '/api/admin/metrics', role: 'editor' },
  { method: 'GET', path: '/admin/audit', role: 'admin' },
  { method: 'GET', path: '/api/admin/audit', role: 'admin' },
  { method: 'GET', path: '/admin/imports/patreon', role: 'admin' },
  { method: 'POST', path: '/admin/imports/patreon', role: 'admin' },
  {
    method: 'POST',
    path: '/admin/imports/patreon/:batch',
    role: 'admin',
    example: '/admin/imports/patreon/no-such-batch',
  },
  { method: 'POST', path: '/admin/imports/patreon-invitations', role: 'admin' },
  { method: 'POST', path: '/api/admin/imports/patreon', role: 'admin' },
  { method: 'POST', path: '/api/admin/imports/patreon-invitations', role: 'admin' },
  { method: 'GET', path: '/api/admin/articles', role: 'editor' },
  { method: 'POST', path: '/api/admin/articles', role: 'editor' },
  { method: 'GET', path: '/api/admin/articles/:id', role: 'editor', example: `/api/admin/articles/${ARTICLE}` },
  { method: 'PUT', path: '/api/admin/articles/:id', role: 'editor', example: `/api/admin/articles/${ARTICLE}` },
  {
    method: 'POST',
    path: '/api/admin/articles/:id/publish',
    role: 'editor',
    example: `/api/admin/articles/${ARTICLE}/publish`,
  },
  {
    method: 'POST',
    path: '/api/admin/articles/:id/unpublish',
    role: 'editor',
    example: `/api/admin/articles/${ARTICLE}/unpublish`,
  },
]

/**
 * Routes anyone may use, each with a harmless request (a real path for one with
 * a parameter, a body for a post): anonymous, it must not meet a guard.
 */
const PUBLIC: { method: string; path: string; example?: string; body?: unknown }[] = [
  { method: 'GET', path: '/' },
  { method: 'GET', path: '/healthz' },
  { method: 'GET', path: '/assets/style.css' },
  { method: 'GET', path: '/auth/sign-in' },
  { method: 'POST', path: '/auth/sign-in', body: { email: 'passer-by@ledger.example' } },
  { method: 'GET', path: '/auth/verify', example: '/auth/verify?token=no-such-token' },
  { method: 'POST', path: '/auth/verify', body: { token: 'no-such-token' } },
  { method: 'POST', path: '/auth/sign-out', body: {} },
  { method: 'GET', path: '/dev/mailbox' }, // served in APP_ENV=test; 404 in production
  { method: 'GET', path: '/dev/mailbox.json' },
  { method: 'GET', path: '/support' },
  { method: 'GET', path: '/join' },
  { method: 'GET', path: '/articles/:slug', example: `/articles/${ARTICLE}` },
  { method: 'GET', path: '/api/articles/:slug', example: `/api/articles/${ARTICLE}` },
  { method: 'GET', path: '/api/entitlements' },
  { method: 'GET', path: '/api/entitlements/token' },
  { method: 'POST', path: '/billing/checkout', body: { tier: 'reader', interval: 'month' } },
  { method: 'POST', path: '/billing/donate', body: { amount: 5, currency: 'usd', frequency: 'once' } },
  { method: 'GET', path: '/billing/thanks' },
  // Without a signature: 400, or 500 where Stripe is not configured (as here); neither is a guard.
  { method: 'POST', path: '/webhooks/stripe', body: { id: 'evt_unsigned', type: 'customer.updated' } },
]

const LOWER: Record<Role, (Role | 'anonymous')[]> = {
  reader: ['anonymous'],
  editor: ['anonymous', 'reader'],
  admin: ['anonymous', 'reader', 'editor'],
}

let t: TestApp
const cookies: Record<Role | 'anonymous', string | undefined> = {
  anonymous: undefined,
  reader: undefined,
  editor: undefined,
  admin: undefined,
}

beforeAll(async () => {
  t = await createTestApp({ env: { ADMIN_EMAILS: 'admin@ledger.example' } })
  cookies.admin = await signIn(t.app, 'admin@ledger.example')
  cookies.reader = await signIn(t.app, 'reader@ledger.example')
  cookies.editor = await signIn(t.app, 'editor@ledger.example')
  const promoted = await t.app.request('/api/admin/staff', {
    method: 'POST',
    headers: { Cookie: cookies.admin, 'Content-Type': 'application/json' },
    body: JSON.stringify({ email: 'editor@ledger.example', role: 'editor' }),
  })
  expect(promoted.status).toBe(200)
  await seedDemoTiers(t.services.db, new Date())
  const now = new Date()
  await insertAccount(t.services.db, t.services.config, now, { id: SUPPORTER, email: 'supporter@ledger.example' })
  await t.services.db.insert(articles).values({
    id: ARTICLE,
    slug: 'roles-article',
    title: 'Roles',
    excerpt: 'Roles',
    author: 'Test',
    bodyMarkdown: 'Roles',
    bodyHtml: '<p>Roles</p>',
    access: 'public',
    publishedAt: t.services.clock.now(), // so that the public routes find it
    createdAt: now,
    updatedAt: now,
  })
})
afterAll(() => t.close())

describe('the role matrix', () => {
  it('classifies every route the app serves as public or protected', () => {
    const served = new Set(t.app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path}`))
    const known = new Set([...PUBLIC, ...PROTECTED].map((r) => `${r.method} ${r.path}`))
    expect([...served].filter((route) => !known.has(route))).toEqual([])
  })

  it('lists only routes the app serves', () => {
    const served = new Set(t.app.routes.map((r) => `${r.method} ${r.path}`))
    const listed = [...PUBLIC, ...PROTECTED].map((r) => `${r.method} ${r.path}`)
    expect(listed.filter((route) => !served.has(route))).toEqual([])
  })

  for (const route of PROTECTED) {
    const path = route.example ?? route.path
    const isApi = route.path.startsWith('/api/')
    for (const who of LOWER[route.role]) {
      const expected = isApi ? (who === 'anonymous' ? 401 : 403) : 'redirect to sign-in'
      it(`${route.method} ${route.path}: ${who} gets ${expected}`, async () => {
        const headers: Record<string, string> = isApi ? { 'Content-Type': 'application/json' } : {}
        if (cookies[who]) headers.Cookie = cookies[who]
        const body = route.method === 'GET' ? undefined : isApi ? '{}' : ''
        const res = await t.app.request(path, { method: route.method, headers, body })
        if (isApi) {
          expect(res.status).toBe(expected)
          expect((await res.json()).error.code).toBe(who === 'anonymous' ? 'unauthorized' : 'forbidden')
        } else {
          expect(res.status).toBe(303)
          const location = new URL(res.headers.get('location')!, 'http://localhost')
          expect(location.pathname).toBe('/auth/sign-in')
          expect(location.searchParams.get('next')).toBe(route.method === 'GET' ? path : '/account')
        }
      })
    }
    if (route.method === 'GET') {
      it(`${route.method} ${route.path}: ${route.role} gets in`, async () => {
        const res = await t.app.request(path, { headers: { Cookie: cookies[route.role]! } })
        expect(res.status).toBe(200)
      })
    }
  }
})

describe('public routes', () => {
  for (const route of PUBLIC) {
    it(`${route.method} ${route.path}: anonymous gets past any guard`, async () => {
      const body = route.body === undefined ? undefined : JSON.stringify(route.body)
      const headers: Record<string, string> = body ? { 'Content-Type': 'application/json' } : {}
      const res = await t.app.request(route.example ?? route.path, { method: route.method, headers, body })
      expect(res.status).not.toBe(401)
      expect(res.status).not.toBe(403)
      const location = new URL(res.headers.get('location') ?? '/', 'http://localhost')
      expect(location.pathname).not.toBe('/auth/sign-in')
    })
  }
})

describe('managing editors', () => {
  it('admins promote and demote editors by API, and the change applies at once', async () => {
    const writer = await signIn(t.app, 'writer@ledger.example')
    const admin = { Cookie: cookies.admin!, 'Content-Type': 'application/json' }
    const promote = await t.app.request('/api/admin/staff', {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ email: 'Writer@Ledger.example', role: 'editor' }),
    })
    expect((await promote.json()).user).toMatchObject({ email: 'writer@ledger.example', role: 'editor' })
    expect((await t.app.request('/admin', { headers: { Cookie: writer } })).status).toBe(200)

    const list = await (await t.app.request('/api/admin/staff', { headers: admin })).json()
    expect(list.staff.map((s: { email: string }) => s.email)).toContain('writer@ledger.example')

    const demote = await t.app.request('/api/admin/staff', {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ email: 'writer@ledger.example', role: 'reader' }),
    })
    expect((await demote.json()).user.role).toBe('reader')
    expect((await t.app.request('/admin', { headers: { Cookie: writer } })).status).toBe(303)
  })

  it('admins use the staff page too', async () => {
    await signIn(t.app, 'columnist@ledger.example')
    const form = (fields: Record<string, string>) =>
      t.app.request('/admin/staff', {
        method: 'POST',
        headers: { Cookie: cookies.admin!, 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(fields),
      })
    const res = await form({ email: 'columnist@ledger.example', role: 'editor' })
    expect(res.status).toBe(303)
    const html = await (await t.app.request('/admin/staff', { headers: { Cookie: cookies.admin! } })).text()
    expect(html).toContain('<td>columnist@ledger.example</td><td>editor</td>')

    const unknown = await form({ email: 'stranger@ledger.example', role: 'editor' })
    expect(unknown.status).toBe(404)
    expect(await unknown.text()).toContain('No account uses that address')
  })

  it('cannot change an admin, or give a role that does not exist', async () => {
    const admin = { Cookie: cookies.admin!, 'Content-Type': 'application/json' }
    const demoteAdmin = await t.app.request('/api/admin/staff', {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ email: 'admin@ledger.example', role: 'reader' }),
    })
    expect(demoteAdmin.status).toBe(409)
    expect((await demoteAdmin.json()).error.message).toBe('Admins are set by ADMIN_EMAILS and cannot be changed here.')
    const makeAdmin = await t.app.request('/api/admin/staff', {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ email: 'reader@ledger.example', role: 'admin' }),
    })
    expect(makeAdmin.status).toBe(422)
    expect((await makeAdmin.json()).error.message).toBe('The role must be editor or reader.')
  })
})
