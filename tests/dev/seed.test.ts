import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config'
import { rowsOf } from '../../src/db/client'
import { seedSupporters, type SeedResult } from '../../src/dev/seed-supporters'
import { addressIndex, queryTokens } from '../../src/privacy/blind-index'
import { keyringOf, type Keyring } from '../../src/privacy/keys'
import { compareSortTexts, ORDER_KEY, sortTextOf } from '../../src/privacy/name-order'
import { openPeople } from '../../src/privacy/people'
import { createTestDatabase, type TestDatabase } from '../helpers/db'
import { expectSealed } from '../helpers/sealed'

const SUPPORTERS = 300
const SEED = 42
const now = new Date()

let test: TestDatabase
let result: SeedResult
let keyring: Keyring

beforeAll(async () => {
  test = await createTestDatabase()
  keyring = await keyringOf(loadConfig({ APP_ENV: 'test', APP_URL: 'http://localhost:8787' }))
  result = await seedSupporters(test.db, { supporters: SUPPORTERS, keyring, now, seed: SEED })
})

afterAll(async () => {
  await test?.close()
})

const count = async (query: ReturnType<typeof sql>) =>
  Number((await rowsOf<{ n: number | string }>(test.db, query))[0]?.n ?? 0)

interface Stored {
  id: string
  card: string | null
  email: string | null
  name: string | null
  named: boolean
  email_index: string
  search_tokens: string[]
  name_order: string
}

/** Seeded accounts as stored, in the order they were made. */
const storedOf = (db: TestDatabase['db']) =>
  rowsOf<Stored>(
    db,
    sql`select id, card, email, name, named, email_index, search_tokens, name_order from users
      where id like 'seed\_%' order by substring(id from 6)::int`,
  )

/** Seeded accounts decrypted, in the order they were made. */
const peopleOf = async (db: TestDatabase['db']) => openPeople(keyring, await storedOf(db))

/** E-mails of seeded accounts in the order they were made. */
const emailsOf = async (db: TestDatabase['db']) => (await peopleOf(db)).map((r) => r.email)

/** Sort texts of every account in the order of their order keys, as the list sorts by name. */
const sortTextsByOrderKey = async (db: TestDatabase['db']) =>
  (
    await openPeople(
      keyring,
      await rowsOf<{ card: string | null; email: string | null; name: string | null }>(
        db,
        sql`select card, email, name from users order by name_order collate "C", id`,
      ),
    )
  ).map((p) => sortTextOf(p))

describe('seedSupporters', () => {
  it('makes the accounts asked for, with the rows it reports', async () => {
    expect(result.users).toBe(SUPPORTERS)
    expect(await count(sql`select count(*) as n from users`)).toBe(SUPPORTERS)
    expect(await count(sql`select count(*) as n from subscriptions`)).toBe(result.subscriptions)
    expect(await count(sql`select count(*) as n from payments`)).toBe(result.payments)
    expect(await count(sql`select count(*) as n from grants`)).toBe(result.grants)
    expect(await count(sql`select count(*) as n from patreon_members`)).toBe(result.patrons)
    expect(await count(sql`select count(*) as n from tiers where id in ('reader', 'patron')`)).toBe(2)
  })

  it('mixes subscribers, donors, comps, Patreon patrons and readers who never paid, roughly as planned', async () => {
    const share = async (query: ReturnType<typeof sql>) => (await count(query)) / SUPPORTERS
    const subscribers = await share(sql`select count(*) as n from subscriptions`)
    const donors = await share(sql`select count(*) as n from stripe_customers sc
      where not exists (select 1 from subscriptions s where s.customer_id = sc.customer_id)`)
    const comps = await share(sql`select count(distinct user_id) as n from grants where source = 'comp'`)
    const patrons = await share(sql`select count(distinct user_id) as n from patreon_members`)
    const neverPaid = await share(sql`select count(*) as n from users u
      where not exists (select 1 from stripe_customers sc where sc.user_id = u.id)
        and not exists (select 1 from all_grants g where g.user_id = u.id)`)
    expect(subscribers).toBeGreaterThan(0.45)
    expect(subscribers).toBeLessThan(0.65)
    expect(donors).toBeGreaterThan(0.05)
    expect(donors).toBeLessThan(0.16)
    expect(comps).toBeGreaterThan(0.01)
    expect(comps).toBeLessThan(0.1)
    expect(patrons).toBeGreaterThan(0.01)
    expect(patrons).toBeLessThan(0.1)
    expect(neverPaid).toBeGreaterThan(0.17)
    expect(neverPaid).toBeLessThan(0.33)
    expect(subscribers + donors + comps + patrons + neverPaid).toBeCloseTo(1, 5)
  })

  it('writes subscriptions that are consistent with their status and the tiers', async () => {
    const statuses = await rowsOf<{ status: string; n: number | string }>(
      test.db,
      sql`select status, count(*) as n from subscriptions group by status`,
    )
    expect(statuses.map((r) => r.status).sort()).toEqual(['active', 'canceled', 'past_due', 'trialing'])
    expect(await count(sql`select count(*) as n from subscriptions where cancel_at_period_end`)).toBeGreaterThan(0)
    // Live subscriptions run into the future; ended ones say when; past due ones since when.
    expect(
      await count(sql`select count(*) as n from subscriptions
        where status <> 'canceled' and (current_period_end <= ${now.toISOString()}::timestamptz or ended_at is not null)`),
    ).toBe(0)
    expect(
      await count(sql`select count(*) as n from subscriptions
        where status = 'canceled' and (ended_at is null or ended_at > ${now.toISOString()}::timestamptz)`),
    ).toBe(0)
    expect(
      await count(
        sql`select count(*) as n from subscriptions where (status = 'past_due') <> (past_due_since is not null)`,
      ),
    ).toBe(0)
    // Amounts and currencies are the tier's price for the interval.
    expect(
      await count(sql`select count(*) as n from subscriptions s join tiers t on t.id = s.tier_id
        where s.currency <> t.currency
          or s.amount <> case s.interval when 'month' then t.monthly_amount else t.yearly_amount end`),
    ).toBe(0)
    expect(await count(sql`select count(*) as n from subscriptions where interval = 'month'`)).toBeGreaterThan(
      (await count(sql`select count(*) as n from subscriptions where interval = 'year'`)) * 2,
    )
  })

  it('records payments in the past, at most 36 invoices per subscriber', async () => {
    expect(
      await count(sql`select count(*) as n from payments where occurred_at > ${now.toISOString()}::timestamptz`),
    ).toBe(0)
    expect(
      await count(sql`select count(*) as n from (select subscription_id from payments where kind = 'subscription'
        group by subscription_id having count(*) > 36) t`),
    ).toBe(0)
    expect(await count(sql`select count(*) as n from payments where kind = 'donation'`)).toBeGreaterThan(0)
    expect(
      await count(sql`select count(*) as n from subscriptions where status = 'trialing' and id in
      (select subscription_id from payments)`),
    ).toBe(0)
  })

  it('leaves every account with an up-to-date supporters row', async () => {
    expect(await count(sql`select count(*) as n from supporters_dirty`)).toBe(0)
    expect(
      await count(sql`select count(*) as n from users u left join supporters s on s.user_id = u.id
        where s.user_id is null or s.email <> u.email or s.name is distinct from u.name
          or s.search_tokens <> u.search_tokens or s.name_order <> u.name_order`),
    ).toBe(0)
    const sources = await rowsOf<{ source: string }>(
      test.db,
      sql`select distinct source from supporters where source is not null order by source`,
    )
    expect(sources.map((r) => r.source)).toEqual(['comp', 'donation', 'patreon', 'stripe'])
  })

  it('gives each supporter a lifetime amount equal to the sum of their payments', async () => {
    const sampled = await rowsOf<{ user_id: string; lifetime_amount: number | string; paid: number | string }>(
      test.db,
      sql`select s.user_id, s.lifetime_amount,
          (select coalesce(sum(p.amount), 0) from payments p join stripe_customers sc on sc.customer_id = p.customer_id
            where sc.user_id = s.user_id) as paid
        from supporters s where s.lifetime_amount > 0 order by s.user_id limit 12`,
    )
    expect(sampled.length).toBe(12)
    for (const row of sampled) expect(Number(row.lifetime_amount), row.user_id).toBe(Number(row.paid))
  })

  it('makes lowercase, unique e-mails and names for about 60 % of accounts', async () => {
    const emails = await emailsOf(test.db)
    expect(new Set(emails).size).toBe(SUPPORTERS)
    for (const email of emails) expect(email).toMatch(/^[a-z0-9._'-]+\.\d+@example\.org$/)
    const named = await count(sql`select count(*) as n from users where named`)
    expect(named / SUPPORTERS).toBeGreaterThan(0.45)
    expect(named / SUPPORTERS).toBeLessThan(0.75)
  })

  it('stores addresses and names as the app does: encrypted, with their address index and search tokens', async () => {
    const stored = await storedOf(test.db)
    const people = await openPeople(keyring, stored)
    for (const [n, row] of stored.entries()) {
      const person = people[n]!
      // Whole texts only: a short word could turn up in any ciphertext by chance. The card is all there is.
      expect([row.email, row.name]).toEqual([null, null])
      expectSealed(row.card!, person.email, person.email.split('@')[0]!)
      if (person.name !== null) expectSealed(row.card!, person.name)
      expect(row.named).toBe(person.name !== null)
      expect(row.email_index).toBe(await addressIndex(keyring, person.email))
    }
    // The search finds a seeded person by a prefix of their name and of their address.
    const named = people.find((p) => p.name !== null)!
    for (const q of [named.name!.split(' ')[0]!.slice(0, 4), named.email.split(/[.@]/)[0]!.slice(0, 3)]) {
      const [tokens] = await queryTokens(keyring, q)
      const found = await rowsOf<{ id: string }>(
        test.db,
        sql`select user_id as id from supporters where search_tokens @> ${`{${tokens!.join(',')}}`}::text[]`,
      )
      expect(
        found.map((r) => r.id),
        q,
      ).toContain(named.id)
    }
  })

  it('places every account in the name order: distinct keys, in the order of their sort texts', async () => {
    const stored = await storedOf(test.db)
    for (const row of stored) expect(row.name_order).toMatch(ORDER_KEY)
    expect(new Set(stored.map((r) => r.name_order)).size).toBe(SUPPORTERS)
    // Spread evenly over the whole order: 300 keys need 2 base-36 digits.
    expect(Math.max(...stored.map((r) => r.name_order.length))).toBeLessThanOrEqual(2)
    const texts = await sortTextsByOrderKey(test.db)
    expect(texts).toEqual([...texts].sort(compareSortTexts))
  })

  it('makes the same people from the same seed, and continues the numbering when run again', async () => {
    const other = await createTestDatabase()
    try {
      await seedSupporters(other.db, { supporters: 50, keyring, now, seed: SEED })
      expect(await peopleOf(other.db)).toEqual(
        (await peopleOf(test.db)).slice(0, 50).map((p) => expect.objectContaining({ email: p.email, name: p.name })),
      )
      const again = await seedSupporters(other.db, { supporters: 20, keyring, now, seed: SEED })
      expect(again.users).toBe(20)
      // The second run's people are placed among the first's.
      const texts = await sortTextsByOrderKey(other.db)
      expect(texts).toHaveLength(70)
      expect(texts).toEqual([...texts].sort(compareSortTexts))
      const ids = await rowsOf<{ id: string }>(
        other.db,
        sql`select id from users order by substring(id from 6)::int desc limit 1`,
      )
      expect(ids[0]?.id).toBe('seed_69')
    } finally {
      await other.close()
    }
  })
})
