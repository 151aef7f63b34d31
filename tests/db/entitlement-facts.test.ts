import postgres from 'postgres'
import { sql, type SQL } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sessionIdOf } from '../../src/accounts/sessions'
import { rowsOf } from '../../src/db/client'
import { entitlementFactsSql } from '../../src/db/facts-sql'
import { seedDemoTiers } from '../../src/dev/demo-tiers'
import { createTestApp, fixedClock, type TestApp } from '../helpers/app'
import { makeReader } from '../helpers/readers'

/**
 * The stored entitlement facts (entitlement_facts, src/db/routines.ts): a signed-in request reads
 * them stored, every change to what they are computed from puts them out of date in its own
 * transaction, and facts computed before a change are never stored after it.
 */
const clock = fixedClock('2026-11-25T12:00:00Z')
const DAY = 86_400_000
let t: TestApp

beforeAll(async () => {
  t = await createTestApp({ clock })
  await seedDemoTiers(t.services.db, clock.now())
})
afterAll(() => t.close())

const run = (query: SQL) => t.database.db.execute(query)

async function userIdOf(cookie: string): Promise<string> {
  const [row] = await rowsOf<{ user_id: string }>(
    t.database.db,
    sql`select user_id from sessions where id = ${sessionIdOf(cookie.slice('masthead_session='.length))}`,
  )
  return row!.user_id
}

/** The facts as computed now from the tables, as text. */
async function liveFacts(userId: string): Promise<string> {
  const [row] = await rowsOf<{ facts: string }>(
    t.database.db,
    sql`select (${sql.raw(entitlementFactsSql('x.id'))})::text as facts from (select ${userId}::text as id) x`,
  )
  return row!.facts
}

async function stored(userId: string): Promise<{ generation: number; facts: string | null } | undefined> {
  const [row] = await rowsOf<{ generation: number | string; facts: string | null }>(
    t.database.db,
    sql`select generation, facts::text as facts from entitlement_facts where user_id = ${userId}`,
  )
  return row && { generation: Number(row.generation), facts: row.facts }
}

/** The stored JSON, as far as these tests read it. */
interface FactsJson {
  subscriptions: { tierName: string | null }[]
  grants: unknown[]
  lastDonationAt: string | null
}

/** GET /api/entitlements with the session cookie only, so that the session is looked up. */
async function benefitsOf(cookie: string): Promise<string[]> {
  const res = await t.app.request('/api/entitlements', { headers: { Cookie: cookie } })
  expect(res.status).toBe(200)
  const body = (await res.json()) as { signedIn: boolean; benefits: string[] }
  expect(body.signedIn).toBe(true)
  return [...body.benefits].sort()
}

describe('the stored entitlement facts', () => {
  it('are computed at the first signed-in request, stored, and then read as stored', async () => {
    const cookie = await makeReader(t.services.db, t.services.config, clock.now(), 'first@example.org', {
      subscription: { tier: 'reader', status: 'active' },
    })
    const userId = await userIdOf(cookie)
    // Writing the customer and the subscription made the row, out of date.
    expect((await stored(userId))?.facts).toBeNull()

    expect(await benefitsOf(cookie)).toEqual(['hideSupportPrompts', 'supportersOnlyContent'])
    const kept = await stored(userId)
    expect(kept?.facts).toBe(await liveFacts(userId))
    expect(JSON.parse(kept!.facts!).subscriptions).toHaveLength(1)

    // What is stored is what the next request reads (this write bypasses every trigger's table).
    await run(sql`update entitlement_facts set facts = '{"subscriptions":[],"grants":[],"lastDonationAt":null}'
      where user_id = ${userId}`)
    expect(await benefitsOf(cookie)).toEqual([])
    expect((await stored(userId))?.generation).toBe(kept!.generation)
  })

  it('go out of date with every change to what they are computed from, and the next request sees it', async () => {
    const cookie = await makeReader(t.services.db, t.services.config, clock.now(), 'changes@example.org')
    const other = await makeReader(t.services.db, t.services.config, clock.now(), 'other@example.org')
    const userId = await userIdOf(cookie)
    const otherId = await userIdOf(other)
    // As text: a raw statement's parameters are not Drizzle columns, which would serialise a Date.
    const now = clock.now().toISOString()
    const later = new Date(clock.now().getTime() + 20 * DAY).toISOString()
    const before = new Date(clock.now().getTime() - DAY).toISOString()

    const steps: {
      change: string
      write: SQL[]
      benefits: string[]
      also?: string
      check?: (facts: FactsJson) => void
    }[] = [
      {
        change: 'a comp granted',
        write: [
          sql`insert into grants (id, user_id, source, tier_id, starts_at, created_at, updated_at)
            values ('g_facts', ${userId}, 'comp', 'patron', ${before}, ${now}, ${now})`,
        ],
        benefits: ['adFree', 'earlyAccess', 'hideSupportPrompts', 'supportersOnlyContent'],
      },
      {
        change: 'the comp revoked',
        write: [sql`update grants set revoked_at = ${now} where id = 'g_facts'`],
        benefits: [],
      },
      {
        change: 'the comp deleted',
        write: [sql`delete from grants where id = 'g_facts'`],
        benefits: [],
        check: (facts) => expect(facts.grants).toEqual([]),
      },
      {
        change: 'a customer linked and a subscription started',
        write: [
          sql`insert into stripe_customers (customer_id, user_id, created_at) values ('cus_facts', ${userId}, ${now})`,
          sql`insert into subscriptions (id, customer_id, tier_id, price_id, interval, amount, currency, status,
              cancel_at_period_end, current_period_end, stripe_created_at, snapshot_at, updated_at)
            values ('sub_facts', 'cus_facts', 'reader', 'price_reader', 'month', 500, 'usd', 'active', false,
              ${later}, ${before}, ${now}, ${now})`,
        ],
        benefits: ['hideSupportPrompts', 'supportersOnlyContent'],
      },
      {
        change: 'the subscription ended',
        write: [sql`update subscriptions set status = 'canceled', ended_at = ${before} where id = 'sub_facts'`],
        benefits: [],
      },
      {
        change: 'the subscription active again',
        write: [sql`update subscriptions set status = 'active', ended_at = null where id = 'sub_facts'`],
        benefits: ['hideSupportPrompts', 'supportersOnlyContent'],
      },
      {
        change: 'its tier renamed',
        write: [sql`update tiers set name = 'Reader (renamed)' where id = 'reader'`],
        benefits: ['hideSupportPrompts', 'supportersOnlyContent'],
        check: (facts) => expect(facts.subscriptions[0]!.tierName).toBe('Reader (renamed)'),
      },
      {
        change: 'its tier given another benefit',
        write: [sql`update tiers set benefits = array_append(benefits, 'adFree') where id = 'reader'`],
        benefits: ['adFree', 'hideSupportPrompts', 'supportersOnlyContent'],
      },
      {
        change: 'a donation',
        write: [
          sql`insert into payments (id, kind, customer_id, payment_intent_id, amount, currency, occurred_at)
            values ('pi_facts', 'donation', 'cus_facts', 'pi_facts', 2500, 'usd', ${now})`,
        ],
        benefits: ['adFree', 'hideSupportPrompts', 'supportersOnlyContent'],
        check: (facts) => expect(facts.lastDonationAt).not.toBeNull(),
      },
      {
        change: 'the donation refunded in full',
        write: [
          sql`insert into payments (id, kind, customer_id, payment_intent_id, amount, currency, occurred_at)
            values ('refund:ch_facts', 'refund', 'cus_facts', 'pi_facts', -2500, 'usd', ${now})`,
        ],
        benefits: ['adFree', 'hideSupportPrompts', 'supportersOnlyContent'],
        check: (facts) => expect(facts.lastDonationAt).toBeNull(),
      },
      {
        change: 'the subscription deleted',
        write: [sql`delete from subscriptions where id = 'sub_facts'`],
        benefits: [],
      },
      {
        change: 'a Patreon membership imported',
        write: [
          sql`insert into patreon_members (user_id, status, tier_id, access_starts_at, access_ends_at, imported_at, updated_at)
            values (${userId}, 'active', 'patron', ${before}, ${later}, ${now}, ${now})`,
        ],
        benefits: ['adFree', 'earlyAccess', 'hideSupportPrompts', 'supportersOnlyContent'],
      },
      {
        change: 'the Patreon membership ended',
        write: [sql`update patreon_members set access_ends_at = ${before} where user_id = ${userId}`],
        benefits: [],
      },
      {
        change: 'the Patreon membership deleted',
        write: [sql`delete from patreon_members where user_id = ${userId}`],
        benefits: [],
        check: (facts) => expect(facts.grants).toEqual([]),
      },
      {
        change: 'a subscription again, then its customer moved to another account',
        write: [
          sql`insert into subscriptions (id, customer_id, tier_id, price_id, interval, amount, currency, status,
              cancel_at_period_end, current_period_end, stripe_created_at, snapshot_at, updated_at)
            values ('sub_facts2', 'cus_facts', 'patron', 'price_patron', 'month', 1500, 'usd', 'active', false,
              ${later}, ${before}, ${now}, ${now})`,
          sql`update stripe_customers set user_id = ${otherId} where customer_id = 'cus_facts'`,
        ],
        benefits: [],
        also: otherId,
      },
    ]

    for (const step of steps) {
      const was = (await stored(userId))?.generation ?? 0
      const otherWas = (await stored(otherId))?.generation ?? 0
      for (const statement of step.write) await run(statement)
      const marked = await stored(userId)
      expect(marked?.facts, `${step.change}: out of date`).toBeNull()
      expect(marked!.generation, `${step.change}: a new generation`).toBeGreaterThan(was)
      expect(await benefitsOf(cookie), step.change).toEqual(step.benefits)
      const kept = await stored(userId)
      expect(kept?.facts, `${step.change}: stored as computed`).toBe(await liveFacts(userId))
      step.check?.(JSON.parse(kept!.facts!) as FactsJson)
      if (step.also) {
        expect((await stored(otherId))!.generation, `${step.change}: the other account`).toBeGreaterThan(otherWas)
        expect((await stored(otherId))?.facts).toBeNull()
        expect(await benefitsOf(other)).toEqual([
          'adFree',
          'earlyAccess',
          'hideSupportPrompts',
          'supportersOnlyContent',
        ])
      }
    }
    await run(sql`update tiers set name = 'Reader', benefits = array_remove(benefits, 'adFree') where id = 'reader'`)
  })

  it('stay as stored when a tier changes in nothing they hold, or a tier no one has changes', async () => {
    const cookie = await makeReader(t.services.db, t.services.config, clock.now(), 'unmoved@example.org', {
      comp: 'patron',
    })
    const userId = await userIdOf(cookie)
    await benefitsOf(cookie)
    const kept = await stored(userId)
    expect(kept?.facts).not.toBeNull()
    await run(sql`update tiers set description = 'Still the Patron tier.' where id = 'patron'`)
    await run(sql`update tiers set name = 'Reader, renamed' where id = 'reader'`)
    expect(await stored(userId)).toEqual(kept)
    await run(sql`update tiers set name = 'Reader' where id = 'reader'`)
  })

  it('are stored only at the generation the lookup read', async () => {
    const cookie = await makeReader(t.services.db, t.services.config, clock.now(), 'generation@example.org', {
      comp: 'reader',
    })
    const userId = await userIdOf(cookie)
    const { generation } = (await stored(userId))!
    const keep = (seen: number | null) =>
      rowsOf<{ facts: string }>(
        t.database.db,
        sql`select masthead_entitlement_facts(${userId}, ${seen}::bigint)::text as facts`,
      )
    // An older generation, or none where there is a row: a change came after what was read.
    for (const seen of [generation - 1, null]) {
      const [computed] = await keep(seen)
      expect(computed!.facts).toBe(await liveFacts(userId))
      expect((await stored(userId))?.facts, `seen ${seen}`).toBeNull()
    }
    await keep(generation)
    expect((await stored(userId))?.facts).toBe(await liveFacts(userId))

    // An account deleted since it was read: the facts are answered, nothing is stored, nothing fails.
    const [gone] = await rowsOf<{ facts: string }>(
      t.database.db,
      sql`select masthead_entitlement_facts('no-such-account', null)::text as facts`,
    )
    expect(JSON.parse(gone!.facts)).toEqual({ subscriptions: [], grants: [], lastDonationAt: null })
    expect(await stored('no-such-account')).toBeUndefined()
  })
})

describe.runIf(process.env.TEST_DATABASE_URL)('a change committed while the facts are computed', () => {
  it('is not overwritten by the facts computed before it', async () => {
    const cookie = await makeReader(t.services.db, t.services.config, clock.now(), 'race@example.org', {
      subscription: { tier: 'patron', status: 'active' },
    })
    const userId = await userIdOf(cookie)
    const everything = ['adFree', 'earlyAccess', 'hideSupportPrompts', 'supportersOnlyContent']
    const other = postgres(t.database.url!, { max: 1, onnotice: () => {} })
    try {
      // The change holds the row's lock until it commits; the lookup started meanwhile computes the
      // facts from before it and waits on that lock to store them.
      let looking: Promise<string[]> | undefined
      await other.begin(async (tx) => {
        await tx`update subscriptions set status = 'canceled', ended_at = now() where id = ${`sub_${userId}`}`
        looking = benefitsOf(cookie)
        const waited = await waitFor(async () => {
          const [row] = await tx<{ n: number }[]>`select count(*)::int as n from pg_stat_activity
            where datname = current_database() and wait_event_type = 'Lock'`
          return row!.n > 0
        })
        expect(waited, 'the lookup waits on the row the change holds').toBe(true)
      })
      expect(await looking, 'the lookup answers from what it read').toEqual(everything)
      expect((await stored(userId))?.facts, 'but stores nothing').toBeNull()
      expect(await benefitsOf(cookie), 'the next lookup sees the change').toEqual([])
      expect((await stored(userId))?.facts).toBe(await liveFacts(userId))
    } finally {
      await other.end()
    }
  })
})

async function waitFor(test: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const until = Date.now() + ms
  while (Date.now() < until) {
    if (await test()) return true
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return false
}
