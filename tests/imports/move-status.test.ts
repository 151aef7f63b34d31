import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { findUserByEmail } from '../../src/accounts/users'
import { stripeCustomers, subscriptions } from '../../src/db/schema'
import { seedDemoTiers } from '../../src/dev/demo-tiers'
import { createTestApp, type TestApp } from '../helpers/app'
import { signIn } from '../helpers/auth'
import { importFixture } from '../helpers/imports'

/**
 * How the move from Patreon stands (src/imports/move-status.ts): who has moved, who has not yet,
 * who lapsed, and what each side brings in a month, by currency; counts and sums, no names.
 */
let t: TestApp
let admin: string
const status = async () =>
  (await t.app.request('/api/admin/imports/patreon/status', { headers: { Cookie: admin } })).json()

beforeAll(async () => {
  t = await createTestApp({ env: { ADMIN_EMAILS: 'admin@move.example' } })
  admin = await signIn(t.app, 'admin@move.example')
  await seedDemoTiers(t.services.db, t.services.clock.now())
  await importFixture(t, admin)
})
afterAll(() => t.close())

describe('the move from Patreon so far', () => {
  it('counts the active patrons not yet moved with their pledges a month, and the lapsed ones', async () => {
    // Active: Ada (GBP 2.99 a month), Grace (USD 100 a year), Jürgen (EUR 3 a month); declined or former: Alan, Katherine.
    expect(await status()).toEqual({
      moved: { patrons: 0, monthly: [] },
      notYet: {
        patrons: 3,
        monthly: [
          { currency: 'eur', amount: 300 },
          { currency: 'gbp', amount: 299 },
          { currency: 'usd', amount: 833 },
        ],
      },
      lapsed: { patrons: 2 },
    })
  })

  it('moves a patron who now pays through Stripe to the other side, with what Stripe bills a month', async () => {
    const now = t.services.clock.now()
    const juergen = await findUserByEmail(t.services.db, await t.services.keyring, 'juergen@example.de')
    await t.services.db.insert(stripeCustomers).values({ customerId: 'cus_move', userId: juergen!.id, createdAt: now })
    await t.services.db.insert(subscriptions).values({
      id: 'sub_move',
      customerId: 'cus_move',
      tierId: 'reader',
      priceId: 'price_move',
      interval: 'year',
      amount: 6000,
      currency: 'eur',
      status: 'active',
      cancelAtPeriodEnd: false,
      stripeCreatedAt: now,
      snapshotAt: now,
      updatedAt: now,
    })
    const after = await status()
    expect(after.moved).toEqual({ patrons: 1, monthly: [{ currency: 'eur', amount: 500 }] })
    expect(after.notYet.patrons).toBe(2)
    expect(after.notYet.monthly).toEqual([
      { currency: 'gbp', amount: 299 },
      { currency: 'usd', amount: 833 },
    ])
    const page = await (await t.app.request('/admin/imports/patreon', { headers: { Cookie: admin } })).text()
    expect(page).toContain('Moved to a membership here: 1, €5.00 a month.')
    expect(page).toContain('Not yet (still active on Patreon): 2, £2.99 + $8.33 a month on')
    expect(page).toContain('Lapsed without moving (declined or former on Patreon): 2.')
  })

  it('is for admins only', async () => {
    const reader = await signIn(t.app, 'reader@move.example')
    expect((await t.app.request('/api/admin/imports/patreon/status', { headers: { Cookie: reader } })).status).toBe(403)
  })
})
