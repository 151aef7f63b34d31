/**
 * Patreon's webhooks inside workerd: the signature (HMAC-MD5 through node:crypto under
 * nodejs_compat) is checked by the Worker itself, and a signed delivery is applied through
 * Hyperdrive as on Node.
 */
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connectPostgres } from '../../src/db/client'
import { seedDemoTiers } from '../../src/dev/demo-tiers'
import { saveTierMapping } from '../../src/imports/tier-mapping'
import {
  PATREON_SECRET,
  patreonDelivery,
  patreonSignature,
  WEBHOOK_MAPPING,
  webhookFixture,
} from '../helpers/patreon-webhooks'
import { startTestWorker, type TestWorker } from './harness'

let worker: TestWorker
let sql: postgres.Sql

beforeAll(async () => {
  worker = await startTestWorker({ PATREON_WEBHOOK_SECRET: PATREON_SECRET })
  sql = postgres(worker.databaseUrl, { max: 1, onnotice: () => {} })
  const handle = connectPostgres(worker.databaseUrl, { max: 1 })
  try {
    await seedDemoTiers(handle.db, new Date())
    await saveTierMapping(handle.db, WEBHOOK_MAPPING, new Date())
  } finally {
    await handle.close()
  }
})
afterAll(async () => {
  await sql?.end()
  await worker?.stop()
})

describe('POST /webhooks/patreon inside workerd', () => {
  it('refuses a bad signature with 401 and writes nothing', async () => {
    const body = webhookFixture('members:pledge:create')
    const res = await worker.fetch(
      '/webhooks/patreon',
      patreonDelivery('members:pledge:create', body, patreonSignature(body, 'not-the-secret')),
    )
    expect(res.status).toBe(401)
    expect((await res.json()) as unknown).toMatchObject({ error: { code: 'unauthorized' } })
    expect(await sql`select count(*)::int as n from patreon_members`).toEqual([{ n: 0 }])
    expect(await sql`select count(*)::int as n from patreon_webhook_counts`).toEqual([{ n: 0 }])
  })

  it('applies a signed delivery, ignores it when it comes again, and keeps a delete against an older update', async () => {
    const deliver = async (event: Parameters<typeof webhookFixture>[0]) => {
      const res = await worker.fetch('/webhooks/patreon', patreonDelivery(event, webhookFixture(event)))
      expect(res.status).toBe(200)
      return ((await res.json()) as { outcome: string }).outcome
    }
    expect(await deliver('members:pledge:create')).toBe('applied')
    expect(await deliver('members:pledge:create')).toBe('ignored')
    expect(await deliver('members:pledge:delete')).toBe('applied')
    expect(await deliver('members:pledge:update')).toBe('ignored')
    const [row] = await sql<{ status: string; tier_id: string }[]>`select status, tier_id from patreon_members`
    expect(row).toEqual({ status: 'former', tier_id: 'patron' })
    const counts = await sql<{ outcome: string; count: number }[]>`
      select outcome, count from patreon_webhook_counts order by outcome`
    expect(counts).toEqual([
      { outcome: 'applied', count: 2 },
      { outcome: 'ignored', count: 2 },
    ])
  })

  it('answers malformed JSON and an unknown event with 400', async () => {
    const broken = await worker.fetch('/webhooks/patreon', patreonDelivery('members:update', '{"data":'))
    expect(broken.status).toBe(400)
    const unknown = await worker.fetch(
      '/webhooks/patreon',
      patreonDelivery('posts:publish', webhookFixture('members:update')),
    )
    expect(unknown.status).toBe(400)
  })
})
