import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { signInMessage } from '../../src/accounts/messages'
import { devMailbox } from '../../src/db/schema'
import { createResendMailer, MailError } from '../../src/mail/mailer'
import { createTestApp, type TestApp } from '../helpers/app'
import { lastMailTo, requestLink } from '../helpers/auth'
import { expectSealed, indexOf } from '../helpers/sealed'

describe('the Resend mailer', () => {
  const message = signInMessage('donor@example.org', 'The Ledger', 'https://ledger.example/auth/verify?token=abc')

  it('posts the message to Resend with the API key', async () => {
    const calls: { url: string; init: RequestInit }[] = []
    const mailer = createResendMailer({
      apiKey: 're_live_key',
      from: 'The Ledger <news@ledger.example>',
      fetch: async (url, init) => {
        calls.push({ url: String(url), init: init! })
        return Response.json({ id: 'email_1' })
      },
    })
    await mailer.send(message)
    expect(calls).toHaveLength(1)
    expect(calls[0]!.url).toBe('https://api.resend.com/emails')
    expect(calls[0]!.init.method).toBe('POST')
    expect(new Headers(calls[0]!.init.headers).get('authorization')).toBe('Bearer re_live_key')
    expect(JSON.parse(String(calls[0]!.init.body))).toEqual({
      from: 'The Ledger <news@ledger.example>',
      to: ['donor@example.org'],
      subject: 'Sign in to The Ledger',
      text: message.text,
      html: message.html,
    })
  })

  it('throws a MailError naming the status but not the address when Resend refuses', async () => {
    const mailer = createResendMailer({
      apiKey: 're_live_key',
      from: 'news@ledger.example',
      fetch: async () => Response.json({ message: 'invalid to: donor@example.org' }, { status: 422 }),
    })
    const error = await mailer.send(message).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(MailError)
    expect((error as Error).message).toBe('Resend answered 422')
  })

  it('throws a MailError when Resend cannot be reached', async () => {
    const mailer = createResendMailer({
      apiKey: 're_live_key',
      from: 'news@ledger.example',
      fetch: async () => {
        throw new TypeError('fetch failed')
      },
    })
    await expect(mailer.send(message)).rejects.toThrow('Resend could not be reached: TypeError')
  })
})

describe('account e-mails', () => {
  it('are plain readable text with a simple HTML twin, named for the publication', () => {
    const m = signInMessage('a@example.org', 'The <Riverside> Ledger', 'https://x.example/auth/verify?token=t')
    expect(m.text).toBe(
      [
        'Follow this link to sign in to The <Riverside> Ledger:',
        'https://x.example/auth/verify?token=t',
        'The link works once, for 15 minutes.',
        'If you did not ask to sign in, ignore this e-mail: nothing happens without the link.',
        '',
      ]
        .join('\n\n')
        .trimEnd() + '\n',
    )
    expect(m.html).toContain('The &lt;Riverside&gt; Ledger')
    expect(m.html).toContain('<a href="https://x.example/auth/verify?token=t">')
  })
})

describe('the development mailbox', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp()
  })
  afterAll(() => t.close())

  it('lists messages newest first, as HTML and JSON', async () => {
    await requestLink(t.app, 'first@example.org')
    await requestLink(t.app, 'second@example.org')
    const json = await (await t.app.request('/dev/mailbox.json')).json()
    expect(json.messages.map((m: { to: string }) => m.to)).toEqual(['second@example.org', 'first@example.org'])
    const html = await (await t.app.request('/dev/mailbox')).text()
    expect(html.indexOf('second@example.org')).toBeLessThan(html.indexOf('first@example.org'))
    expect(html).toContain('>Open link</a>')
  })

  it('keeps the recipient encrypted, and finds the mail to one address by its index', async () => {
    await requestLink(t.app, 'Kept.Apart@Example.org')
    await requestLink(t.app, 'someone-else@example.org')
    const stored = await t.database.db
      .select()
      .from(devMailbox)
      .where(eq(devMailbox.toIndex, await indexOf(t.services.config, 'kept.apart@example.org')))
    expect(stored).toHaveLength(1)
    expectSealed(stored[0]!.to, 'kept.apart', 'example.org')

    // However the address is written, the filter finds its mail and only its mail, the recipient decrypted.
    const json = await (await t.app.request('/dev/mailbox.json?to=KEPT.apart@example.org')).json()
    expect(json.messages.map((m: { to: string }) => m.to)).toEqual(['kept.apart@example.org'])
    expect(json.messages[0]).not.toHaveProperty('toIndex')
    const html = await (await t.app.request('/dev/mailbox?to=kept.apart%40example.org')).text()
    expect(html).toContain('To kept.apart@example.org')
    expect(html).not.toContain('someone-else@example.org')
    expect(html).not.toContain(stored[0]!.to)
  })

  it('prints one line to the console per message: the subject, never the address, link or token', async () => {
    const lines: string[] = []
    const keep = (...args: unknown[]) => void lines.push(args.map(String).join(' '))
    vi.spyOn(console, 'log').mockImplementation(keep)
    vi.spyOn(console, 'error').mockImplementation(keep)
    try {
      await requestLink(t.app, 'printed@example.org')
    } finally {
      vi.restoreAllMocks()
    }
    const { token } = await lastMailTo(t.app, 'printed@example.org')
    expect(token).toBeTruthy()
    const mail = lines.filter((l) => l.startsWith('mail (development)'))
    expect(mail).toEqual(['mail (development): "Sign in to Masthead", kept at /dev/mailbox'])
    const printed = lines.join('\n')
    for (const secret of [token!, 'printed', '/auth/verify']) expect(printed).not.toContain(secret)
  })
})

describe('in production', () => {
  let t: TestApp
  const sent: string[] = []
  beforeAll(async () => {
    t = await createTestApp({
      env: {
        APP_ENV: 'production',
        APP_URL: 'https://ledger.example',
        RESEND_API_KEY: 're_live_key',
        MAIL_FROM: 'The Ledger <news@ledger.example>',
        STRIPE_SECRET_KEY: 'sk_test_unused',
        STRIPE_WEBHOOK_SECRET: 'whsec_unused',
        ENTITLEMENT_TOKEN_SECRET: 'production-entitlement-secret-0123456789',
        DATA_ENCRYPTION_KEY: 'k1:cHJvZHVjdGlvbi1kYXRhLWtleS0wMTIzNDU2Nzg5YWI=',
      },
      fetch: async (_url, init) => {
        sent.push(String(init?.body))
        return Response.json({ id: 'email_1' })
      },
    })
  })
  afterAll(() => t.close())

  it('the development mailbox does not exist', async () => {
    for (const path of ['/dev/mailbox', '/dev/mailbox.json']) {
      const res = await t.app.request(path)
      expect(res.status).toBe(404)
    }
  })

  it('sign-in links go out through the provider, with https links and Secure cookies', async () => {
    const res = await requestLink(t.app, 'reader@example.org', { headers: { Origin: 'https://ledger.example' } })
    expect(res.status).toBe(202)
    expect(sent).toHaveLength(1)
    const body = JSON.parse(sent[0]!)
    expect(body.to).toEqual(['reader@example.org'])
    const token = String(body.text).match(/https:\/\/ledger\.example\/auth\/verify\?token=([\w-]+)/)?.[1]
    expect(token).toBeTruthy()
    const confirmed = await t.app.request('/auth/verify', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: token! }),
    })
    expect(confirmed.status).toBe(303)
    expect(confirmed.headers.getSetCookie().find((c) => c.startsWith('masthead_session='))).toMatch(/; Secure/)
  })
})
