/**
 * The real Worker (src/worker.ts, bundled by wrangler from wrangler.toml)
 * running inside workerd, reaching PostgreSQL through its Hyperdrive binding.
 */
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signPayload } from '../../src/dev/stripe-stand-in'
import { verifyEntitlementToken } from '../../src/entitlements/token'
import { postStripeEvent, startTestWorker, type TestWorker } from './harness'

const WEBHOOK_SECRET = 'whsec_workerd_test'
const TOKEN_SECRET = 'workerd-entitlement-secret-0123456789abcdef'

/** Signs in through the mailed link inside workerd and returns the cookie ("masthead_session=…"). */
async function signInWorker(email: string): Promise<string> {
  const json = { 'Content-Type': 'application/json' }
  await worker.fetch('/auth/sign-in', { method: 'POST', headers: json, body: JSON.stringify({ email }) })
  const mailbox = await (await worker.fetch('/dev/mailbox.json')).json()
  const mail = mailbox.messages.find((m: { to: string }) => m.to === email.toLowerCase()) // newest first
  const token = mail.text.match(/\/auth\/verify\?token=([\w-]+)/)[1]
  const confirmed = await worker.fetch('/auth/verify', {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ token }),
  })
  return confirmed.headers
    .getSetCookie()
    .find((c) => c.startsWith('masthead_session='))!
    .split(';')[0]!
}
let worker: TestWorker
beforeAll(async () => {
  worker = await startTestWorker({
    STRIPE_SECRET_KEY: 'sk_test_workerd',
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    ADMIN_EMAILS: 'worker-editor@example.org',
    ENTITLEMENT_TOKEN_SECRET: TOKEN_SECRET,
    // Every sign-in of this file comes from one address: more than the default five per window.
    SIGN_IN_LIMIT: '20',
  })
})
afterAll(() => worker?.stop())

describe('the Worker in workerd', () => {
  it(`answers /healthz 200 {"ok": true} after a database round trip through Hyperdrive`, async () => {
    const res = await worker.fetch('/healthz')
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ ok: true })
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    // Not a page: the security headers that let nothing load (src/http/middleware.ts).
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'")
    const page = await worker.fetch('/join')
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'")
    await page.arrayBuffer()
  })

  it('answers several requests in a row, each on its own connection', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await worker.fetch('/healthz')
      expect(res.status).toBe(200)
    }
  })

  it('answers an unknown API route 404 in the JSON error shape', async () => {
    const res = await worker.fetch('/api/no-such-thing')
    expect(res.status).toBe(404)
    expect(await res.json()).toEqual({
      error: {
        code: 'not_found',
        message: 'There is nothing at /api/no-such-thing.',
        requestId: res.headers.get('x-request-id'),
      },
    })
  })

  it('answers an unknown page 404 with an HTML page', async () => {
    const res = await worker.fetch('/no-such-page')
    expect(res.status).toBe(404)
    expect(res.headers.get('content-type')).toContain('text/html')
    expect(await res.text()).toContain('Page not found')
  })

  it('logs each request as one structured line without personal data', async () => {
    const res = await worker.fetch('/api/x?email=donor%40example.org')
    const requestId = res.headers.get('x-request-id')
    await expect.poll(() => worker.logs().find((line) => line.includes(requestId!)), { timeout: 5000 }).toBeTruthy()
    const line = worker.logs().find((l) => l.includes(requestId!))!
    expect(JSON.parse(line)).toMatchObject({ event: 'request', path: '/api/x', status: 404 })
    expect(worker.logs().join('\n')).not.toContain('donor')
  })
})

describe('signing in inside workerd', () => {
  it('mails a link, takes it once, and the session cookie then signs the reader in', async () => {
    const json = { 'Content-Type': 'application/json' }
    const asked = await worker.fetch('/auth/sign-in', {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ email: 'Worker-Reader@example.org', next: '/account' }),
    })
    expect(asked.status).toBe(202)

    const mailbox = await (await worker.fetch('/dev/mailbox.json')).json()
    const mail = mailbox.messages.find((m: { to: string }) => m.to === 'worker-reader@example.org')
    const token = mail.text.match(/\/auth\/verify\?token=([\w-]+)/)[1]

    const opened = await worker.fetch(`/auth/verify?token=${token}`)
    expect(await opened.text()).toContain('Finish signing in')

    const confirmed = await worker.fetch('/auth/verify', {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ token }),
    })
    expect(confirmed.status).toBe(200)
    expect((await confirmed.json()).user).toMatchObject({ email: 'worker-reader@example.org', role: 'reader' })
    const cookie = confirmed.headers.getSetCookie().find((c) => c.startsWith('masthead_session='))!
    expect(cookie).toMatch(/HttpOnly/)

    const me = await worker.fetch('/api/account', { headers: { Cookie: cookie.split(';')[0]! } })
    expect(me.status).toBe(200)
    expect((await me.json()).user.email).toBe('worker-reader@example.org')

    const reused = await worker.fetch('/auth/verify', {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ token }),
    })
    expect(reused.status).toBe(400)
    expect((await reused.json()).error.code).toBe('invalid_token')
  })

  it('refuses a state change from another site', async () => {
    const res = await worker.fetch('/auth/sign-in', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Origin: 'https://evil.example' },
      body: JSON.stringify({ email: 'x@example.org' }),
    })
    expect(res.status).toBe(403)
  })
})

describe('Stripe webhooks inside workerd', () => {
  const event = (id: string, type: string) =>
    JSON.stringify({
      id,
      object: 'event',
      api_version: '2026-10-28.endive',
      created: Math.floor(Date.now() / 1000),
      data: { object: { id: 'cus_workerd', object: 'customer' } },
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type,
    })
  const post = (payload: string, signature: string) => postStripeEvent(worker, payload, signature)
  const now = () => Math.floor(Date.now() / 1000)

  it('verifies the signature with Web Crypto, stores the event once, and acts on it', async () => {
    const payload = event('evt_workerd_1', 'customer.deleted')
    const first = await post(payload, signPayload(payload, WEBHOOK_SECRET, now()))
    expect(first.status).toBe(200)
    expect(await first.json()).toEqual({ received: true, outcome: 'processed' })
    const again = await post(payload, signPayload(payload, WEBHOOK_SECRET, now()))
    expect(await again.json()).toEqual({ received: true, outcome: 'duplicate' })
  })

  it('refuses a bad signature and a tampered body with 400', async () => {
    const payload = event('evt_workerd_2', 'customer.updated')
    const wrongSecret = await post(payload, signPayload(payload, 'whsec_someone_else', now()))
    expect(wrongSecret.status).toBe(400)
    const tampered = await post(
      payload.replace('cus_workerd', 'cus_other'),
      signPayload(payload, WEBHOOK_SECRET, now()),
    )
    expect(tampered.status).toBe(400)
    expect((await tampered.json()).error.message).toBe('The Stripe signature does not match this request.')
    const missing = await worker.fetch('/webhooks/stripe', { method: 'POST', body: payload })
    expect(missing.status).toBe(400)
    // Nothing was stored: the genuine delivery is processed, not a duplicate.
    const genuine = await post(payload, signPayload(payload, WEBHOOK_SECRET, now()))
    expect(await genuine.json()).toEqual({ received: true, outcome: 'processed' })
  })
})

describe('addresses and names at rest inside workerd', () => {
  it('stores them encrypted, finds them by their keyed hashes, and decrypts what the editors see', async () => {
    const reader = await signInWorker('Worker-Privacy@example.org')
    const editor = { Cookie: await signInWorker('worker-editor@example.org') }
    const db = postgres(worker.databaseUrl, { max: 1, onnotice: () => {} })
    try {
      const rows = await db<
        { email: string | null; name: string | null; email_index: string; card: string; name_order: string }[]
      >`select email, name, email_index, card, name_order from users`
      expect(rows.length).toBeGreaterThanOrEqual(2)
      for (const row of rows) {
        // One value, the card, holds the address and the name.
        expect([row.email, row.name]).toEqual([null, null])
        expect(row.card).toMatch(/^v1\.k0\./)
        expect(row.email_index).toMatch(/^[\w-]{43}$/)
        expect(row.name_order).not.toBe('')
      }
      const stored = JSON.stringify([
        rows,
        await db`select email from email_tokens`,
        await db`select "to" from dev_mailbox`,
        await db`select key from rate_limits`,
      ]).toLowerCase()
      expect(stored).not.toContain('worker-privacy')
      expect(stored).not.toContain('worker-editor')
    } finally {
      await db.end({ timeout: 5 })
    }

    // Signing in again finds the same account through the address index.
    const again = await signInWorker('worker-privacy@EXAMPLE.org')
    const [first, second] = await Promise.all(
      [reader, again].map(
        async (cookie) => (await (await worker.fetch('/api/account', { headers: { Cookie: cookie } })).json()).user,
      ),
    )
    expect(second.id).toBe(first.id)
    expect(second.email).toBe('worker-privacy@example.org')

    const found = await worker.fetch('/api/admin/supporters?q=privac', { headers: editor })
    expect(found.status).toBe(200)
    const list = await found.json()
    expect(list.supporters.map((r: { email: string }) => r.email)).toEqual(['worker-privacy@example.org'])

    const tooShort = await worker.fetch('/api/admin/supporters?q=wo', { headers: editor })
    expect(tooShort.status).toBe(422)

    const csv = await worker.fetch('/api/admin/supporters.csv', { headers: editor })
    expect(csv.status).toBe(200)
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/)
    const text = await csv.text()
    expect(text).toContain('worker-privacy@example.org')
    expect(text).toContain('worker-editor@example.org')
    expect(text).not.toMatch(/v1\.k0\./)
  })
})

describe('articles and entitlements inside workerd', () => {
  it('an editor publishes Markdown, rendered safe; readers get a preview or the text, and a verifiable token', async () => {
    const editor = { Cookie: await signInWorker('worker-editor@example.org'), 'Content-Type': 'application/json' }
    const created = await worker.fetch('/api/admin/articles', {
      method: 'POST',
      headers: editor,
      body: JSON.stringify({
        title: 'Worker story',
        excerpt: 'A teaser.',
        author: 'W',
        body: '**Bold** WORKER-BODY <script>alert(1)</script> [x](javascript:alert(1))',
        access: 'members',
      }),
    })
    expect(created.status).toBe(201)
    const { article } = await created.json()
    expect(article.bodyHtml).toContain('<strong>Bold</strong>')
    expect(article.bodyHtml).not.toMatch(/<script|href="javascript/)
    await worker.fetch(`/api/admin/articles/${article.id}/publish`, { method: 'POST', headers: editor })

    const anonymous = await worker.fetch('/articles/worker-story')
    expect(anonymous.headers.get('cache-control')).toBe('public, max-age=60')
    const preview = await anonymous.text()
    expect(preview).not.toContain('WORKER-BODY')
    expect(preview).toContain('class="ad-slot"')

    const reader = await signInWorker('worker-member@example.org')
    const full = await worker.fetch('/api/articles/worker-story', { headers: { Cookie: reader } })
    expect(full.headers.get('cache-control')).toBe('private, no-cache')
    expect(await full.json()).toMatchObject({ access: 'full', ads: true })

    const entitlements = await (await worker.fetch('/api/entitlements', { headers: { Cookie: reader } })).json()
    expect(entitlements).toMatchObject({ signedIn: true, benefits: [], membership: { status: 'none' } })
    const { token } = await (await worker.fetch('/api/entitlements/token', { headers: { Cookie: reader } })).json()
    const claims = await verifyEntitlementToken(token, { issuer: 'http://localhost:8787', secret: TOKEN_SECRET })
    expect(claims).toMatchObject({ benefits: [], status: 'none' })
  })
})

describe('bad input inside workerd', () => {
  it('is refused with the right status, never a 500: planted cookies, control characters, broken forms', async () => {
    for (const cookie of ['masthead_session=%00', 'x=%FF; masthead_session=%FF']) {
      expect((await worker.fetch('/', { headers: { Cookie: cookie } })).status, cookie).toBe(200)
    }
    expect((await worker.fetch('/articles/%00')).status).toBe(400)
    expect((await worker.fetch('/api/articles/%FF')).status).toBe(400)
    const broken = await worker.fetch('/auth/sign-in', {
      method: 'POST',
      headers: { 'Content-Type': 'multipart/form-data; boundary=xyz', Accept: 'application/json' },
      body: '--xyz\r\nContent-Disposition: form-data; name="email"\r\n\r\nreader',
    })
    expect(broken.status).toBe(400)
    const nul = await worker.fetch('/auth/sign-in', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: 'a\u0000@example.org' }),
    })
    expect(nul.status).toBe(422)
  })
})

describe('a misconfigured Worker', () => {
  let broken: TestWorker
  beforeAll(async () => {
    broken = await startTestWorker({ APP_ENV: 'production', APP_URL: 'http://insecure.example.org' })
  })
  afterAll(() => broken?.stop())

  it('answers 500 "misconfigured" without details, and logs which variable is wrong', async () => {
    const res = await broken.fetch('/healthz')
    expect(res.status).toBe(500)
    const body = await res.json()
    expect(body.error.code).toBe('misconfigured')
    expect(JSON.stringify(body)).not.toContain('APP_URL')
    await expect
      .poll(() => broken.logs().find((l) => l.includes('config_invalid')), { timeout: 5000 })
      .toContain('APP_URL: must use https in production')
  })
})

/**
 * The bundle as deployed (`wrangler deploy --dry-run`, as .ci/run builds it). The
 * Worker the tests above run is bundled the same way by wrangler's dev server,
 * into .wrangler/tmp/dev-*, which it deletes when the Worker stops.
 */
describe('the Worker bundle', () => {
  const root = fileURLToPath(new URL('../..', import.meta.url))
  let outdir: string
  let bundle: string
  let sources: string[]
  beforeAll(async () => {
    outdir = await mkdtemp(path.join(tmpdir(), 'masthead-bundle-'))
    await promisify(execFile)(
      path.join(root, 'node_modules/.bin/wrangler'),
      ['deploy', '--dry-run', '--outdir', outdir],
      { cwd: root, env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' } },
    )
    bundle = await readFile(path.join(outdir, 'worker.js'), 'utf8')
    const map = JSON.parse(await readFile(path.join(outdir, 'worker.js.map'), 'utf8')) as { sources: string[] }
    sources = map.sources.map((source) => path.relative(root, path.resolve(outdir, source)))
  })
  afterAll(async () => {
    if (outdir) await rm(outdir, { recursive: true, force: true })
  })

  it('holds no file from src/dev or src/cli, and no devDependency', () => {
    expect(sources).toEqual(expect.arrayContaining(['src/worker.ts', 'src/app.ts', 'src/ui/error-page.tsx']))
    expect(sources.filter((file) => /^src\/(dev|cli)\//.test(file))).toEqual([])
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { devDependencies: object }
    const devDependencies = Object.keys(pkg.devDependencies).map((name) => `node_modules/${name}/`)
    expect(devDependencies).toContain('node_modules/@faker-js/faker/')
    expect(sources.filter((file) => devDependencies.some((dir) => file.includes(dir)))).toEqual([])
  })

  it('shows no trace of the Stripe stand-in, the seeders or the demo content', () => {
    const traces = [
      'startStripeStandIn',
      'startDevelopment',
      'seedSupporters',
      'seedDemoArticles',
      'seedDemoTiers',
      'local Stripe stand-in, no real money moves', // the stand-in's page banner
      'implements only the subset Masthead uses', // the stand-in's answer to an unknown API route
      'council-approves-budget', // a demo article
      'Everything a Reader gets, without ads', // a demo tier
    ]
    // Strings of the app itself, to show that the search finds what is there.
    const present = ['Sign in first: you are not signed in, or your session has ended.', 'Page not found']
    expect(present.filter((text) => !bundle.includes(text))).toEqual([])
    expect(traces.filter((text) => bundle.includes(text))).toEqual([])
  })
})
