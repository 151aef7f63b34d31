import { parse } from 'csv-parse/sync'
import { eq, sql } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import { hashTerm } from '../../src/audit/search-terms'
import { auditLog, grants, users } from '../../src/db/schema'
import { signIn } from '../helpers/auth'
import { donate, startTierCheckout, useBillingWorld } from '../helpers/billing'

// The editors' dashboard over real memberships made through the Stripe stand-in.
const w = useBillingWorld({ live: true, env: { ADMIN_EMAILS: 'admin@dash.example' } })
const DAY = 86_400_000

let admin: string
let editor: string
let reader: string
const ids: Record<string, string> = {}

async function idOf(email: string) {
  const [u] = await w.t.services.db.select({ id: users.id }).from(users).where(eq(users.email, email))
  return u!.id
}

async function subscribe(email: string, tier: string, interval: 'month' | 'year' = 'month') {
  const cookie = await signIn(w.t.app, email)
  const sessionId = await startTierCheckout(w, cookie, tier, interval)
  await w.standIn.completeCheckout(sessionId)
  ids[email] = await idOf(email)
  return (await w.stripe.checkout.sessions.retrieve(sessionId)).subscription as string
}

const get = (path: string, cookie = editor) => w.t.app.request(path, { headers: { Cookie: cookie } })
const post = (path: string, body: unknown, cookie = editor) =>
  w.t.app.request(path, {
    method: 'POST',
    headers: { Cookie: cookie, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  })
const list = async (query: Record<string, string>) =>
  (await get(`/api/admin/supporters?${new URLSearchParams(query)}`)).json()

/** Every page of a list, by its cursors: the user ids in order, and each page's count. */
async function walk(query: Record<string, string>) {
  const ids: string[] = []
  const counts: number[] = []
  let cursor: string | undefined
  do {
    const page = await list({ ...query, ...(cursor ? { cursor } : {}) })
    ids.push(...page.supporters.map((s: { userId: string }) => s.userId))
    counts.push(page.count)
    cursor = page.nextCursor ?? undefined
  } while (cursor)
  return { ids, counts }
}

beforeAll(async () => {
  admin = await signIn(w.t.app, 'admin@dash.example')
  editor = await signIn(w.t.app, 'editor@dash.example')
  await post('/api/admin/staff', { email: 'editor@dash.example', role: 'editor' }, admin)
  reader = await signIn(w.t.app, 'plain@dash.example')
  ids['plain@dash.example'] = await idOf('plain@dash.example')

  await subscribe('monthly@dash.example', 'reader')
  await subscribe('yearly@dash.example', 'patron', 'year')
  const failing = await subscribe('failing@dash.example', 'reader')
  await w.standIn.failPayment(failing)
  const ending = await subscribe('ending@dash.example', 'patron')
  await w.standIn.endSubscription(ending)
  await w.t.services.db.update(users).set({ name: 'Zoë Ñúñez' }).where(eq(users.email, 'monthly@dash.example'))
}, 60_000)

describe('the supporter list', () => {
  it('filters by status, tier, interval and source, with the count for the filter', async () => {
    const active = await list({ status: 'active' })
    expect(active.supporters.map((s: { email: string }) => s.email).sort()).toEqual([
      'monthly@dash.example',
      'yearly@dash.example',
    ])
    expect(active.count).toBe(2)
    expect((await list({ status: 'past_due' })).supporters.map((s: { email: string }) => s.email)).toEqual([
      'failing@dash.example',
    ])
    expect((await list({ status: 'ended' })).supporters.map((s: { email: string }) => s.email)).toEqual([
      'ending@dash.example',
    ])
    const never = await list({ status: 'never_paid' })
    expect(never.supporters.map((s: { email: string }) => s.email)).toContain('plain@dash.example')
    expect((await list({ tier: 'patron', status: 'active' })).count).toBe(1)
    expect((await list({ interval: 'year' })).supporters[0]).toMatchObject({
      email: 'yearly@dash.example',
      amount: 15000,
      interval: 'year',
      source: 'stripe',
      lifetimeAmount: 15000,
      lifetimeCurrency: 'usd',
    })
    expect((await list({ source: 'stripe' })).count).toBe(4)
  })

  it('searches e-mail and name, case-insensitively, treating % and _ as letters', async () => {
    expect((await list({ q: 'MONTHLY' })).count).toBe(1)
    expect((await list({ q: 'ñúñez' })).supporters[0].email).toBe('monthly@dash.example')
    expect((await list({ q: '%' })).count).toBe(0)
    expect((await list({ q: 'dash.example', status: 'active', interval: 'month' })).count).toBe(1)
  })

  it('pages with a cursor that stays stable while supporters are added', async () => {
    const first = await list({ sort: 'since', limit: '2' })
    expect(first.supporters).toHaveLength(2)
    await signIn(w.t.app, 'newcomer@dash.example') // a row appears while paging
    const second = await list({ sort: 'since', limit: '2', cursor: first.nextCursor })
    const seen = [...first.supporters, ...second.supporters].map((s: { userId: string }) => s.userId)
    expect(new Set(seen).size).toBe(seen.length)
    // Walking every page by each sort visits every row once.
    for (const sort of ['since', 'lifetime', 'name']) {
      const all = (await walk({ sort, limit: '3' })).ids
      expect(new Set(all).size).toBe(all.length)
      expect(all.length).toBe((await list({})).count)
    }
    const byLifetime = await list({ sort: 'lifetime', limit: '1' })
    expect(byLifetime.supporters[0].email).toBe('yearly@dash.example')
  })

  it('a searched list (one statement for page and count) pages like the plain one, with the count on every page', async () => {
    const term = 'dash.example' // long enough for the trigram search; every fixture address has it
    const everyone = (await list({ q: term, limit: '100' })).supporters.map((s: { userId: string }) => s.userId)
    expect(everyone.length).toBeGreaterThan(4)
    for (const sort of ['since', 'lifetime', 'name']) {
      const plain = (await walk({ sort, limit: '2' })).ids
      const searched = await walk({ q: term, sort, limit: '2' })
      expect(new Set(searched.counts)).toEqual(new Set([everyone.length]))
      // The same order as the unsearched list, keeping only the matching rows.
      expect(searched.ids).toEqual(plain.filter((id) => everyone.includes(id)))
    }
    expect(await list({ q: 'nobody-matches-this' })).toMatchObject({ supporters: [], count: 0, nextCursor: null })
  })

  it('refuses bad parameters with 422 and a message', async () => {
    for (const [query, message] of [
      [
        'status=gold',
        'The status must be one of active, trialing, past_due, canceled_at_period_end, ended, never_paid.',
      ],
      ['since_from=2026-13-01', 'That date does not exist.'],
      ['since_from=2026-05-01&since_to=2026-01-01', 'The "since" range ends before it starts.'],
      ['limit=1000', 'The limit must be at most 200.'],
      ['cursor=nonsense', 'The page cursor is not valid: start again from the first page.'],
    ] as const) {
      const res = await get(`/api/admin/supporters?${query}`)
      expect(res.status).toBe(422)
      expect((await res.json()).error.message).toBe(message)
    }
    const page = await get('/admin/supporters?status=gold')
    expect(page.status).toBe(422)
    expect(await page.text()).toContain('The status must be one of')
  })

  it('the page shows the same rows, with an export link for the filter', async () => {
    const html = await (await get('/admin/supporters?status=active&interval=month')).text()
    expect(html).toContain('monthly@dash.example')
    expect(html).not.toContain('yearly@dash.example')
    expect(html).toContain('/api/admin/supporters.csv?status=active&amp;interval=month')
  })
})

describe('CSV export', () => {
  it('exports the filtered list as UTF-8 CSV, neutralises formulas, and is audited', async () => {
    const hostile = ['=HYPERLINK("http://evil")', '+1+1', '-2+3', '@SUM(A1)', '\tTabbed', '\rReturn']
    for (const [i, name] of hostile.entries()) {
      await signIn(w.t.app, `hostile${i}@dash.example`)
      await w.t.services.db
        .update(users)
        .set({ name })
        .where(eq(users.email, `hostile${i}@dash.example`))
    }
    const res = await get('/api/admin/supporters.csv?q=hostile')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8')
    expect(res.headers.get('cache-control')).toBe('private, no-store')
    const bytes = new Uint8Array(await res.arrayBuffer())
    expect([...bytes.slice(0, 3)]).toEqual([0xef, 0xbb, 0xbf])
    const rows = parse(new TextDecoder().decode(bytes), { columns: true }) as Record<string, string>[]
    expect(rows).toHaveLength(6)
    for (const name of hostile) {
      const row = rows.find((r) => r.name === `'${name}`)
      expect(row, `a neutralised cell for ${JSON.stringify(name)}`).toBeDefined()
    }
    expect(Object.keys(rows[0]!)).toEqual([
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
    const utf8 = parse(
      new TextDecoder().decode(new Uint8Array(await (await get('/api/admin/supporters.csv?q=monthly')).arrayBuffer())),
      { columns: true },
    ) as Record<string, string>[]
    expect(utf8[0]).toMatchObject({ email: 'monthly@dash.example', name: 'Zoë Ñúñez', amount: '5', status: 'active' })

    // The search is audited as a keyed hash of what was typed, never the text (src/audit/search-terms.ts).
    const hashed = await hashTerm(w.t.services.config.ENTITLEMENT_TOKEN_SECRET, 'hostile')
    const [entry] = await w.t.services.db
      .select()
      .from(auditLog)
      .where(sql`${auditLog.action} = 'supporters.exported' and ${auditLog.details}->'filter'->>'q' = ${hashed}`)
    expect(entry).toMatchObject({ actorId: await idOf('editor@dash.example'), details: { rows: 6 } })
  })
})

describe('a supporter’s details', () => {
  it('profile, membership, timeline and Stripe link; each view is audited', async () => {
    const id = ids['failing@dash.example']!
    const res = await get(`/api/admin/supporters/${id}`)
    expect(res.status).toBe(200)
    const detail = await res.json()
    expect(detail.user.email).toBe('failing@dash.example')
    expect(detail.entitlements.membership).toMatchObject({ status: 'past_due', source: 'stripe' })
    expect(detail.stripeCustomers[0].dashboardUrl).toMatch(/^https:\/\/dashboard\.stripe\.com\/test\/customers\/cus_/)
    const kinds = detail.timeline.map((e: { kind: string }) => e.kind)
    for (const kind of [
      'account.created',
      'stripe.customer.subscription.created',
      'payment.subscription',
      'stripe.invoice.payment_failed',
    ]) {
      expect(kinds).toContain(kind)
    }
    const views = await w.t.services.db.select().from(auditLog).where(eq(auditLog.subjectUserId, id))
    expect(views.filter((v) => v.action === 'supporter.viewed')).toHaveLength(1)
    const html = await (await get(`/admin/supporters/${id}`)).text()
    expect(html).toContain('A payment failed')
    expect(html).toContain('dashboard.stripe.com/test/customers/')
  })

  it('an unknown supporter is 404', async () => {
    expect((await get('/api/admin/supporters/nobody')).status).toBe(404)
  })
})

describe('comps', () => {
  it('an editor grants a tier for N months: it shows as source comp, grants its benefits, and can be revoked', async () => {
    const id = ids['plain@dash.example']!
    const res = await post(`/api/admin/supporters/${id}/comps`, { tier: 'patron', months: 3, note: 'Volunteer' })
    expect(res.status).toBe(201)
    const { grant } = await res.json()
    expect(new Date(grant.endsAt).toISOString()).toBe('2027-02-25T12:00:00.000Z')
    expect((await list({ source: 'comp' })).supporters.map((s: { email: string }) => s.email)).toEqual([
      'plain@dash.example',
    ])
    const ent = await (await w.t.app.request('/api/entitlements', { headers: { Cookie: reader } })).json()
    expect(ent).toMatchObject({ ads: false, membership: { source: 'comp', status: 'active' } })

    const revoked = await post(`/api/admin/comps/${grant.id}/revoke`, {})
    expect(revoked.status).toBe(200)
    expect((await post(`/api/admin/comps/${grant.id}/revoke`, {})).status).toBe(409)
    const after = await (await w.t.app.request('/api/entitlements', { headers: { Cookie: reader } })).json()
    expect(after.benefits).toEqual([])
    const actions = (await w.t.services.db.select().from(auditLog).where(eq(auditLog.subjectUserId, id))).map(
      (a) => a.action,
    )
    expect(actions).toEqual(expect.arrayContaining(['comp.granted', 'comp.revoked']))
  })

  it('a comp with no end; when the member starts paying, only the paid membership remains', async () => {
    const cookie = await signIn(w.t.app, 'comped@dash.example')
    const id = await idOf('comped@dash.example')
    expect((await post(`/api/admin/supporters/${id}/comps`, { tier: 'patron' })).status).toBe(201)
    const sessionId = await startTierCheckout(w, cookie, 'reader', 'month')
    await w.standIn.completeCheckout(sessionId)
    const [comp] = await w.t.services.db.select().from(grants).where(eq(grants.userId, id))
    expect(comp!.revokedAt).not.toBeNull()
    const ent = await (await w.t.app.request('/api/entitlements', { headers: { Cookie: cookie } })).json()
    expect(ent.membership).toMatchObject({ source: 'stripe', tierId: 'reader' })
    expect((await list({ q: 'comped' })).supporters[0]).toMatchObject({ source: 'stripe', status: 'active' })
    // And a payer cannot be given a comp that would change nothing.
    const again = await post(`/api/admin/supporters/${id}/comps`, { tier: 'patron' })
    expect(again.status).toBe(409)
  })

  it('bad comp input is refused and changes nothing', async () => {
    const id = ids['plain@dash.example']!
    const before = await w.t.services.db.select().from(grants)
    for (const [body, status, message] of [
      [{ tier: 'gold' }, 422, 'There is no tier called "gold".'],
      [{ tier: 'patron', months: 0 }, 422, 'A comp lasts at least 1 month.'],
      [{ tier: 'patron', months: 2.5 }, 422, 'Months must be a whole number.'],
      [{}, 422, 'Choose a tier.'],
    ] as const) {
      const res = await post(`/api/admin/supporters/${id}/comps`, body)
      expect(res.status).toBe(status)
      expect((await res.json()).error.message).toBe(message)
    }
    expect(await w.t.services.db.select().from(grants)).toEqual(before)
  })
})

describe('metrics', () => {
  it('active supporters, MRR per currency with yearly prices / 12, new and lapsed, donations, a 12-month trend', async () => {
    await donate(w, await signIn(w.t.app, 'donor@dash.example'), 2500)
    const metrics = await (await get('/api/admin/metrics')).json()
    // monthly 500 + yearly 15000/12 = 1250 + past due 500 + comped-then-paid 500
    expect(metrics.mrr).toEqual([{ currency: 'usd', amount: 500 + 1250 + 500 + 500 }])
    expect(metrics.activeSupporters).toBe(4)
    expect(metrics.churnedLast30Days).toBe(1)
    expect(metrics.newLast30Days).toBeGreaterThanOrEqual(5)
    expect(metrics.donationsThisMonth).toEqual([{ currency: 'usd', amount: 2500, count: 1 }])
    expect(metrics.trend).toHaveLength(12)
    expect(metrics.trend.at(-1).active).toBe(4)
    expect(metrics.trend[0].active).toBe(0)
    const html = await (await get('/admin/metrics')).text()
    expect(html).toContain('<svg class="trend"')
    expect(html).not.toContain('<script')
  })
})

describe('the audit log', () => {
  it('admins read it; editors and readers may not', async () => {
    const page = await get('/api/admin/audit', admin)
    expect(page.status).toBe(200)
    const actions = (await page.json()).entries.map((e: { action: string }) => e.action)
    expect(actions).toEqual(
      expect.arrayContaining(['role.changed', 'supporter.viewed', 'supporters.exported', 'comp.granted', 'comp.ended']),
    )
    expect((await get('/api/admin/audit', editor)).status).toBe(403)
    expect((await get('/api/admin/audit', reader)).status).toBe(403)
    expect((await get('/admin/audit', admin)).status).toBe(200)
  })

  it('is append-only, in the database itself', async () => {
    await expect(w.t.services.db.execute(sql`update audit_log set action = 'x'`)).rejects.toThrow()
    await expect(w.t.services.db.execute(sql`delete from audit_log`)).rejects.toThrow()
  })

  it('readers get 403 on the supporter API and editors cannot change roles', async () => {
    expect((await get('/api/admin/supporters', reader)).status).toBe(403)
    expect((await get('/api/admin/supporters.csv', reader)).status).toBe(403)
    expect((await post('/api/admin/staff', { email: 'plain@dash.example', role: 'editor' }, editor)).status).toBe(403)
  })
})

describe('time moves the states on', () => {
  it('a past-due member stays past due; a cancelled one lapses when the period ends', async () => {
    const start = w.clock.now()
    try {
      w.clock.set(new Date(start.getTime() + 40 * DAY).toISOString())
      expect((await list({ q: 'failing' })).supporters[0].status).toBe('past_due')
    } finally {
      w.clock.set(start.toISOString())
    }
  })
})
