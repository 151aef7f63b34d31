import { and, eq, sql } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { findUserByEmail } from '../../src/accounts/users'
import { rowsOf } from '../../src/db/client'
import { auditLog, jobs, payments } from '../../src/db/schema'
import { signIn } from '../helpers/auth'
import { donate, startTierCheckout, useBillingWorld } from '../helpers/billing'

/**
 * Year-end statements (src/billing/statements) as donors see them: a ledger made through the app
 * and the Stripe stand-in over two years, in two currencies, with refunds and a membership; each
 * donor sees their own years only. Sending them is tests/billing/statements-sending.test.ts.
 */
const w = useBillingWorld({
  live: true,
  env: {
    ADMIN_EMAILS: 'admin@ledger.example',
    ORG_LEGAL_NAME: 'The Ledger Foundation, Inc.',
    ORG_TAX_ID: 'EIN 12-3456789',
  },
})

const NOW = '2026-11-25T12:00:00Z'

/** Runs `action` with the clock at `iso`, then puts it back. */
async function at<T>(iso: string, action: () => Promise<T>): Promise<T> {
  w.clock.set(iso)
  try {
    return await action()
  } finally {
    w.clock.set(NOW)
  }
}

const paymentIntentOf = async (sessionId: string) =>
  (await w.stripe.checkout.sessions.retrieve(sessionId)).payment_intent as string

const get = (path: string, cookie?: string, json = false) =>
  w.t.app.request(path, {
    headers: { ...(cookie ? { Cookie: cookie } : {}), ...(json ? { Accept: 'application/json' } : {}) },
  })

let seeded: Promise<{ ann: string; ben: string; annId: string }> | undefined

/**
 * Ann: 2025 in USD and EUR (one USD gift refunded in full, the EUR one in part, a membership, a
 * gift in the last second of the year) and 2026 in USD. Ben: GBP in 2024 and 2025.
 */
function seed() {
  seeded ??= (async () => {
    const ann = await signIn(w.t.app, 'ann@example.org')
    const ben = await signIn(w.t.app, 'ben@example.org')
    const covered = await at('2025-03-10T10:00:00Z', () => donate(w, ann, 2500, 'usd'))
    const euros = await at('2025-06-01T09:00:00Z', () => donate(w, ann, 4000, 'eur'))
    const regretted = await at('2025-07-01T09:00:00Z', () => donate(w, ann, 1000, 'usd'))
    await at('2025-08-01T09:00:00Z', async () => w.standIn.refund(await paymentIntentOf(regretted)))
    await at('2025-09-01T09:00:00Z', async () => w.standIn.refund(await paymentIntentOf(euros), 1500))
    await at('2025-10-01T09:00:00Z', async () =>
      w.standIn.completeCheckout(await startTierCheckout(w, ann, 'reader', 'month')),
    )
    await at('2025-12-31T23:59:59Z', () => donate(w, ann, 100, 'usd'))
    await at('2026-01-01T00:00:00Z', () => donate(w, ann, 3000, 'usd'))
    await at('2024-05-05T09:00:00Z', () => donate(w, ben, 700, 'gbp'))
    await at('2025-04-04T09:00:00Z', () => donate(w, ben, 900, 'gbp'))
    // The fee-cover part of a gift, as checkout records it when the donor ticks the box.
    await w.t.services.db
      .update(payments)
      .set({ feeCoverAmount: 100 })
      .where(eq(payments.id, await paymentIntentOf(covered)))
    const account = await findUserByEmail(w.t.services.db, await w.t.services.keyring, 'ann@example.org')
    return { ann, ben, annId: account!.id }
  })()
  return seeded
}

/** The ledger's own sums for an account and year, per currency, straight from SQL. */
async function ledgerSums(userId: string, year: number) {
  return rowsOf<{ currency: string; paid: string; refunded: string; net: string; lines: string }>(
    w.t.services.db,
    sql`select p.currency, sum(greatest(p.amount, 0))::text as paid, sum(least(p.amount, 0))::text as refunded,
        sum(p.amount)::text as net, count(*)::text as lines
      from payments p join stripe_customers sc on sc.customer_id = p.customer_id
      where sc.user_id = ${userId} and extract(year from p.occurred_at at time zone 'UTC') = ${year}
      group by p.currency order by p.currency`,
  )
}

describe("a donor's statements", () => {
  it("sum a seeded year's ledger per currency, refunds negative, never adding currencies together", async () => {
    const { ann, annId } = await seed()
    const res = await get('/api/account/statements/2025', ann)
    expect(res.status).toBe(200)
    const { statement } = await res.json()
    expect(statement.issuer).toEqual({
      legalName: 'The Ledger Foundation, Inc.',
      taxId: 'EIN 12-3456789',
      text: 'No goods or services were provided in exchange for these contributions.',
    })
    expect(
      statement.payments.map((p: { date: string; kind: string; amount: number; currency: string }) => [
        p.date,
        p.kind,
        p.amount,
        p.currency,
      ]),
    ).toEqual([
      ['2025-03-10', 'donation', 2500, 'usd'],
      ['2025-06-01', 'donation', 4000, 'eur'],
      ['2025-07-01', 'donation', 1000, 'usd'],
      ['2025-08-01', 'refund', -1000, 'usd'],
      ['2025-09-01', 'refund', -1500, 'eur'],
      ['2025-10-01', 'subscription', 500, 'usd'],
      ['2025-12-31', 'donation', 100, 'usd'],
    ])
    expect(statement.totals).toEqual([
      { currency: 'eur', paid: 4000, refunded: -1500, net: 2500, feeCover: 0 },
      { currency: 'usd', paid: 4100, refunded: -1000, net: 3100, feeCover: 100 },
    ])
    // The same sums as the ledger's, computed by the database.
    const sums = await ledgerSums(annId, 2025)
    expect(sums).toEqual(
      statement.totals.map((t: { currency: string; paid: number; refunded: number; net: number }) => ({
        currency: t.currency,
        paid: String(t.paid),
        refunded: String(t.refunded),
        net: String(t.net),
        lines: String(statement.payments.filter((p: { currency: string }) => p.currency === t.currency).length),
      })),
    )
    // The first second of 2026 belongs to 2026.
    const next = (await (await get('/api/account/statements/2026', ann)).json()).statement
    expect(next.payments.map((p: { date: string; amount: number }) => [p.date, p.amount])).toEqual([
      ['2026-01-01', 3000],
    ])
    expect(next.totals).toEqual([{ currency: 'usd', paid: 3000, refunded: 0, net: 3000, feeCover: 0 }])
  })

  it('print as a page with the issuer, the donor, every payment and the totals', async () => {
    const { ann } = await seed()
    const res = await get('/account/statements/2025', ann)
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('private, no-store')
    const html = await res.text()
    for (const text of [
      'Statement of payments, 2025',
      '<strong>The Ledger Foundation, Inc.</strong>',
      'Tax id: EIN 12-3456789',
      'ann@example.org',
      '1 January 2025 to 31 December 2025',
      '<td>2025-08-01</td><td>Refund</td><td class="amount">-$10.00</td><td>USD</td><td class="amount"></td>',
      '<td>2025-03-10</td><td>One-time donation</td><td class="amount">$25.00</td><td>USD</td><td class="amount">$1.00</td>',
      '<td>2025-09-01</td><td>Refund</td><td class="amount">-€15.00</td><td>EUR</td>',
      '<th scope="row">EUR</th><td class="amount">€40.00</td><td class="amount">-€15.00</td><td class="amount">€25.00</td>',
      '<th scope="row">USD</th><td class="amount">$41.00</td><td class="amount">-$10.00</td><td class="amount">$31.00</td><td class="amount">$1.00</td>',
      'No goods or services were provided in exchange for these contributions.',
      '<p class="no-print">',
    ]) {
      expect(html).toContain(text)
    }
    // The print stylesheet leaves out the site's furniture.
    const css = await (await w.t.app.request('/assets/style.css')).text()
    expect(css).toMatch(
      /@media print \{[^@]*header\.site, nav, form, button, \.no-print \{ display: none !important; \}/,
    )
  })

  it('list only the years with payments, and link to them from the account page', async () => {
    const { ann, ben } = await seed()
    expect(await (await get('/api/account/statements', ann)).json()).toEqual({ years: [2026, 2025] })
    expect(await (await get('/api/account/statements', ben)).json()).toEqual({ years: [2025, 2024] })
    const list = await (await get('/account/statements', ann)).text()
    expect(list).toContain('<a href="/account/statements/2026">2026</a>')
    expect(list).toContain('<a href="/account/statements/2025">2025</a>')
    expect(list).not.toContain('/account/statements/2024')
    expect(await (await get('/account', ann)).text()).toContain('<a href="/account/statements">')
    const fresh = await signIn(w.t.app, 'no-payments@example.org')
    expect(await (await get('/account/statements', fresh)).text()).toContain('You have made no payments yet')
  })

  it("show a donor their own payments only: another donor's year is 404, and their lines are never shown", async () => {
    const { ann, ben } = await seed()
    const other = await get('/account/statements/2024', ann)
    expect(other.status).toBe(404)
    expect(await other.text()).toContain('You made no payments in 2024, so there is no statement for it.')
    const otherJson = await get('/api/account/statements/2024', ann, true)
    expect(otherJson.status).toBe(404)
    expect((await otherJson.json()).error.code).toBe('not_found')
    const bens = (await (await get('/api/account/statements/2025', ben)).json()).statement
    expect(bens.payments.map((p: { amount: number; currency: string }) => [p.amount, p.currency])).toEqual([
      [900, 'gbp'],
    ])
    const page = await (await get('/account/statements/2025', ben)).text()
    expect(page).toContain('ben@example.org')
    expect(page).not.toContain('ann@example.org')
    expect(page).not.toContain('$25.00')
  })

  it('send a signed-out visitor to sign in (pages) or answer 401 (API)', async () => {
    for (const path of ['/account/statements', '/account/statements/2025']) {
      const res = await get(path)
      expect(res.status).toBe(303)
      const location = new URL(res.headers.get('location')!, 'http://localhost')
      expect(location.pathname).toBe('/auth/sign-in')
      expect(location.searchParams.get('next')).toBe(path)
    }
    const api = await get('/api/account/statements/2025')
    expect(api.status).toBe(401)
  })

  it('refuse a year that is no year (400) or out of range (404), in words', async () => {
    const { ann } = await seed()
    const cases: [string, number, string][] = [
      ['abc', 400, 'A statement’s year is four digits, such as 2025.'],
      ['20250', 400, 'A statement’s year is four digits, such as 2025.'],
      ['-2025', 400, 'A statement’s year is four digits, such as 2025.'],
      ['1999', 404, 'There are statements only for the years 2000 to 2026.'],
      ['2027', 404, 'There are statements only for the years 2000 to 2026.'],
      ['2019', 404, 'You made no payments in 2019, so there is no statement for it.'],
    ]
    for (const [year, status, message] of cases) {
      const page = await get(`/account/statements/${year}`, ann)
      expect(page.status, year).toBe(status)
      expect(await page.text()).toContain(message.replace('’', '’'))
      const api = await get(`/api/account/statements/${year}`, ann, true)
      expect(api.status, year).toBe(status)
      expect((await api.json()).error.message).toBe(message)
    }
  })
})

describe('starting the year-end statements, for admins', () => {
  it('refuses a year that is not a number, has not ended, or had no payments, and starts nothing', async () => {
    await seed()
    const admin = await signIn(w.t.app, 'admin@ledger.example')
    const post = (body: unknown) =>
      w.t.app.request('/api/admin/statements', {
        method: 'POST',
        headers: { Cookie: admin, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      })
    const cases: [unknown, number, string][] = [
      [{}, 422, 'Enter the year as four digits, such as 2025.'],
      [{ year: 'last year' }, 422, 'Enter the year as four digits, such as 2025.'],
      [{ year: 2025.5 }, 422, 'Enter the year as four digits, such as 2025.'],
      [{ year: 2026 }, 422, '2026 has not ended yet: its statements can be sent from 1 January 2027.'],
      [{ year: 1999 }, 422, 'Statements go back to 2000.'],
      [{ year: 2019 }, 404, 'Nobody made a payment in 2019: there are no statements to send.'],
    ]
    for (const [body, status, message] of cases) {
      const res = await post(body)
      expect(res.status, JSON.stringify(body)).toBe(status)
      expect((await res.json()).error.message).toBe(message)
    }
    const form = await w.t.app.request('/admin/statements', {
      method: 'POST',
      headers: { Cookie: admin, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ year: 'twenty' }),
    })
    expect(form.status).toBe(422)
    const html = await form.text()
    expect(html).toContain('Enter the year as four digits, such as 2025.')
    expect(html).toContain('value="twenty"')
    const progress = await w.t.app.request('/api/admin/statements/nope', { headers: { Cookie: admin } })
    expect(progress.status).toBe(400)
    expect(await w.t.services.db.select().from(jobs).where(eq(jobs.kind, 'year_end_statements'))).toEqual([])
    expect(
      await w.t.services.db
        .select()
        .from(auditLog)
        .where(and(eq(auditLog.action, 'statements.sending_started'))),
    ).toEqual([])
  })
})
