import fc from 'fast-check'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { rowsOf } from '../../src/db/client'
import { seedDemoTiers } from '../../src/dev/demo-tiers'
import { patreonTierMappings } from '../../src/db/schema'
import { parsePatreonCsv } from '../../src/imports/patreon-csv'
import { commitImport, planImport } from '../../src/imports/patreon-import'
import { saveTierMapping, storedTierMapping } from '../../src/imports/tier-mapping'
import { createTestApp, type TestApp } from '../helpers/app'
import { signIn } from '../helpers/auth'
import { importFixture } from '../helpers/imports'
import {
  PATREON_SECRET,
  patreonDelivery,
  patreonSignature,
  WEBHOOK_FIXTURES,
  WEBHOOK_MAPPING,
  webhookFixture,
  type WebhookEvent,
} from '../helpers/patreon-webhooks'

const ADMIN = 'admin@webhooks.example'
let t: TestApp

beforeAll(async () => {
  t = await createTestApp({ env: { PATREON_WEBHOOK_SECRET: PATREON_SECRET, ADMIN_EMAILS: ADMIN } })
  await seedDemoTiers(t.services.db, t.services.clock.now())
})
afterAll(() => t.close())
beforeEach(reset)

/** No patron, no count, the fixtures' mapping saved (as a confirmed import would have). */
async function reset() {
  await t.services.db.execute(sql`delete from users`)
  await t.services.db.execute(sql`delete from patreon_webhook_counts`)
  await t.services.db.execute(sql`delete from patreon_tier_mappings`)
  await saveTierMapping(t.services.db, WEBHOOK_MAPPING, t.services.clock.now())
}

const deliver = (event: string, body: string, signature?: string) =>
  t.app.request('/webhooks/patreon', patreonDelivery(event, body, signature))

async function deliverFixture(event: WebhookEvent) {
  const res = await deliver(event, webhookFixture(event))
  expect(res.status, await res.clone().text()).toBe(200)
  return ((await res.json()) as { outcome: string }).outcome
}

/** The patrons' rows as the app decides from them: the facts, and the membership while it runs. */
const patronState = () =>
  rowsOf<Record<string, unknown>>(
    t.services.db,
    sql`select status, patreon_tier, tier_id, pledge_amount, lifetime_amount, currency, charge_frequency,
      patron_since, last_charge_at, next_charge_at, access_expires_at, webhook_facts_key,
      case when access_ends_at > ${t.services.clock.now().toISOString()}::timestamptz then access_ends_at end as access_until
    from patreon_members order by user_id`,
  )

const counts = async () =>
  Object.fromEntries(
    (
      await rowsOf<{ outcome: string; n: number }>(
        t.services.db,
        sql`select outcome, sum(count)::int as n from patreon_webhook_counts group by outcome`,
      )
    ).map((r) => [r.outcome, r.n]),
  )

/** Everything a refused delivery must leave as it was: accounts, patrons, counts. */
const written = async () =>
  rowsOf(
    t.services.db,
    sql`select (select count(*)::int from users) as users, (select count(*)::int from patreon_members) as patrons,
      (select count(*)::int from patreon_webhook_counts) as counts`,
  )

describe('a signed delivery of each event', () => {
  it('is applied as the import would apply it, and its outcome counted', async () => {
    for (const event of Object.keys(WEBHOOK_FIXTURES) as WebhookEvent[]) {
      await reset()
      expect(await deliverFixture(event), event).toBe('applied')
      const [row] = await patronState()
      expect(row, event).toBeDefined()
      expect(await counts(), event).toEqual({ applied: 1 })
    }
  })

  it('members:pledge:create grants the mapped tier, the grace period counted from now as its charge date is past', async () => {
    await deliverFixture('members:pledge:create')
    const [row] = await patronState()
    expect(row).toMatchObject({ status: 'active', patreon_tier: 'Reader', tier_id: 'reader', pledge_amount: 500 })
    expect(new Date(row!.access_until as string).toISOString()).toBe('2026-12-02T12:00:00.000Z')
  })

  it('stores what an import of the same facts stores, and nothing the import never keeps (the note)', async () => {
    await deliverFixture('members:pledge:create')
    const csv =
      'Name,Email,Patron Status,Free Member,Lifetime Amount,Pledge Amount,Charge Frequency,Tier,Patronage Since Date,' +
      'Last Charge Date,Last Charge Status,User ID,Last Updated,Currency,Access Expiration,Next Charge Date\n' +
      'Ada Lovelace,ada2@example.org,Active patron,No,15.00,5.00,monthly,Reader,2026-09-01 10:00:00,' +
      '2026-09-01 10:00:00,Paid,5550001,,,,2026-10-01 10:00:00\n'
    const parsed = parsePatreonCsv(csv)
    const { db, config, clock } = t.services
    const keyring = await t.services.keyring
    const plan = await planImport(db, keyring, config, parsed.rows, parsed.rejected, WEBHOOK_MAPPING, clock.now())
    await commitImport(db, keyring, plan, clock.now(), null, [])
    const [byWebhook, byImport] = await rowsOf<Record<string, unknown>>(
      db,
      sql`select pm.* from patreon_members pm order by pm.webhook_facts_key nulls last`,
    )
    const facts = (row: Record<string, unknown>) => {
      const { user_id: _u, webhook_facts_key: _k, ...rest } = row
      return rest
    }
    expect(facts(byWebhook!)).toEqual(facts(byImport!))
    const dump = JSON.stringify(await rowsOf(db, sql`select * from patreon_members`))
    expect(dump).not.toContain('Elm Street')
    expect(dump).not.toContain('fundraiser')
  })

  it('is ignored when it comes again', async () => {
    expect(await deliverFixture('members:update')).toBe('applied')
    const before = await patronState()
    expect(await deliverFixture('members:update')).toBe('ignored')
    expect(await patronState()).toEqual(before)
    expect(await counts()).toEqual({ applied: 1, ignored: 1 })
  })

  it('a delete is not undone by an older update arriving late', async () => {
    await deliverFixture('members:pledge:update')
    await deliverFixture('members:pledge:delete')
    const deleted = await patronState()
    expect(deleted[0]).toMatchObject({ status: 'former' })
    expect(await deliverFixture('members:pledge:update')).toBe('ignored')
    expect(await deliverFixture('members:update')).toBe('ignored')
    expect(await patronState()).toEqual(deleted)
  })

  it('a pledge made again after a delete (a later pledge start) applies', async () => {
    await deliverFixture('members:delete')
    const again = JSON.parse(webhookFixture('members:pledge:create')) as {
      data: { attributes: Record<string, unknown> }
    }
    Object.assign(again.data.attributes, {
      pledge_relationship_start: '2026-11-20T10:00:00.000+00:00',
      last_charge_date: '2026-11-20T10:00:00.000+00:00',
      next_charge_date: '2026-12-20T10:00:00.000+00:00',
    })
    const res = await deliver('members:pledge:create', JSON.stringify(again))
    expect(await res.json()).toEqual({ received: true, outcome: 'applied' })
    expect((await patronState())[0]).toMatchObject({ status: 'active', tier_id: 'reader' })
  })
})

describe('order and repetition', () => {
  /** A patron's life in the order Patreon's dates put it: follower, pledge, renewal, upgrade, cancellation. */
  const LIFE: WebhookEvent[] = [
    'members:create',
    'members:pledge:create',
    'members:update',
    'members:pledge:update',
    'members:pledge:delete',
  ]

  it('shuffled and repeated deliveries end as applying them once in date order does', async () => {
    for (const event of LIFE) await deliverFixture(event)
    const expected = await patronState()
    expect(expected).toHaveLength(1)
    // Cancelled with the Patron tier paid through 1 December: a former patron until then (Ghost #16225).
    expect(expected[0]).toMatchObject({ status: 'former', tier_id: 'patron' })
    expect(new Date(expected[0]!.access_until as string).toISOString()).toBe('2026-12-01T10:00:00.000Z')

    await fc.assert(
      fc.asyncProperty(
        fc.shuffledSubarray(LIFE, { minLength: LIFE.length }),
        fc.array(fc.nat({ max: LIFE.length - 1 }), { maxLength: 4 }),
        async (order, repeats) => {
          await reset()
          const deliveries = [...order, ...repeats.map((i) => order[i]!)]
          for (const event of deliveries) await deliverFixture(event)
          expect(await patronState()).toEqual(expected)
          const seen = await counts()
          expect((seen.applied ?? 0) + (seen.ignored ?? 0)).toBe(deliveries.length)
        },
      ),
      { numRuns: 20, seed: 18 },
    )
  })
})

describe('refused deliveries change nothing', () => {
  const body = () => webhookFixture('members:pledge:create')

  it('a missing or bad signature, or a tampered body, is 401', async () => {
    const missing = await t.app.request('/webhooks/patreon', {
      method: 'POST',
      headers: { 'X-Patreon-Event': 'members:pledge:create' },
      body: body(),
    })
    expect(missing.status).toBe(401)
    expect((await missing.json()).error).toMatchObject({ code: 'unauthorized' })
    const wrong = await deliver('members:pledge:create', body(), patreonSignature(body(), 'another-secret'))
    expect(wrong.status).toBe(401)
    expect((await wrong.json()).error.message).toBe('The Patreon signature does not match this request.')
    const tampered = await deliver(
      'members:pledge:create',
      body().replace('"currently_entitled_amount_cents": 500', '"currently_entitled_amount_cents": 50000'),
      patreonSignature(body()),
    )
    expect(tampered.status).toBe(401)
    expect((await deliver('members:pledge:create', body(), 'not-hex')).status).toBe(401)
    expect(await written()).toEqual([{ users: 0, patrons: 0, counts: 0 }])
  })

  it('malformed JSON, a body that is not a member, and an unknown event are 400', async () => {
    const broken = '{"data": {"type": "member"'
    const res = await deliver('members:create', broken)
    expect(res.status).toBe(400)
    expect((await res.json()).error.message).toBe('The body is not JSON.')
    const notMember = await deliver('members:create', '{"data":{"id":"1","type":"post","attributes":{}}}')
    expect(notMember.status).toBe(400)
    expect((await notMember.json()).error.message).toMatch(/^The payload is not a Patreon member/)
    const noEmail = JSON.parse(body()) as { data: { attributes: Record<string, unknown> } }
    delete noEmail.data.attributes.email
    expect((await deliver('members:update', JSON.stringify(noEmail))).status).toBe(400)
    const unknown = await deliver('posts:publish', body())
    expect(unknown.status).toBe(400)
    expect((await unknown.json()).error.message).toMatch(/X-Patreon-Event is not one Masthead handles/)
    expect(await written()).toEqual([{ users: 0, patrons: 0, counts: 0 }])
  })

  it('without PATREON_WEBHOOK_SECRET the route answers 404, saying why', async () => {
    const bare = await createTestApp()
    try {
      const res = await bare.app.request('/webhooks/patreon', patreonDelivery('members:create', body()))
      expect(res.status).toBe(404)
      expect((await res.json()).error.message).toMatch(/PATREON_WEBHOOK_SECRET is unset/)
    } finally {
      await bare.close()
    }
  })
})

describe('a tier the saved mapping does not map', () => {
  it('is not applied, never a 500, and the import page says why, naming no patron', async () => {
    await t.services.db.delete(patreonTierMappings).where(sql`${patreonTierMappings.patreonTier} = 'Reader'`)
    const res = await deliver('members:pledge:create', webhookFixture('members:pledge:create'))
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ received: true, outcome: 'rejected' })
    expect(await patronState()).toEqual([])
    expect(await counts()).toEqual({ rejected: 1 })

    const admin = await signIn(t.app, ADMIN)
    const page = await (await t.app.request('/admin/imports/patreon', { headers: { Cookie: admin } })).text()
    expect(page).toContain('Patreon webhooks')
    expect(page).toContain('Not applied (rejected as an import would reject the row): 1')
    expect(page).toContain('The Patreon tier &quot;Reader&quot; is not mapped to a Masthead tier.')
    expect(page).not.toContain('ada@example.org')
    expect(page).not.toContain('Lovelace')
    const api = await t.app.request('/api/admin/imports/patreon/webhooks', { headers: { Cookie: admin } })
    expect(await api.json()).toMatchObject({ configured: true, applied: 0, ignored: 0, rejected: 1 })
  })
})

describe('the mapping webhooks use', () => {
  it('is saved by a confirmed import', async () => {
    await t.services.db.execute(sql`delete from patreon_tier_mappings`)
    const admin = await signIn(t.app, ADMIN)
    await importFixture(t, admin)
    expect({ ...(await storedTierMapping(t.services.db)) }).toEqual({
      Reader: 'reader',
      Patron: 'patron',
      Supporter: 'reader',
    })
  })
})
