import { parse } from 'csv-parse/sync'
import { eq, sql } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import { hashTerm } from '../../src/audit/search-terms'
import { auditLog, grants, supporters, users } from '../../src/db/schema'
import { keyringOf } from '../../src/privacy/keys'
import { compareSortTexts, sortTextOf } from '../../src/privacy/name-order'
import { neutralizeCell } from '../../src/supporters/csv'
import { allSupporters, parseListQuery, SEARCH_TOO_SHORT } from '../../src/supporters/list'
import { signIn } from '../helpers/auth'
import { donate, startTierCheckout, useBillingWorld } from '../helpers/billing'
import { accountByEmail, expectSealed, insertAccount } from '../helpers/sealed'
import { nameAccount } from './people'

// The editors' dashboard over real memberships made through the Stripe stand-in.
const w = useBillingWorld({ live: true, env: { ADMIN_EMAILS: 'admin@dash.example' } })
const DAY = 86_400_000

let admin: string
let editor: string
let reader: string
const ids: Record<string, string> = {}

async function idOf(email: string) {
  return (await accountByEmail(w.t.services.db, w.t.services.config, email))!.id
}

const rename = async (email: string, name: string) =>
  nameAccount(w.t.services.db, w.t.services.config, await idOf(email), name)

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

const BAD_CURSOR = 'The page cursor is not valid: start again from the first page.'
/** A cursor as the list writes one: its sort key and a user id, as base64url JSON. */
const cursorOf = (value: [string | null, string]) => Buffer.from(JSON.stringify(value)).toString('base64url')

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
  await rename('monthly@dash.example', 'Zoë Ñúñez')
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

  it('searches words of e-mail and name by their beginnings, ignoring case and accents', async () => {
    expect((await list({ q: 'MONTHLY' })).count).toBe(1)
    expect((await list({ q: 'ñúñez' })).supporters[0].email).toBe('monthly@dash.example')
    expect((await list({ q: 'nunez' })).supporters[0].email).toBe('monthly@dash.example')
    expect((await list({ q: 'zoe nun' })).supporters.map((s: { email: string }) => s.email)).toEqual([
      'monthly@dash.example',
    ])
    expect((await list({ q: 'dash.example', status: 'active', interval: 'month' })).count).toBe(1)
    // Beginnings of words, not any part of them: the blind index holds prefixes only.
    expect((await list({ q: 'onthly' })).count).toBe(0)
    // Every word must match.
    expect((await list({ q: 'monthly yearly' })).count).toBe(0)
  })

  it('says which words are too short to search for, and refuses a search with no word long enough', async () => {
    const searched = await list({ q: 'zoë de ñúñez' })
    expect(searched.supporters.map((s: { email: string }) => s.email)).toEqual(['monthly@dash.example'])
    expect(searched.ignoredWords).toEqual(['de'])
    expect((await list({ q: 'monthly' })).ignoredWords).toEqual([])
    for (const q of ['zo', '%', 'a b', '@.']) {
      const res = await get(`/api/admin/supporters?${new URLSearchParams({ q })}`)
      expect(res.status, q).toBe(422)
      expect((await res.json()).error.message).toBe(SEARCH_TOO_SHORT)
    }
    const page = await get(`/admin/supporters?${new URLSearchParams({ q: 'zo' })}`)
    expect(page.status).toBe(422)
    expect(await page.text()).toContain('Search for words of at least 3 letters')
    const noted = await (await get(`/admin/supporters?${new URLSearchParams({ q: 'zoë de ñúñez' })}`)).text()
    expect(noted).toContain('Not searched for, being shorter than 3 letters: de.')
    expect(noted).toContain('monthly@dash.example')
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
    const term = 'dash.example' // every fixture address has both words
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
      // Days that do not exist, which Date rolls over and PostgreSQL refuses.
      ['since_from=2026-02-31', 'That date does not exist.'],
      ['since_to=2026-04-31', 'That date does not exist.'],
      // Cursors well formed but made up: keys the database cannot read as the sort's type, and NULs.
      ...[
        ['since', 'not a time'],
        ['since', '2026-02-31 00:00:00+00'],
        ['lifetime', '12abc'],
        ['lifetime', '99999999999999999999'],
        ['name', 'a\u0000b'],
      ].map(([sort, key]) => [`sort=${sort}&cursor=${cursorOf([key!, 'u1'])}`, BAD_CURSOR] as const),
      [`cursor=${cursorOf([null, 'a\u0000'])}`, BAD_CURSOR],
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

/** People whose names and addresses exercise the folding of the search and the order of names. */
const PEOPLE = [
  { email: 'ana.lopez@bücher.example', name: 'Ana López' },
  { email: 'a.avila@bücher.example', name: 'Avila' },
  { email: 'r.avila@rundbrief.example', name: 'Ávila' },
  { email: 'devries@rundbrief.example', name: 'de Vries' },
  { email: 'vries.de@rundbrief.example', name: 'De Vries' },
  { email: 'emile@bücher.example', name: 'Émile Zola' },
  { email: 'zoe@rundbrief.example', name: 'zoe' },
  { email: 'zoe2@rundbrief.example', name: 'Zoë' },
  { email: 'nameless@rundbrief.example', name: null },
]

type Listed = { userId: string; email: string; name: string | null }

/** Every row of a list, by its cursors, in order. */
async function everyRow(query: Record<string, string>): Promise<Listed[]> {
  const rows: Listed[] = []
  let cursor: string | undefined
  do {
    const page = await list({ ...query, ...(cursor ? { cursor } : {}) })
    rows.push(...page.supporters)
    cursor = page.nextCursor ?? undefined
  } while (cursor)
  return rows
}

const emailsOf = (rows: { email: string }[]) => rows.map((r) => r.email)

describe('names and addresses encrypted at rest', () => {
  beforeAll(async () => {
    for (const person of PEOPLE) {
      await insertAccount(w.t.services.db, w.t.services.config, w.clock.now(), person)
    }
  })

  it('are stored as ciphertext in the supporters summary, copied from the account', async () => {
    await list({}) // brings the summary up to date
    const id = await idOf('ana.lopez@bücher.example')
    const [row] = await w.t.services.db.select().from(supporters).where(eq(supporters.userId, id))
    const [user] = await w.t.services.db.select().from(users).where(eq(users.id, id))
    // The card is the one value holding either: the columns from before it stay empty.
    expect([row!.email, row!.name, user!.email, user!.name]).toEqual([null, null, null, null])
    expectSealed(row!.card, 'ana.lopez', 'bücher', 'bucher', 'example', 'Ana López', 'lopez')
    expect(row).toMatchObject({ card: user!.card, nameOrder: user!.nameOrder })
    // The search tokens are keyed hashes of 16 characters, sorted: no prefix in clear.
    expect(row!.searchTokens.length).toBeGreaterThan(10)
    for (const token of row!.searchTokens) expect(token).toMatch(/^[\w-]{16}$/)
    expect([...row!.searchTokens].sort()).toEqual(row!.searchTokens)
    // And the list shows them decrypted.
    expect((await list({ q: 'ana lop' })).supporters).toMatchObject([
      { userId: id, email: 'ana.lopez@bücher.example', name: 'Ana López' },
    ])
  })

  it('are found by a prefix of a word of the name, with or without its accents', async () => {
    for (const q of ['ana', 'lóp', 'LOPEZ', 'ana lópez']) {
      expect(emailsOf((await list({ q })).supporters), q).toEqual(['ana.lopez@bücher.example'])
    }
    expect(emailsOf((await list({ q: 'avi' })).supporters).sort()).toEqual([
      'a.avila@bücher.example',
      'r.avila@rundbrief.example',
    ])
    expect(emailsOf((await list({ q: 'ÁVILA' })).supporters).sort()).toEqual([
      'a.avila@bücher.example',
      'r.avila@rundbrief.example',
    ])
    // "de" is too short to search for: "vries" finds both, by name (and one of them by address too).
    expect(emailsOf((await list({ q: 'de vries' })).supporters).sort()).toEqual([
      'devries@rundbrief.example',
      'vries.de@rundbrief.example',
    ])
    expect(emailsOf((await list({ q: 'zoe' })).supporters).sort()).toEqual([
      'monthly@dash.example',
      'zoe2@rundbrief.example',
      'zoe@rundbrief.example',
    ])
  })

  it('are found by a part of the address: the domain, a label of it, a word of the local part', async () => {
    const bucher = ['a.avila@bücher.example', 'ana.lopez@bücher.example', 'emile@bücher.example']
    for (const q of ['bücher.example', 'bucher', 'BÜCH']) {
      expect(emailsOf((await list({ q })).supporters).sort(), q).toEqual(bucher)
    }
    const rundbrief = await list({ q: 'rundbrief.example' })
    expect(rundbrief.count).toBe(6)
    expect(emailsOf(rundbrief.supporters).every((e) => e.endsWith('@rundbrief.example'))).toBe(true)
    expect(emailsOf((await list({ q: 'nameless' })).supporters)).toEqual(['nameless@rundbrief.example'])
    // The whole address is its words, all of which must match.
    expect(emailsOf((await list({ q: 'emile@bücher.example' })).supporters)).toEqual(['emile@bücher.example'])
    expect((await list({ q: 'emile@rundbrief.example' })).count).toBe(0)
  })

  it('sort by name in people’s order (accents and case after letters), the address standing in for a missing name', async () => {
    const rows = await everyRow({ sort: 'name', limit: '4' })
    expect(rows.length).toBe((await list({})).count)
    const texts = rows.map((r) => sortTextOf(r))
    expect(texts).toEqual([...texts].sort(compareSortTexts))
    const ours = new Set(PEOPLE.map((p) => sortTextOf(p)))
    expect(texts.filter((t) => ours.has(t))).toEqual([
      'Ana López',
      'Avila',
      'Ávila',
      'de Vries',
      'De Vries',
      'Émile Zola',
      'nameless@rundbrief.example',
      'zoe',
      'Zoë',
    ])
    // A search sorted by name keeps that order, page after page.
    const searched = await everyRow({ q: 'rundbrief', sort: 'name', limit: '2' })
    expect(searched.map((r) => sortTextOf(r))).toEqual([
      'Ávila',
      'de Vries',
      'De Vries',
      'nameless@rundbrief.example',
      'zoe',
      'Zoë',
    ])
  })

  it('a renamed account moves to its new place in the order', async () => {
    await rename('nameless@rundbrief.example', 'Aaron Named')
    const rows = await everyRow({ q: 'rundbrief', sort: 'name', limit: '3' })
    expect(rows.map((r) => sortTextOf(r))).toEqual(['Aaron Named', 'Ávila', 'de Vries', 'De Vries', 'zoe', 'Zoë'])
    expect(emailsOf((await list({ q: 'aaron' })).supporters)).toEqual(['nameless@rundbrief.example'])
  })
})

describe('CSV export', () => {
  it('exports the filtered list as UTF-8 CSV, neutralises formulas, and is audited', async () => {
    // (A leading tab or carriage return cannot reach a stored name, which is trimmed: tests/supporters/csv.test.ts.)
    const hostile = ['=HYPERLINK("http://evil")', '+1+1', '-2+3', '@SUM(A1)']
    for (const [i, name] of hostile.entries()) {
      await signIn(w.t.app, `hostile${i}@dash.example`)
      await rename(`hostile${i}@dash.example`, name)
    }
    const res = await get('/api/admin/supporters.csv?q=hostile')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8')
    expect(res.headers.get('cache-control')).toBe('private, no-store')
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    const bytes = new Uint8Array(await res.arrayBuffer())
    expect([...bytes.slice(0, 3)]).toEqual([0xef, 0xbb, 0xbf])
    const rows = parse(new TextDecoder().decode(bytes), { columns: true }) as Record<string, string>[]
    expect(rows).toHaveLength(4)
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
    expect(entry).toMatchObject({ actorId: await idOf('editor@dash.example'), details: { rows: 4 } })
  })
  it('holds every row with its address and name decrypted, in the list’s order, whatever the batch size', async () => {
    const listed = await everyRow({ sort: 'name', limit: '200' })
    const res = await get('/api/admin/supporters.csv?sort=name')
    const rows = parse(new TextDecoder().decode(new Uint8Array(await res.arrayBuffer())), {
      columns: true,
      bom: true,
    }) as Record<string, string>[]
    expect(rows.map((r) => r.email)).toEqual(emailsOf(listed))
    // (As spreadsheets should read them: the hostile names of the test above are neutralised.)
    expect(rows.map((r) => r.name)).toEqual(listed.map((r) => (r.name === null ? '' : neutralizeCell(r.name))))
    expect(rows).toContainEqual(expect.objectContaining({ email: 'ana.lopez@bücher.example', name: 'Ana López' }))
    for (const row of rows) {
      for (const cell of Object.values(row)) expect(cell).not.toMatch(/v1\.k\d+\./)
    }
    // Batches of two: each read while the one before is decrypted, none lost or repeated.
    const keyring = await keyringOf(w.t.services.config)
    const batched: string[] = []
    for await (const batch of allSupporters(
      w.t.services.db,
      keyring,
      parseListQuery({ sort: 'name' }),
      w.clock.now(),
      2,
    )) {
      expect(batch.length).toBeLessThanOrEqual(2)
      batched.push(...emailsOf(batch))
    }
    expect(batched).toEqual(emailsOf(listed))
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

  it('shows the address and name decrypted, and staff actions by their actor’s address', async () => {
    const monthly = await (await get(`/api/admin/supporters/${ids['monthly@dash.example']}`)).json()
    expect(monthly.user).toMatchObject({ email: 'monthly@dash.example', name: 'Zoë Ñúñez' })
    const html = await (await get(`/admin/supporters/${ids['monthly@dash.example']}`)).text()
    expect(html).toContain('<h1>Zoë Ñúñez</h1>')
    expect(html).toContain('monthly@dash.example')
    expect(html).not.toMatch(/v1\.k\d+\./)
    // The editor's role was changed by the admin: the timeline names the admin by address.
    const editorDetail = await (await get(`/api/admin/supporters/${await idOf('editor@dash.example')}`)).json()
    expect(editorDetail.timeline).toContainEqual(
      expect.objectContaining({ kind: 'role.changed', details: expect.objectContaining({ by: 'admin@dash.example' }) }),
    )
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
