import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Role } from '../../src/db/schema'
import type { TestApp } from '../helpers/app'
import { signIn } from '../helpers/auth'
import { PROTECTED, PUBLIC, roleWorld, type Who } from '../helpers/routes'

const LOWER: Record<Role, (Role | 'anonymous')[]> = {
  reader: ['anonymous'],
  editor: ['anonymous', 'reader'],
  admin: ['anonymous', 'reader', 'editor'],
}

let t: TestApp
let cookies: Record<Who, string | undefined>

beforeAll(async () => {
  ;({ t, cookies } = await roleWorld())
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
        expect(res.status).toBe(route.reached ?? 200)
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
