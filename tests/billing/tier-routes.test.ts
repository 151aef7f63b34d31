import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { startStripeStandIn, type StripeStandIn } from '../../src/dev/stripe-stand-in'
import { tiers as tiersTable } from '../../src/db/schema'
import { createTestApp, type TestApp } from '../helpers/app'
import { signIn } from '../helpers/auth'

let t: TestApp
let admin: string

beforeAll(async () => {
  t = await createTestApp({ env: { ADMIN_EMAILS: 'admin@ledger.example' } })
  admin = await signIn(t.app, 'admin@ledger.example')
})
afterAll(() => t.close())

const api = (method: string, path: string, body?: unknown) =>
  t.app.request(path, {
    method,
    headers: { Cookie: admin, 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })

const form = (path: string, fields: [string, string][]) =>
  t.app.request(path, {
    method: 'POST',
    headers: { Cookie: admin, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields),
  })

const getPage = (path: string) => t.app.request(path, { headers: { Cookie: admin } })

const valid = {
  id: 'member',
  name: 'Member',
  currency: 'usd',
  monthlyAmount: 700,
  yearlyAmount: 7000,
}

const validForm = (overrides: Record<string, string> = {}): [string, string][] =>
  Object.entries({
    id: 'friend',
    name: 'Friend',
    description: 'A friend of the paper.',
    currency: 'eur',
    monthlyAmount: '5.5',
    yearlyAmount: '55.00',
    position: '3',
    active: 'on',
    ...overrides,
  })

describe('the tiers API', () => {
  it('creates a tier from minor units, with defaults, and lists it', async () => {
    const res = await api('POST', '/api/admin/tiers', valid)
    expect(res.status).toBe(201)
    const body = await res.json()
    expect(body.tier).toMatchObject({
      ...valid,
      description: '',
      position: 0,
      active: true,
      benefits: [],
      stripeProductId: null,
    })
    // No Stripe key in this app: the save stands and says so.
    expect(body.stripeSync).toBe('not_configured')

    const list = await (await api('GET', '/api/admin/tiers')).json()
    expect(list.tiers.map((tier: { id: string }) => tier.id)).toContain('member')
  })

  it('updates only the fields sent', async () => {
    const res = await api('PATCH', '/api/admin/tiers/member', {
      yearlyAmount: 7500,
      benefits: ['adFree', 'earlyAccess'],
      currency: 'GBP',
    })
    expect(res.status).toBe(200)
    const { tier } = await res.json()
    expect(tier).toMatchObject({
      name: 'Member',
      monthlyAmount: 700,
      yearlyAmount: 7500,
      currency: 'gbp',
      active: true,
      benefits: ['adFree', 'earlyAccess'],
    })
    const noop = await api('PATCH', '/api/admin/tiers/member', {})
    expect((await noop.json()).tier).toMatchObject({ yearlyAmount: 7500, benefits: ['adFree', 'earlyAccess'] })
  })

  it('lists tiers by position, then name', async () => {
    await api('POST', '/api/admin/tiers', { ...valid, id: 'aaa-first', name: 'Zebra', position: 0 })
    await api('POST', '/api/admin/tiers', { ...valid, id: 'zzz-last', name: 'Alpha', position: 9 })
    const { tiers } = await (await api('GET', '/api/admin/tiers')).json()
    const ids = tiers.map((tier: { id: string }) => tier.id)
    expect(ids.indexOf('member')).toBeLessThan(ids.indexOf('aaa-first'))
    expect(ids.at(-1)).toBe('zzz-last')
  })

  it('refuses a duplicate id with 409', async () => {
    const res = await api('POST', '/api/admin/tiers', valid)
    expect(res.status).toBe(409)
    const { error } = await res.json()
    expect(error.code).toBe('conflict')
    expect(error.message).toContain('"member" already exists')
  })

  it('answers 404 for an unknown tier', async () => {
    const res = await api('PATCH', '/api/admin/tiers/nobody', { name: 'X' })
    expect(res.status).toBe(404)
    expect((await res.json()).error.code).toBe('not_found')
  })

  const invalid: [string, Record<string, unknown>, string][] = [
    ['an unknown benefit', { benefits: ['adFree', 'freeMugs'] }, 'Unknown benefit "freeMugs"'],
    ['a repeated benefit', { benefits: ['adFree', 'adFree'] }, 'List each benefit once.'],
    ['an unsupported currency', { currency: 'jpy' }, 'The currency must be one of usd, eur, gbp'],
    ['a fractional amount', { monthlyAmount: 5.5 }, 'monthly amount is not whole minor units'],
    ['an amount as a string', { yearlyAmount: '5000' }, 'The yearly amount must be a number of minor units'],
    ['a negative amount', { monthlyAmount: -1 }, 'The monthly amount must be more than zero.'],
    ['a zero amount', { yearlyAmount: 0 }, 'The yearly amount must be more than zero.'],
    ['too large an amount', { monthlyAmount: 100_000_000 }, 'at most 99999999 minor units'],
    ['a bad id', { id: 'Reader Tier' }, 'The id must be 2 to 40 lowercase letters'],
    ['an empty name', { name: '  ' }, 'Enter a name.'],
    ['too long a name', { name: 'x'.repeat(81) }, 'at most 80 characters'],
    ['too long a description', { description: 'x'.repeat(501) }, 'at most 500 characters'],
    ['a misspelt field', { monthly_amount: 500 }, 'Unknown field monthly_amount'],
    ['a non-boolean active', { active: 'yes' }, 'Active must be true or false.'],
  ]
  for (const [what, change, message] of invalid) {
    it(`refuses ${what} with 422`, async () => {
      const res = await api('POST', '/api/admin/tiers', { ...valid, id: 'invalid', ...change })
      expect(res.status).toBe(422)
      const { error } = await res.json()
      expect(error.code).toBe('validation_failed')
      expect(error.message).toContain(message)
    })
  }

  it('checks a partial update with the same rules', async () => {
    const fractional = await api('PATCH', '/api/admin/tiers/member', { monthlyAmount: 12.345 })
    expect(fractional.status).toBe(422)
    expect((await fractional.json()).error.message).toContain('not whole minor units')
    const id = await api('PATCH', '/api/admin/tiers/member', { id: 'other' })
    expect(id.status).toBe(422)
    expect((await id.json()).error.message).toContain('Unknown field id')
    const unchanged = await (await api('GET', '/api/admin/tiers')).json()
    expect(unchanged.tiers.find((tier: { id: string }) => tier.id === 'member').monthlyAmount).toBe(700)
  })
})

describe('the tiers pages', () => {
  it('creates a tier from the form, reading amounts in major units', async () => {
    const res = await form('/admin/tiers', [
      ...validForm(),
      ['benefits', 'adFree'],
      ['benefits', 'supportersOnlyContent'],
    ])
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe('/admin/tiers?notice=created')
    const { tiers } = await (await api('GET', '/api/admin/tiers')).json()
    expect(tiers.find((tier: { id: string }) => tier.id === 'friend')).toMatchObject({
      name: 'Friend',
      currency: 'eur',
      monthlyAmount: 550,
      yearlyAmount: 5500,
      position: 3,
      active: true,
      benefits: ['adFree', 'supportersOnlyContent'],
    })

    const html = await (await getPage('/admin/tiers?notice=created')).text()
    expect(html).toContain('The tier was created.')
    expect(html).toContain('€5.50 / month')
    expect(html).toContain('€55.00 / year')
    expect(html).toContain('No ads, Supporters-only articles')
    expect(html).toContain('Stripe is not configured')
  })

  it('shows prices like "$5.00 / month"', async () => {
    await api('POST', '/api/admin/tiers', { ...valid, id: 'dollar', currency: 'usd', monthlyAmount: 500 })
    expect(await (await getPage('/admin/tiers')).text()).toContain('$5.00 / month')
  })

  it('edits a tier from its page, keeping what the form shows', async () => {
    const edit = await getPage('/admin/tiers/friend')
    expect(edit.status).toBe(200)
    const html = await edit.text()
    expect(html).toContain('value="5.50"')
    expect(html).toContain('value="55.00"')

    // No "active" box and no benefits: the form means inactive with no benefits.
    const res = await form(
      '/admin/tiers/friend',
      validForm({ name: 'Good friend', monthlyAmount: '6', yearlyAmount: '60.10' })
        .filter(([k]) => k !== 'active' && k !== 'id')
        .concat([['benefits', 'earlyAccess']]),
    )
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe('/admin/tiers?notice=updated')
    const { tiers } = await (await api('GET', '/api/admin/tiers')).json()
    expect(tiers.find((tier: { id: string }) => tier.id === 'friend')).toMatchObject({
      name: 'Good friend',
      monthlyAmount: 600,
      yearlyAmount: 6010,
      active: false,
      benefits: ['earlyAccess'],
    })
  })

  const badAmounts: [string, string][] = [
    ['5.555', 'Use at most two decimal places'],
    ['-1', 'The monthly amount must be more than zero.'],
    ['five', 'Enter the amount as a number, like 5.00.'],
    ['1,000.00', 'with a dot for decimals'],
    ['', 'Enter an amount, like 5.00.'],
    ['0', 'The monthly amount must be more than zero.'],
    ['1000000.00', 'must be at most €999,999.99'],
  ]
  for (const [typed, message] of badAmounts) {
    it(`re-renders the form with 422 for a monthly amount of "${typed}"`, async () => {
      const res = await form('/admin/tiers', validForm({ id: 'typo', monthlyAmount: typed }))
      expect(res.status).toBe(422)
      const html = await res.text()
      expect(html).toContain(message)
      expect(html).toContain(`value="${typed}"`)
      expect(html).toContain('aria-invalid="true"')
    })
  }

  it('shows every field error at once, and keeps what was typed', async () => {
    const res = await form('/admin/tiers', [
      ...validForm({ id: 'Bad Id', name: '', currency: 'xyz', yearlyAmount: '5.555' }),
      ['benefits', 'freeMugs'],
    ])
    expect(res.status).toBe(422)
    const html = await res.text()
    expect(html).toContain('The id must be 2 to 40 lowercase letters')
    expect(html).toContain('Enter a name.')
    expect(html).toContain('The currency must be one of usd, eur, gbp')
    expect(html).toContain('Use at most two decimal places')
    expect(html).toContain('Unknown benefit &quot;freeMugs&quot;')
    expect(html).toContain('value="Bad Id"')
    const { tiers } = await (await api('GET', '/api/admin/tiers')).json()
    expect(tiers.map((tier: { id: string }) => tier.id)).not.toContain('typo')
  })

  it('re-renders the edit form with 422 and changes nothing', async () => {
    const res = await form('/admin/tiers/friend', validForm({ yearlyAmount: '-3' }))
    expect(res.status).toBe(422)
    expect(await res.text()).toContain('The yearly amount must be more than zero.')
    const { tiers } = await (await api('GET', '/api/admin/tiers')).json()
    expect(tiers.find((tier: { id: string }) => tier.id === 'friend').yearlyAmount).toBe(6010)
  })

  it('says when the id is taken', async () => {
    const res = await form('/admin/tiers', validForm({ id: 'member' }))
    expect(res.status).toBe(409)
    expect(await res.text()).toContain('A tier with the id &quot;member&quot; already exists')
  })

  it('answers an unknown tier with a 404 page', async () => {
    const page = await getPage('/admin/tiers/nobody')
    expect(page.status).toBe(404)
    expect(page.headers.get('content-type')).toContain('text/html')
    expect(await page.text()).toContain('There is no tier with that id.')
    const post = await form('/admin/tiers/nobody', validForm())
    expect(post.status).toBe(404)
  })

  it('is linked from the staff home for admins', async () => {
    expect(await (await getPage('/admin')).text()).toContain('<a href="/admin/tiers">Tiers</a>')
  })
})

describe('saving with Stripe configured', () => {
  let standIn: StripeStandIn
  let s: TestApp
  let cookie: string

  beforeAll(async () => {
    standIn = await startStripeStandIn({ deliver: null })
    s = await createTestApp({
      env: {
        ADMIN_EMAILS: 'admin@ledger.example',
        ...standIn.env,
      },
    })
    cookie = await signIn(s.app, 'admin@ledger.example')
  })
  afterAll(async () => {
    await s.close()
    await standIn.close()
  })

  const send = (method: string, path: string, body: unknown) =>
    s.app.request(path, {
      method,
      headers: { Cookie: cookie, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    })

  it('syncs a tier created or changed by API', async () => {
    const created = await send('POST', '/api/admin/tiers', valid)
    expect(created.status).toBe(201)
    const body = await created.json()
    expect(body.stripeSync).toBe('synced')
    expect(body.tier.stripeProductId).toMatch(/^prod_/)
    const product = await s.services.stripe!.products.retrieve(body.tier.stripeProductId)
    expect(product).toMatchObject({ name: 'Member', metadata: { masthead: '1', tier_id: 'member' } })

    const changed = await (await send('PATCH', '/api/admin/tiers/member', { monthlyAmount: 800 })).json()
    expect(changed.stripeSync).toBe('synced')
    expect(changed.tier.stripeMonthlyPriceId).not.toBe(body.tier.stripeMonthlyPriceId)
    const price = await s.services.stripe!.prices.retrieve(changed.tier.stripeMonthlyPriceId)
    expect(price).toMatchObject({ unit_amount: 800, lookup_key: 'masthead_member_month', active: true })
  })

  it('syncs a tier saved from the form, and shows it as in Stripe', async () => {
    const res = await s.app.request('/admin/tiers', {
      method: 'POST',
      headers: { Cookie: cookie, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(validForm()),
    })
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe('/admin/tiers?notice=created')
    const html = await (await s.app.request('/admin/tiers', { headers: { Cookie: cookie } })).text()
    expect(html).toContain('In Stripe')
    expect(html).not.toContain('Not in Stripe yet')
  })
})

describe('saving when Stripe fails', () => {
  let standIn: StripeStandIn
  let s: TestApp
  let cookie: string

  beforeAll(async () => {
    // Stripe answers, but refuses the key: every call fails at once, without retries.
    standIn = await startStripeStandIn({ deliver: null, secretKey: 'sk_test_the_real_one' })
    s = await createTestApp({
      env: {
        ADMIN_EMAILS: 'admin@ledger.example',
        STRIPE_SECRET_KEY: 'sk_test_a_revoked_one',
        STRIPE_WEBHOOK_SECRET: standIn.webhookSecret,
        STRIPE_API_URL: standIn.url,
      },
    })
    cookie = await signIn(s.app, 'admin@ledger.example')
  })
  afterAll(async () => {
    await s.close()
    await standIn.close()
  })

  it('keeps the save, says "failed" to the API, and logs no personal data', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {})
    try {
      const res = await s.app.request('/api/admin/tiers', {
        method: 'POST',
        headers: { Cookie: cookie, 'Content-Type': 'application/json' },
        body: JSON.stringify(valid),
      })
      expect(res.status).toBe(201)
      const body = await res.json()
      expect(body.stripeSync).toBe('failed')
      expect(body.tier).toMatchObject({ id: 'member', stripeProductId: null })

      const lines = logged.mock.calls.map(([line]) => String(line))
      const warning = lines
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line))
        .find((entry) => entry.event === 'stripe_sync_failed')
      expect(warning).toMatchObject({ level: 'warn', tierId: 'member', errorType: 'StripeAuthenticationError' })
      expect(warning.requestId).toBeTruthy()
      expect(lines.join('\n')).not.toContain('admin@ledger.example')
      expect(lines.join('\n')).not.toContain('sk_test_a_revoked_one')
    } finally {
      logged.mockRestore()
    }
  })

  it('keeps the save from the form and tells the admin', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {})
    try {
      const res = await s.app.request('/admin/tiers/member', {
        method: 'POST',
        headers: { Cookie: cookie, 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(validForm({ name: 'Renamed' })),
      })
      expect(res.status).toBe(303)
      expect(res.headers.get('location')).toBe('/admin/tiers?notice=updated&stripe=failed')
      const html = await (await s.app.request(res.headers.get('location')!, { headers: { Cookie: cookie } })).text()
      expect(html).toContain('The tier was saved.')
      expect(html).toContain('Stripe could not be updated')
      expect(html).toContain('Renamed')
      expect(html).toContain('Not in Stripe yet')
    } finally {
      logged.mockRestore()
    }
  })

  it('does not keep selling the old price when Stripe cannot take the new one', async () => {
    // As if an earlier sync had worked.
    await s.services.db
      .update(tiersTable)
      .set({ stripeProductId: 'prod_old', stripeMonthlyPriceId: 'price_old_m', stripeYearlyPriceId: 'price_old_y' })
      .where(eq(tiersTable.id, 'member'))
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {})
    try {
      const res = await s.app.request('/api/admin/tiers/member', {
        method: 'PATCH',
        headers: { Cookie: cookie, 'Content-Type': 'application/json' },
        body: JSON.stringify({ monthlyAmount: 900 }),
      })
      expect(res.status).toBe(200)
      const body = await res.json()
      expect(body.stripeSync).toBe('failed')
      expect(body.tier).toMatchObject({
        monthlyAmount: 900,
        stripeProductId: 'prod_old',
        stripeMonthlyPriceId: null,
        stripeYearlyPriceId: 'price_old_y',
      })
    } finally {
      logged.mockRestore()
    }
  })
})
