import { eq, inArray } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { devMailbox, emailTokens, sessions, users } from '../../src/db/schema'
import { sha256Hex } from '../../src/util/random'
import { createTestApp, fixedClock, type TestApp } from '../helpers/app'
import { confirmLink, lastMailTo, requestLink, sessionCookie, signIn } from '../helpers/auth'
import { expectSealed, indexesOf, indexOf } from '../helpers/sealed'

const clock = fixedClock('2026-11-25T12:00:00Z')
let t: TestApp
beforeAll(async () => {
  t = await createTestApp({
    clock,
    env: { PUBLICATION_NAME: 'The Riverside Ledger', ADMIN_EMAILS: 'Editor-In-Chief@Ledger.example' },
  })
})
afterAll(() => t.close())

const form = (fields: Record<string, string>, headers: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
  body: new URLSearchParams(fields),
})

describe('signing in by e-mailed link', () => {
  it('works end to end through the sign-in form and the development mailbox', async () => {
    const page = await t.app.request('/auth/sign-in?next=/account')
    expect(page.status).toBe(200)
    const signInHtml = await page.text()
    expect(signInHtml).toContain('<form method="post" action="/auth/sign-in"')
    expect(signInHtml).toContain('<input type="hidden" name="next" value="/account"/>')

    const sent = await t.app.request('/auth/sign-in', form({ email: ' Reader@Example.org ', next: '/account' }))
    expect(sent.status).toBe(200)
    expect(await sent.text()).toContain('Check your e-mail')

    const mailbox = await (await t.app.request('/dev/mailbox')).text()
    expect(mailbox).toContain('Sign in to The Riverside Ledger')
    const { message, token } = await lastMailTo(t.app, 'reader@example.org')
    expect(message?.subject).toBe('Sign in to The Riverside Ledger')
    expect(message?.text).toContain('http://localhost:8787/auth/verify?token=')
    expect(message?.html).toContain('The Riverside Ledger')
    expect(message?.html).toContain('<a href="http://localhost:8787/auth/verify?token=')

    // Opening the link (as a mail scanner would) shows a button and uses nothing up.
    for (let i = 0; i < 2; i++) {
      const opened = await t.app.request(`/auth/verify?token=${token}`)
      expect(opened.status).toBe(200)
      const html = await opened.text()
      expect(html).toContain('<form method="post" action="/auth/verify">')
      expect(html).toContain(`value="${token}"`)
    }
    const [row] = await t.database.db
      .select()
      .from(emailTokens)
      .where(eq(emailTokens.emailIndex, await indexOf(t.services.config, 'reader@example.org')))
    expect(row?.usedAt).toBeNull()

    const done = await confirmLink(t.app, token!)
    expect(done.status).toBe(303)
    expect(done.headers.get('location')).toBe('/account')
    const cookie = done.headers.getSetCookie().find((c) => c.startsWith('masthead_session='))!
    expect(cookie).toMatch(/HttpOnly/)
    expect(cookie).toMatch(/SameSite=Lax/)
    expect(cookie).not.toMatch(/Secure/) // http://localhost only

    const account = await t.app.request('/account', { headers: { Cookie: sessionCookie(done)! } })
    expect(account.status).toBe(200)
    const accountHtml = await account.text()
    expect(accountHtml).toContain('reader@example.org')
    expect(accountHtml).toContain('<dd>reader</dd>')
  })

  it('keeps only a hash of the token', async () => {
    await requestLink(t.app, 'hash@example.org')
    const { token } = await lastMailTo(t.app, 'hash@example.org')
    const rows = await t.database.db
      .select()
      .from(emailTokens)
      .where(eq(emailTokens.emailIndex, await indexOf(t.services.config, 'hash@example.org')))
    expect(rows).toHaveLength(1)
    expect(rows[0]!.tokenHash).toBe(sha256Hex(token!))
    expect(JSON.stringify(rows)).not.toContain(token)
  })

  it('keeps the address of a link, and of its mail, encrypted', async () => {
    await requestLink(t.app, 'Sealed.Reader@Example.org')
    const index = await indexOf(t.services.config, 'sealed.reader@example.org')
    const [token] = await t.database.db.select().from(emailTokens).where(eq(emailTokens.emailIndex, index))
    expectSealed(token?.email, 'sealed.reader', 'example.org')
    const mail = await t.database.db.select().from(devMailbox).where(eq(devMailbox.toIndex, index))
    expect(mail).toHaveLength(1)
    expectSealed(mail[0]!.to, 'sealed.reader', 'example.org')
    // A fresh nonce per value: the same address does not look the same twice.
    expect(mail[0]!.to).not.toBe(token!.email)
    // What the mailbox shows, decrypted.
    expect((await lastMailTo(t.app, 'sealed.reader@example.org')).count).toBe(1)
  })

  it('creates the account on first sign-in only, and makes ADMIN_EMAILS admins', async () => {
    const first = await signIn(t.app, 'editor-in-chief@ledger.example')
    const me = await (await t.app.request('/api/account', { headers: { Cookie: first } })).json()
    expect(me.user).toMatchObject({ email: 'editor-in-chief@ledger.example', role: 'admin' })
    await signIn(t.app, 'Editor-in-Chief@ledger.example')
    const rows = await t.database.db
      .select()
      .from(users)
      .where(inArray(users.emailIndex, await indexesOf(t.services.config, 'editor-in-chief@ledger.example')))
    expect(rows).toHaveLength(1)
    expect(rows[0]!.role).toBe('admin')
    expect(rows[0]!.email).toBeNull()
    expectSealed(rows[0]!.card, 'editor-in-chief', 'ledger.example')
  })

  it('gives a link once: the second use is refused and changes nothing', async () => {
    await requestLink(t.app, 'once@example.org')
    const { token } = await lastMailTo(t.app, 'once@example.org')
    expect((await confirmLink(t.app, token!)).status).toBe(303)
    const sessionsBefore = await t.database.db.select().from(sessions)

    const again = await confirmLink(t.app, token!)
    expect(again.status).toBe(400)
    expect(await again.text()).toContain('This link has already been used')
    expect(sessionCookie(again)).toBeUndefined()
    expect(await t.database.db.select().from(sessions)).toHaveLength(sessionsBefore.length)

    const asJson = await t.app.request('/auth/verify', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token }),
    })
    expect(asJson.status).toBe(400)
    expect((await asJson.json()).error).toMatchObject({
      code: 'invalid_token',
      message: expect.stringContaining('already'),
    })
  })

  it('lets a link expire after 15 minutes', async () => {
    await requestLink(t.app, 'late@example.org')
    const { token } = await lastMailTo(t.app, 'late@example.org')
    clock.advance(15 * 60 * 1000)
    try {
      const opened = await t.app.request(`/auth/verify?token=${token}`)
      expect(opened.status).toBe(400)
      expect(await opened.text()).toContain('This link has expired')
      const used = await confirmLink(t.app, token!)
      expect(used.status).toBe(400)
      expect(sessionCookie(used)).toBeUndefined()
    } finally {
      clock.advance(-15 * 60 * 1000)
    }
  })

  it('still takes a link one second before it expires', async () => {
    await requestLink(t.app, 'justintime@example.org')
    const { token } = await lastMailTo(t.app, 'justintime@example.org')
    clock.advance(15 * 60 * 1000 - 1000)
    try {
      expect((await confirmLink(t.app, token!)).status).toBe(303)
    } finally {
      clock.advance(-(15 * 60 * 1000 - 1000))
    }
  })

  it('refuses unknown and malformed tokens', async () => {
    const unknown = await confirmLink(t.app, 'x'.repeat(43))
    expect(unknown.status).toBe(400)
    expect(await unknown.text()).toContain('This link is not valid')
    const missing = await t.app.request('/auth/verify', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{}',
    })
    expect(missing.status).toBe(422)
    expect((await missing.json()).error.message).toBe('The link is incomplete.')
  })
})

describe('no enumeration', () => {
  it('answers the same for an address with an account and one without', async () => {
    await signIn(t.app, 'known@example.org')
    const known = await requestLink(t.app, 'known@example.org')
    const unknown = await requestLink(t.app, 'nobody-here@example.org')
    expect(known.status).toBe(unknown.status)
    expect(await known.json()).toEqual(await unknown.json())

    const strip = (html: string) => html.replace(/[0-9a-f-]{36}/g, '')
    const knownPage = await t.app.request('/auth/sign-in', form({ email: 'known@example.org' }))
    const unknownPage = await t.app.request('/auth/sign-in', form({ email: 'nobody-else@example.org' }))
    expect(knownPage.status).toBe(unknownPage.status)
    expect(strip(await knownPage.text())).toBe(strip(await unknownPage.text()))
  })
})

describe('bad input', () => {
  it('a malformed address gets 422 with a clear message and sends nothing', async () => {
    const before = await t.database.db.select().from(emailTokens)
    const json = await requestLink(t.app, 'not-an-address')
    expect(json.status).toBe(422)
    expect((await json.json()).error).toMatchObject({
      code: 'validation_failed',
      message: 'Enter a valid e-mail address, like name@example.org.',
    })
    const page = await t.app.request('/auth/sign-in', form({ email: 'still not one' }))
    expect(page.status).toBe(422)
    const html = await page.text()
    expect(html).toContain('Enter a valid e-mail address')
    expect(html).toContain('value="still not one"')
    expect(await t.database.db.select().from(emailTokens)).toHaveLength(before.length)
  })

  it('a body that is not JSON gets 400, another media type 415', async () => {
    const broken = await t.app.request('/auth/sign-in', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{"email": ',
    })
    expect(broken.status).toBe(400)
    expect((await broken.json()).error.message).toBe('The request body is not valid JSON.')
    const xml = await t.app.request('/auth/sign-in', {
      method: 'POST',
      headers: { 'Content-Type': 'application/xml', Accept: 'application/json' },
      body: '<email/>',
    })
    expect(xml.status).toBe(415)
  })

  it('an oversized body gets 413', async () => {
    const res = await requestLink(t.app, `${'a'.repeat(2 * 1024 * 1024)}@example.org`)
    expect(res.status).toBe(413)
  })

  it('a tampered or unknown session cookie signs nobody in and is cleared', async () => {
    const cookie = await signIn(t.app, 'tamper@example.org')
    // Change the last character to another one (appending "zz" over the last two was the same cookie
    // whenever the session id happened to end in "zz").
    const tampered = `${cookie.slice(0, -1)}${cookie.endsWith('a') ? 'b' : 'a'}`
    const res = await t.app.request('/api/account', { headers: { Cookie: tampered } })
    expect(res.status).toBe(401)
    expect((await res.json()).error.code).toBe('unauthorized')
    expect(res.headers.getSetCookie().some((c) => c.startsWith('masthead_session=;'))).toBe(true)
  })
})

describe('where a link leads afterwards', () => {
  const attempts = [
    '//evil.example/steal',
    '/.//evil.example/steal',
    '/..//evil.example',
    'https://evil.example/',
    '/\\evil.example',
    '\\\\evil.example',
    'javascript:alert(1)',
    '/%0d%0aSet-Cookie:x=y'.replace('%0d%0a', '\r\n'),
    'evil.example',
    '',
  ]
  for (const next of attempts) {
    it(`ignores next=${JSON.stringify(next)} and goes to the account page`, async () => {
      const email = `redirect-${attempts.indexOf(next)}@example.org`
      await requestLink(t.app, email, { next })
      const { token } = await lastMailTo(t.app, email)
      const res = await confirmLink(t.app, token!)
      expect(res.headers.get('location')).toBe('/account')
    })
  }

  it('keeps a path on this site, with its query', async () => {
    await requestLink(t.app, 'deep@example.org', { next: '/articles/budget-2027?ref=mail' })
    const { token } = await lastMailTo(t.app, 'deep@example.org')
    expect((await confirmLink(t.app, token!)).headers.get('location')).toBe('/articles/budget-2027?ref=mail')
  })

  it('does not echo a foreign next into the sign-in form', async () => {
    const html = await (await t.app.request('/auth/sign-in?next=https://evil.example')).text()
    expect(html).not.toContain('evil.example')
  })
})

describe('sessions', () => {
  it('sign-out ends the session and clears the cookie', async () => {
    const cookie = await signIn(t.app, 'leaving@example.org')
    const out = await t.app.request('/auth/sign-out', { method: 'POST', headers: { Cookie: cookie } })
    expect(out.status).toBe(303)
    expect(out.headers.getSetCookie().some((c) => c.startsWith('masthead_session=;'))).toBe(true)
    expect((await t.app.request('/api/account', { headers: { Cookie: cookie } })).status).toBe(401)
  })

  it('"sign out of all devices" ends every session of the account and no other', async () => {
    const laptop = await signIn(t.app, 'many@example.org')
    const phone = await signIn(t.app, 'many@example.org')
    const someoneElse = await signIn(t.app, 'other@example.org')
    const res = await t.app.request('/auth/sign-out-everywhere', { method: 'POST', headers: { Cookie: phone } })
    expect(res.status).toBe(303)
    expect((await t.app.request('/api/account', { headers: { Cookie: laptop } })).status).toBe(401)
    expect((await t.app.request('/api/account', { headers: { Cookie: phone } })).status).toBe(401)
    expect((await t.app.request('/api/account', { headers: { Cookie: someoneElse } })).status).toBe(200)
  })
})

describe('when mail cannot be sent', () => {
  it('tells the reader to try again, keeps no token and logs no address', async () => {
    const failing = await createTestApp({
      fetch: async () => new Response('{"message":"down"}', { status: 500 }),
      env: { RESEND_API_KEY: 're_test_123', MAIL_FROM: 'Ledger <news@ledger.example>' },
    })
    const lines: string[] = []
    vi.spyOn(console, 'error').mockImplementation((line: string) => void lines.push(line))
    vi.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line))
    try {
      const res = await requestLink(failing.app, 'unlucky@example.org')
      expect(res.status).toBe(503)
      expect((await res.json()).error).toMatchObject({
        code: 'mail_unavailable',
        message: 'We could not send the e-mail just now. Please try again in a few minutes.',
      })
      expect(await failing.database.db.select().from(emailTokens)).toEqual([])
      expect(lines.some((l) => l.includes('mail_send_failed'))).toBe(true)
      expect(lines.join('\n')).not.toContain('unlucky')
    } finally {
      vi.restoreAllMocks()
      await failing.close()
    }
  })
})
