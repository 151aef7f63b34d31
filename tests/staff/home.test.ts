import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../helpers/app'
import { signIn } from '../helpers/auth'
import { PROTECTED } from '../helpers/routes'

/**
 * The staff front page (GET /admin, src/staff/pages.tsx) links to every staff page that stands on
 * its own (no id in its path, not a form for a new item): an admin sees them all, an editor only
 * the editors' pages.
 */
let t: TestApp
const cookies = { admin: '', editor: '' }

/** The staff pages a front page should lead to, from the role matrix (tests/helpers/routes.ts). */
const standalone = PROTECTED.filter(
  (r) => r.method === 'GET' && r.path.startsWith('/admin/') && !r.path.includes(':') && !r.path.endsWith('/new'),
)

const home = async (cookie: string) => {
  const res = await t.app.request('/admin', { headers: { Cookie: cookie } })
  expect(res.status).toBe(200)
  return res.text()
}

beforeAll(async () => {
  t = await createTestApp({ env: { ADMIN_EMAILS: 'admin@front.example' } })
  cookies.admin = await signIn(t.app, 'admin@front.example')
  cookies.editor = await signIn(t.app, 'editor@front.example')
  const promoted = await t.app.request('/api/admin/staff', {
    method: 'POST',
    headers: { Cookie: cookies.admin, 'Content-Type': 'application/json' },
    body: JSON.stringify({ email: 'editor@front.example', role: 'editor' }),
  })
  expect(promoted.status).toBe(200)
})
afterAll(() => t.close())

describe('the staff front page', () => {
  it('knows the staff pages, the year-end statements among them', () => {
    expect(standalone.map((r) => r.path)).toContain('/admin/statements')
    expect(standalone.length).toBeGreaterThan(8)
  })

  it('links an admin to every staff page, year-end statements included', async () => {
    const page = await home(cookies.admin)
    expect(page).toContain('<a href="/admin/statements">Year-end statements</a>')
    const missing = standalone.filter((r) => !page.includes(`<a href="${r.path}">`)).map((r) => r.path)
    expect(missing).toEqual([])
  })

  it("links an editor to the editors' pages only", async () => {
    const page = await home(cookies.editor)
    for (const route of standalone) {
      const linked = page.includes(`<a href="${route.path}">`)
      expect(linked, `${route.path} (${route.role}) linked for an editor`).toBe(route.role === 'editor')
    }
    // And the editor cannot open the statements page the admin's link leads to.
    const statements = await t.app.request('/admin/statements', { headers: { Cookie: cookies.editor } })
    expect(statements.status).not.toBe(200)
  })
})
