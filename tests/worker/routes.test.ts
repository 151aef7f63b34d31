/**
 * Every family of routes inside workerd (the real Worker, bundled by wrangler, on a fresh
 * database through Hyperdrive): paying through the local Stripe stand-in, the staff area and its
 * API as an admin, a reader's own account, the join pages, the CSV export of thousands of
 * supporters, every route of the role test, and a database that was never migrated.
 * tests/worker/worker.test.ts covers the rest (health, sign-in, webhooks, articles, bad input).
 */
import { parse } from 'csv-parse/sync'
import { eq, sql } from 'drizzle-orm'
import type Stripe from 'stripe'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { syncAllToStripe } from '../../src/billing/tiers/stripe-sync'
import type { Config } from '../../src/config'
import { rowsOf, type DatabaseHandle } from '../../src/db/client'
import { articles, grants, stripeCustomers, tiers, users } from '../../src/db/schema'
import { startStripeStandIn, type StripeStandIn } from '../../src/dev/stripe-stand-in'
import { seedSupporters } from '../../src/dev/seed-supporters'
import { keyringOf } from '../../src/privacy/keys'
import { createServices } from '../../src/services'
import { ARTICLE, PROTECTED, PUBLIC, ROLE_EMAILS, SUPPORTER, type Who } from '../helpers/routes'
import { accountByEmail, insertAccount } from '../helpers/sealed'
import { deliverTo, startTestWorker, type TestWorker } from './harness'
import { ROLE_WORLD_VARS, signInWorker, structuredLogs, workerRoleWorld } from './session'
import { unmigrate } from './unmigrated'

let standIn: StripeStandIn
let worker: TestWorker
let database: DatabaseHandle
let cookies: Record<Who, string | undefined>
let stripe: Stripe
let config: Config

beforeAll(async () => {
  // The stand-in delivers its signed events to the Worker, as Stripe would.
  standIn = await startStripeStandIn({ deliver: deliverTo(() => worker) })
  const stripeVars = standIn.env
  worker = await startTestWorker({ ...ROLE_WORLD_VARS, ...stripeVars })
  const world = await workerRoleWorld(worker, stripeVars)
  ;({ cookies, database, config } = world)
  // The demo tiers on sale in the stand-in, as `npm run stripe:sync` puts them.
  const services = createServices({ config, db: database.db })
  stripe = services.stripe!
  await syncAllToStripe(services)
}, 120_000)
afterAll(async () => {
  await database?.close()
  await worker?.stop()
  await standIn?.close()
})

/** The events the Worker logged for one request, in order. */
const eventsOf = (from: TestWorker, requestId: string | null) =>
  structuredLogs(from)
    .filter((line) => line.requestId === requestId)
    .map((line) => line.event)

/** A form post as a browser sends it (with the session cookie, if any); redirects are the answer, not followed. */
const form = (cookie: string | undefined, fields: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...(cookie ? { Cookie: cookie } : {}) },
  body: new URLSearchParams(fields),
  redirect: 'manual',
})
const get = (cookie?: string): RequestInit => ({ headers: cookie ? { Cookie: cookie } : {}, redirect: 'manual' })

describe('paying through the Stripe stand-in inside workerd', () => {
  it('a signed-in reader is sent to checkout for a tier, pays, and is then a member of it', async () => {
    const reader = await signInWorker(worker, 'worker-payer@ledger.example')
    const res = await worker.fetch('/billing/checkout', form(reader, { tier: 'reader', interval: 'month' }))
    expect(res.status).toBe(303)
    const url = res.headers.get('location')!
    expect(url).toMatch(new RegExp(`^${standIn.url}/checkout/cs_test_\\w+$`))

    const account = await accountByEmail(database.db, config, 'worker-payer@ledger.example')
    const session = await stripe.checkout.sessions.retrieve(url.split('/').at(-1)!)
    expect(session).toMatchObject({
      mode: 'subscription',
      client_reference_id: account!.id,
      metadata: { masthead: '1', kind: 'tier', tier_id: 'reader' },
    })
    const [link] = await database.db.select().from(stripeCustomers).where(eq(stripeCustomers.userId, account!.id))
    expect(session.customer).toBe(link!.customerId)

    await standIn.completeCheckout(session.id)
    expect(standIn.deliveries().map((d) => d.status)).toEqual(standIn.deliveries().map(() => 200))
    const me = await (await worker.fetch('/api/account', get(reader))).json()
    expect(me.membership).toMatchObject({ status: 'active', tierId: 'reader', interval: 'month', amount: 500 })
    const page = await (await worker.fetch('/account', get(reader))).text()
    expect(page).toContain('Reader, $5.00 a month. Thank you for your support.')

    // A member opens the billing portal; a second checkout sends them there too.
    const portal = await worker.fetch('/billing/portal', form(reader))
    expect(portal.status).toBe(303)
    expect(portal.headers.get('location')).toMatch(new RegExp(`^${standIn.url}/portal/`))
    const again = await worker.fetch('/billing/checkout', {
      method: 'POST',
      headers: { Cookie: reader, 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ tier: 'patron', interval: 'year' }),
    })
    expect(await again.json()).toMatchObject({ kind: 'portal' })
  })

  it('a one-time donation goes to a payment checkout for the amount typed', async () => {
    const reader = await signInWorker(worker, 'worker-donor@ledger.example')
    const res = await worker.fetch(
      '/billing/donate',
      form(reader, { amount: '12.50', currency: 'eur', frequency: 'once' }),
    )
    expect(res.status).toBe(303)
    const url = res.headers.get('location')!
    expect(url).toMatch(new RegExp(`^${standIn.url}/checkout/cs_test_\\w+$`))
    const session = await stripe.checkout.sessions.retrieve(url.split('/').at(-1)!)
    expect(session).toMatchObject({ mode: 'payment', amount_total: 1250, currency: 'eur' })
    expect(session.metadata).toMatchObject({ kind: 'donation' })
  })

  it('refuses a reader without a billing account at the portal, and a tier that does not exist', async () => {
    const reader = await signInWorker(worker, 'worker-never-paid@ledger.example')
    const portal = await worker.fetch('/billing/portal', form(reader))
    expect(portal.status).toBe(404)
    expect(await portal.text()).toContain('You have no billing account yet: become a supporter first.')
    const unknown = await worker.fetch('/billing/checkout', form(reader, { tier: 'gold', interval: 'month' }))
    expect(unknown.status).toBe(422)
    expect(await unknown.text()).toContain('There is no tier called &quot;gold&quot;.')
  })
})

describe('the staff area inside workerd, as an admin', () => {
  const page = async (path: string) => {
    const res = await worker.fetch(path, get(cookies.admin))
    expect(res.status, path).toBe(200)
    expect(res.headers.get('content-type'), path).toContain('text/html')
    return res.text()
  }
  const api = async (path: string, init: { method?: string; body?: unknown } = {}) => {
    const res = await worker.fetch(path, {
      method: init.method ?? 'GET',
      headers: { Cookie: cookies.admin!, 'Content-Type': 'application/json' },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    })
    return { status: res.status, body: await res.json() }
  }

  it('shows each staff page with what the database holds', async () => {
    expect(await page('/admin')).toContain('<h1>Staff</h1>')
    expect(await page('/admin/staff')).toContain(`<td>${ROLE_EMAILS.editor}</td><td>editor</td>`)
    const tierList = await page('/admin/tiers')
    expect(tierList).toContain('<h1>Tiers</h1>')
    expect(tierList).toMatch(/Reader[\s\S]*Patron/)
    expect(await page('/admin/tiers/patron')).toContain('<h1>Tier: Patron</h1>')
    expect(await page('/admin/articles')).toMatch(/<h1>Articles<\/h1>[\s\S]*Roles/)
    expect(await page('/admin/articles/new')).toContain('<h1>New article</h1>')
    expect(await page(`/admin/articles/${ARTICLE}`)).toContain('<h1>Edit: Roles</h1>')
    expect(await page('/admin/supporters?q=supporter')).toMatch(/<h1>Supporters<\/h1>[\s\S]*supporter@ledger\.example/)
    expect(await page(`/admin/supporters/${SUPPORTER}`)).toContain('<h1>supporter@ledger.example</h1>')
    expect(await page('/admin/metrics')).toMatch(/<h1>Metrics<\/h1>[\s\S]*Active supporters/)
    expect(await page('/admin/imports/patreon')).toContain('<h1>Import patrons from Patreon</h1>')
    // Viewing a supporter is audited, and the audit page shows it with who looked.
    expect(await page('/admin/audit')).toMatch(
      new RegExp(`<td>${ROLE_EMAILS.admin}</td><td>supporter\\.viewed</td>[\\s\\S]*<td>role\\.changed</td>`),
    )
  })

  it('creates a tier from the form, on sale in the stand-in at once, and a reader checks out for it', async () => {
    const created = await worker.fetch(
      '/admin/tiers',
      form(cookies.admin, {
        id: 'worker-friend',
        name: 'Worker friend',
        currency: 'usd',
        monthlyAmount: '7',
        yearlyAmount: '70',
        active: 'on',
      }),
    )
    expect(created.status).toBe(303)
    expect(created.headers.get('location')).toBe('/admin/tiers?notice=created')
    const [tier] = await database.db.select().from(tiers).where(eq(tiers.id, 'worker-friend'))
    expect(tier).toMatchObject({ name: 'Worker friend', monthlyAmount: 700, yearlyAmount: 7000 })
    const price = await stripe.prices.retrieve(tier!.stripeMonthlyPriceId!)
    expect(price).toMatchObject({ unit_amount: 700, currency: 'usd', recurring: { interval: 'month' } })

    const reader = await signInWorker(worker, 'worker-friend@ledger.example')
    const res = await worker.fetch('/billing/checkout', form(reader, { tier: 'worker-friend', interval: 'month' }))
    expect(res.status).toBe(303)
    const session = await stripe.checkout.sessions.retrieve(res.headers.get('location')!.split('/').at(-1)!)
    expect(session.metadata).toMatchObject({ tier_id: 'worker-friend' })
  })

  it('answers the JSON API for staff, tiers, articles, supporters, comps, metrics and the audit log', async () => {
    const staff = await api('/api/admin/staff')
    expect(staff.body.staff).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ email: ROLE_EMAILS.admin, role: 'admin' }),
        expect.objectContaining({ email: ROLE_EMAILS.editor, role: 'editor' }),
      ]),
    )
    expect((await api('/api/admin/tiers')).body.tiers.map((t: { id: string }) => t.id)).toEqual(
      expect.arrayContaining(['reader', 'patron']),
    )
    const created = await api('/api/admin/tiers', {
      method: 'POST',
      body: { id: 'worker-api', name: 'Worker API', currency: 'gbp', monthlyAmount: 300, yearlyAmount: 3000 },
    })
    expect(created).toMatchObject({ status: 201, body: { tier: { id: 'worker-api' }, stripeSync: 'synced' } })
    expect(await stripe.prices.retrieve(created.body.tier.stripeYearlyPriceId)).toMatchObject({
      unit_amount: 3000,
      currency: 'gbp',
    })
    const patched = await api('/api/admin/tiers/patron', { method: 'PATCH', body: { description: 'From workerd.' } })
    expect(patched).toMatchObject({
      status: 200,
      body: { tier: { description: 'From workerd.' }, stripeSync: 'synced' },
    })

    expect((await api('/api/admin/articles')).body.articles.map((a: { id: string }) => a.id)).toContain(ARTICLE)
    const article = (await api(`/api/admin/articles/${ARTICLE}`)).body.article
    const put = await api(`/api/admin/articles/${ARTICLE}`, {
      method: 'PUT',
      body: {
        title: 'Roles, edited',
        slug: article.slug,
        excerpt: article.excerpt,
        author: article.author,
        body: 'Edited.',
        access: 'public',
      },
    })
    expect(put).toMatchObject({
      status: 200,
      body: { article: { title: 'Roles, edited', bodyHtml: '<p>Edited.</p>\n' } },
    })

    const supporter = async () => (await api('/api/admin/supporters?q=supporter')).body.supporters
    expect(await supporter()).toEqual([expect.objectContaining({ userId: SUPPORTER, status: 'never_paid' })])
    expect((await api(`/api/admin/supporters/${SUPPORTER}`)).body.user).toMatchObject({
      id: SUPPORTER,
      email: 'supporter@ledger.example',
    })
    const active = async () => (await api('/api/admin/metrics')).body.activeSupporters as number
    const activeBefore = await active()

    // A comp makes the supporter active, in the list and the metrics; revoked, it ends.
    const comp = await api(`/api/admin/supporters/${SUPPORTER}/comps`, {
      method: 'POST',
      body: { tier: 'reader', months: 3, note: 'Press' },
    })
    expect(comp.status).toBe(201)
    const [granted] = await database.db.select().from(grants).where(eq(grants.userId, SUPPORTER))
    expect(granted).toMatchObject({ id: comp.body.grant.id, tierId: 'reader', revokedAt: null })
    expect(await supporter()).toEqual([expect.objectContaining({ status: 'active', source: 'comp' })])
    expect(await active()).toBe(activeBefore + 1)
    const revoked = await api(`/api/admin/comps/${granted!.id}/revoke`, { method: 'POST', body: {} })
    expect(revoked.status).toBe(200)
    const [after] = await database.db.select().from(grants).where(eq(grants.id, granted!.id))
    expect(after!.revokedAt).toBeInstanceOf(Date)
    expect(await active()).toBe(activeBefore)

    const audit = (await api('/api/admin/audit')).body.entries.map((e: { action: string }) => e.action)
    expect(audit).toEqual(
      expect.arrayContaining(['comp.granted', 'comp.revoked', 'tier.created', 'tier.updated', 'role.changed']),
    )
  })

  it('erases a supporter on request: the account and what it held are gone', async () => {
    const gone = await signInWorker(worker, 'worker-erase-me@ledger.example')
    const account = await accountByEmail(database.db, config, 'worker-erase-me@ledger.example')
    const erased = await api(`/api/admin/supporters/${account!.id}`, { method: 'DELETE' })
    expect(erased).toEqual({ status: 200, body: { ok: true, erased: account!.id } })
    expect(await database.db.select().from(users).where(eq(users.id, account!.id))).toEqual([])
    expect((await worker.fetch('/api/account', get(gone))).status).toBe(401)
  })
})

describe("a reader's own account inside workerd", () => {
  it('shows the account page, and downloads what the account holds', async () => {
    const reader = await signInWorker(worker, 'worker-own@ledger.example')
    const page = await worker.fetch('/account', get(reader))
    expect(page.status).toBe(200)
    expect(await page.text()).toMatch(/<h1>Your account<\/h1>[\s\S]*worker-own@ledger\.example/)

    const data = await worker.fetch('/account/data', get(reader))
    expect(data.status).toBe(200)
    expect(data.headers.get('content-disposition')).toBe('attachment; filename="my-account-data.json"')
    const account = await accountByEmail(database.db, config, 'worker-own@ledger.example')
    expect((await data.json()).account).toMatchObject({ id: account!.id, email: 'worker-own@ledger.example' })
    const api = await worker.fetch('/api/account/data', get(reader))
    expect((await api.json()).account.id).toBe(account!.id)
  })

  it('mails a link to a new address, and changes nothing until it is followed', async () => {
    const reader = await signInWorker(worker, 'worker-moving@ledger.example')
    const res = await worker.fetch('/account/email', form(reader, { email: 'worker-moved@ledger.example' }))
    expect(res.status).toBe(200)
    expect(await res.text()).toContain('<h1>Check your new inbox</h1>')
    const mail = await (await worker.fetch('/dev/mailbox.json?to=worker-moved%40ledger.example')).json()
    expect(mail.messages.map((m: { subject: string }) => m.subject)).toEqual([
      'Confirm your new e-mail address for Masthead',
    ])
    expect(await accountByEmail(database.db, config, 'worker-moving@ledger.example')).toBeDefined()
  })

  it('signs out: the cookie is cleared and the old session no longer signs anyone in', async () => {
    const reader = await signInWorker(worker, 'worker-leaving@ledger.example')
    const res = await worker.fetch('/auth/sign-out', form(reader))
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe('/')
    expect(res.headers.getSetCookie().find((c) => c.startsWith('masthead_session='))).toMatch(/Max-Age=0/)
    expect((await worker.fetch('/api/account', get(reader))).status).toBe(401)
  })

  it('signs out everywhere: every session of the account ends', async () => {
    const here = await signInWorker(worker, 'worker-everywhere@ledger.example')
    const there = await signInWorker(worker, 'worker-everywhere@ledger.example')
    expect((await worker.fetch('/api/account', get(there))).status).toBe(200)
    const res = await worker.fetch('/auth/sign-out-everywhere', form(here))
    expect(res.status).toBe(303)
    expect((await worker.fetch('/api/account', get(here))).status).toBe(401)
    expect((await worker.fetch('/api/account', get(there))).status).toBe(401)
  })

  it('deletes the account once DELETE is typed, and not before', async () => {
    const reader = await signInWorker(worker, 'worker-deleting@ledger.example')
    const account = await accountByEmail(database.db, config, 'worker-deleting@ledger.example')
    const unconfirmed = await worker.fetch('/account/delete', form(reader, { confirm: 'yes' }))
    expect(unconfirmed.status).toBe(422)
    expect(await unconfirmed.text()).toContain('Type DELETE to confirm.')
    expect(await database.db.select({ id: users.id }).from(users).where(eq(users.id, account!.id))).toHaveLength(1)

    const res = await worker.fetch('/account/delete', form(reader, { confirm: 'DELETE' }))
    expect(res.status).toBe(200)
    expect(await res.text()).toContain('<h1>Your account has been deleted</h1>')
    expect(await database.db.select({ id: users.id }).from(users).where(eq(users.id, account!.id))).toEqual([])
  })
})

describe('the join pages inside workerd', () => {
  it('offers every active tier at its prices, and a donation', async () => {
    const res = await worker.fetch('/join', get())
    expect(res.status).toBe(200)
    const html = await res.text()
    expect(html).toContain('<h1>Support our journalism</h1>')
    expect(html).toMatch(
      /<h3 id="tier-reader">Reader<\/h3>[\s\S]*\$5\.00<\/strong> a month[\s\S]*\$50\.00<\/strong> a year/,
    )
    expect(html).toMatch(/<h3 id="tier-patron">Patron<\/h3>[\s\S]*\$15\.00<\/strong> a month/)
    expect(html).toContain('Give what you like')
  })

  it('sends /support on to /join with its query, and says when checkout was canceled', async () => {
    const moved = await worker.fetch('/support?tier=patron', get())
    expect(moved.status).toBe(301)
    expect(moved.headers.get('location')).toBe('/join?tier=patron')
    const canceled = await worker.fetch('/join?checkout=canceled', get())
    expect(await canceled.text()).toContain('Checkout was canceled; nothing was charged.')
    const thanks = await worker.fetch('/billing/thanks', get())
    expect(thanks.status).toBe(200)
    expect(await thanks.text()).toContain('<h1>Thank you</h1>')
  })
})

/** GETs of public routes whose answer is not a 200 by design. */
const PUBLIC_GET_STATUS: Record<string, number> = {
  '/support': 301, // the join page's old address
  '/auth/verify': 400, // a link that was never sent: "This link cannot be used"
  '/gift/redeem': 400, // a gift link that was never sent: the page says it cannot be used
}

describe('every route of the role test inside workerd', () => {
  const past = (res: Response, label: string) => {
    expect(res.status, label).toBeLessThan(500)
    expect([401, 403], label).not.toContain(res.status)
    expect(res.headers.get('location') ?? '', label).not.toMatch(/\/auth\/sign-in/)
  }

  it('answers every public route anonymously, past any guard: GETs as expected, changes below 500', async () => {
    for (const route of PUBLIC) {
      const label = `${route.method} ${route.path}`
      const body = route.body === undefined ? undefined : JSON.stringify(route.body)
      const res = await worker.fetch(route.example ?? route.path, {
        method: route.method,
        headers: body ? { 'Content-Type': 'application/json' } : {},
        body,
        redirect: 'manual',
      })
      past(res, label)
      if (route.method === 'GET') expect(res.status, label).toBe(PUBLIC_GET_STATUS[route.path] ?? 200)
      await res.arrayBuffer()
    }
  })

  it('answers every protected GET 200 to the least role allowed', async () => {
    for (const route of PROTECTED.filter((r) => r.method === 'GET')) {
      const res = await worker.fetch(route.example ?? route.path, get(cookies[route.role]))
      expect(res.status, `${route.method} ${route.path} as ${route.role}`).toBe(route.reached ?? 200)
      await res.arrayBuffer()
    }
  })

  it('takes every protected change from the least role allowed, below 500 (an empty form: refused or done)', async () => {
    // Changes go to rows of their own, and a reader's to a reader of their own: the sweep signs
    // out, deletes and erases, and the other tests keep their world.
    const now = new Date()
    await insertAccount(database.db, config, now, { id: 'sweep-supporter', email: 'sweep-supporter@ledger.example' })
    const [article] = await database.db.select().from(articles).where(eq(articles.id, ARTICLE))
    await database.db.insert(articles).values({ ...article!, id: 'sweep-article', slug: 'sweep-article' })
    let readers = 0
    for (const route of PROTECTED.filter((r) => r.method !== 'GET')) {
      const isApi = route.path.startsWith('/api/')
      const cookie =
        route.role === 'reader'
          ? await signInWorker(worker, `sweep-reader-${(readers += 1)}@ledger.example`)
          : cookies[route.role]!
      const path = (route.example ?? route.path).replace(SUPPORTER, 'sweep-supporter').replace(ARTICLE, 'sweep-article')
      const res = await worker.fetch(path, {
        method: route.method,
        headers: {
          Cookie: cookie,
          'Content-Type': isApi ? 'application/json' : 'application/x-www-form-urlencoded',
        },
        body: isApi ? '{}' : '',
        redirect: 'manual',
      })
      past(res, `${route.method} ${path} as ${route.role}`)
      await res.arrayBuffer()
    }
    expect(readers).toBeGreaterThan(5)
  })
})

describe('the CSV export inside workerd', () => {
  const SEEDED = 5_000

  it('streams every supporter of thousands to the end, on a database connection held until the last batch', async () => {
    const seeded = await seedSupporters(database.db, {
      supporters: SEEDED,
      keyring: await keyringOf(config),
      now: new Date(),
      seed: 16,
    })
    expect(seeded.users).toBe(SEEDED)
    const [{ accounts }] = (await rowsOf<{ accounts: string }>(
      database.db,
      sql`select count(*) as accounts from users`,
    )) as [{ accounts: string }]

    const res = await worker.fetch('/api/admin/supporters.csv', get(cookies.editor))
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8')
    const requestId = res.headers.get('x-request-id')
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/)
    const [header, ...rows] = parse(await res.text(), { bom: true }) as string[][]
    expect(header).toEqual([
      'email',
      'name',
      'status',
      'source',
      'tier',
      'interval',
      'amount',
      'currency',
      'supporter_since',
      'lifetime_amount',
      'lifetime_currency',
      'last_payment',
      'patreon',
    ])
    // Every account once: more than five batches of a thousand, none cut short or repeated.
    expect(rows.length).toBeGreaterThan(5 * 1000)
    expect(rows).toHaveLength(Number(accounts))
    expect(new Set(rows.map((row) => row[0])).size).toBe(rows.length)
    expect(rows.every((row) => row.length === header!.length && /^[^@\s]+@[^@\s]+$/.test(row[0]!))).toBe(true)

    // The Worker logged the request as answered, and no error: none while streaming, none on
    // closing the database connection after the last batch (services_release_failed).
    await expect.poll(() => eventsOf(worker, requestId), { timeout: 5000 }).toEqual(['request'])
    const logged = structuredLogs(worker)
    expect(logged.find((l) => l.requestId === requestId)).toMatchObject({ status: 200 })
    expect(logged.filter((l) => l.level === 'error' || l.event === 'services_release_failed')).toEqual([])
  })
})

describe('a Worker deployed before `npm run db:migrate`', () => {
  let unmigrated: TestWorker
  beforeAll(async () => {
    unmigrated = await startTestWorker()
    await unmigrate(unmigrated.databaseUrl)
  }, 120_000)
  afterAll(() => unmigrated?.stop())

  const MESSAGE =
    'The database is not set up for this version of the site yet. Its operator must run npm run db:migrate.'

  it('answers 503 database_not_migrated, saying what to run, to API clients and to people', async () => {
    const api = await unmigrated.fetch('/api/articles/any-article')
    expect(api.status).toBe(503)
    expect(api.headers.get('retry-after')).toBe('60')
    expect(await api.json()).toEqual({
      error: { code: 'database_not_migrated', message: MESSAGE, requestId: api.headers.get('x-request-id') },
    })
    const page = await unmigrated.fetch('/join')
    expect(page.status).toBe(503)
    expect(await page.text()).toContain(MESSAGE)
  })

  it('logs each such request once as database_not_migrated, naming the missing table and no one', async () => {
    const res = await unmigrated.fetch('/auth/sign-in', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: 'worker-operator@unmigrated.example' }),
    })
    expect(res.status).toBe(503)
    const requestId = res.headers.get('x-request-id')
    await expect
      .poll(() => eventsOf(unmigrated, requestId), { timeout: 5000 })
      .toEqual(['database_not_migrated', 'request'])
    const [logged] = structuredLogs(unmigrated).filter((l) => l.requestId === requestId)
    expect(JSON.stringify(logged)).toMatch(/"sqlState":"42P01"/)
    const all = unmigrated.logs().join('\n')
    expect(all).not.toContain('worker-operator')
    expect(all).not.toContain('unhandled_error')
  })

  it('has /healthz answer 503 database_not_migrated, and the Cron Trigger log that it could not run', async () => {
    const health = await unmigrated.fetch('/healthz')
    expect(health.status).toBe(503)
    expect((await health.json()).error).toMatchObject({ code: 'database_not_migrated', message: MESSAGE })
    await unmigrated.scheduled()
    await expect
      .poll(() => structuredLogs(unmigrated).filter((l) => l.event === 'jobs_run_failed'), { timeout: 5000 })
      .toEqual([expect.objectContaining({ level: 'error', event: 'jobs_run_failed' })])
    expect(JSON.stringify(structuredLogs(unmigrated).find((l) => l.event === 'jobs_run_failed'))).toMatch(
      /"sqlState":"42P01"/,
    )
  })
})
