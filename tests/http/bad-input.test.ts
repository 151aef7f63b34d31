import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TestApp } from '../helpers/app'
import { roleWorld, type Who } from '../helpers/routes'

/**
 * The classes of bad input that used to reach a 500 (issue "Production on Workers, and no bad
 * input reaches a 500"), each answered with the right status and a message a person can act on.
 * tests/http/fuzz.test.ts looks for the rest.
 */
let t: TestApp
let cookies: Record<Who, string | undefined>

beforeAll(async () => {
  ;({ t, cookies } = await roleWorld())
}, 60_000)
afterAll(() => t.close())

const errorOf = async (res: Response) => ((await res.json()) as { error: { code: string; message: string } }).error

describe('cookies planted by anyone who can set one', () => {
  for (const cookie of ['masthead_session=%00', 'masthead_session=%FF', 'other=%FF; masthead_session=%E0%A4%A']) {
    it(`${cookie}: every page still answers, as a signed-out reader, and the session cookie is cleared`, async () => {
      for (const path of ['/', '/join', '/api/entitlements']) {
        const res = await t.app.request(path, { headers: { Cookie: cookie } })
        expect(res.status, path).toBe(200)
      }
      const account = await t.app.request('/account', { headers: { Cookie: cookie } })
      expect(account.status).toBe(303)
      expect(account.headers.get('location')).toMatch(/^\/auth\/sign-in/)
      if (cookie.includes('masthead_session')) {
        expect(account.headers.getSetCookie().some((c) => c.startsWith('masthead_session=;'))).toBe(true)
      }
    })
  }

  it('a signed-in reader with a stray broken cookie stays signed in', async () => {
    const res = await t.app.request('/api/account', { headers: { Cookie: `x=%FF; ${cookies.reader}` } })
    expect(res.status).toBe(200)
  })
})

describe('addresses with control characters or broken encoding', () => {
  for (const path of ['/articles/%00', '/api/articles/a%00b', '/auth/verify?token=%00', '/join?tier=%0d%0a']) {
    it(`${path}: 400 naming the character`, async () => {
      // People get the message on a page, API clients in the error shape.
      const res = await t.app.request(path)
      expect(res.status).toBe(400)
      expect(await res.text()).toContain(
        'This address holds a control character (such as %00), which no page here takes.',
      )
    })
  }

  it('/articles/%FF: 400, not UTF-8', async () => {
    const res = await t.app.request('/api/articles/%FF')
    expect(res.status).toBe(400)
    expect((await errorOf(res)).message).toBe(
      'This address is not valid: it holds a %-sequence that is not UTF-8 text.',
    )
  })

  it('an admin route with a NUL in its parameter changes nothing and says why', async () => {
    const res = await t.app.request('/api/admin/tiers/a%00b', {
      method: 'PATCH',
      headers: { Cookie: cookies.admin!, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'Renamed' }),
    })
    expect(res.status).toBe(400)
  })
})

describe('bodies that are not what they say', () => {
  it('a cut-short multipart form is a 400, on a form route and on an upload', async () => {
    const broken = { 'Content-Type': 'multipart/form-data; boundary=xyz' }
    const signIn = await t.app.request('/auth/sign-in', {
      method: 'POST',
      headers: { ...broken, Accept: 'application/json' },
      body: '--xyz\r\nContent-Disposition: form-data; name="email"\r\n\r\nreader',
    })
    expect(signIn.status).toBe(400)
    expect((await errorOf(signIn)).message).toMatch(/^The form could not be read/)
    const upload = await t.app.request('/api/admin/imports/patreon', {
      method: 'POST',
      headers: { ...broken, Cookie: cookies.admin! },
      body: '--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\nEmail',
    })
    expect(upload.status).toBe(400)
  })

  it('text with a NUL character is a 422, in JSON and in forms', async () => {
    const json = await t.app.request('/api/admin/articles', {
      method: 'POST',
      headers: { Cookie: cookies.editor!, 'Content-Type': 'application/json' },
      body: JSON.stringify({ title: 'Budget\u0000', slug: 'budget', bodyMarkdown: 'Text', access: 'public' }),
    })
    expect(json.status).toBe(422)
    expect((await errorOf(json)).message).toBe('A field holds a NUL character (\\u0000), which no text here may hold.')
    const form = await t.app.request('/admin/articles/new', {
      method: 'POST',
      headers: { Cookie: cookies.editor!, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ title: 'Budget\u0000', slug: 'budget', bodyMarkdown: 'Text' }).toString(),
    })
    expect(form.status).toBe(422)
    const articles = await t.app.request('/api/admin/articles', { headers: { Cookie: cookies.editor! } })
    expect(JSON.stringify(await articles.json())).not.toContain('budget')
  })
})
