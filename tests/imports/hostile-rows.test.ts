import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rowsOf } from '../../src/db/client'
import { seedDemoTiers } from '../../src/dev/demo-tiers'
import { createTestApp, runDueJobs, type TestApp } from '../helpers/app'
import { signIn } from '../helpers/auth'

/**
 * Patreon rows that passed the preview and then failed the commit, or were stored as they came:
 * every one is now answered before anything is written, naming the line and what is wrong; tier
 * names that every object inherits map like any other.
 */
let t: TestApp
let admin: string

beforeAll(async () => {
  t = await createTestApp({ env: { ADMIN_EMAILS: 'admin@hostile.example' } })
  admin = await signIn(t.app, 'admin@hostile.example')
  await seedDemoTiers(t.services.db, new Date())
})
afterAll(() => t.close())

const [header, ada] = readFileSync(join(import.meta.dirname, 'fixtures', 'current.csv'), 'utf8').split('\n')
const columns = header!.split(',')

/** Ada's row of the fixture (no quoted commas in it) with some cells changed. */
function fileWith(changes: Record<string, string>): string {
  const cells = ada!.split(',')
  for (const [column, value] of Object.entries(changes)) cells[columns.indexOf(column)] = value
  return `${header}\n${cells.join(',')}\n`
}

async function importFile(file: string, mapping: string) {
  const form = new FormData()
  form.set('file', new File([file], 'members.csv', { type: 'text/csv' }))
  form.set('mapping', mapping)
  const res = await t.app.request('/api/admin/imports/patreon', {
    method: 'POST',
    headers: { Cookie: admin },
    body: form,
  })
  const body = (await res.json()) as { error?: { message: string }; counts?: { new: number }; job?: { id: string } }
  // Accepted: the import runs as a job (src/imports/jobs.ts), run here as the server's loop would.
  if (res.status === 202) await runDueJobs(t)
  return { status: res.status, body }
}

const accounts = () => rowsOf<{ n: number }>(t.services.db, sql`select count(*)::int as n from users`)

describe('hostile Patreon rows', () => {
  for (const [label, changes, reason] of [
    [
      'a huge pledge',
      { 'Pledge Amount': '99999999999999.99' },
      'The Pledge Amount "99999999999999.99" is not an amount',
    ],
    [
      'a far-future date',
      { 'Next Charge Date': '10000-01-01 00:00:00' },
      'The Next Charge Date "10000-01-01 00:00:00"',
    ],
    ['a NUL in the name', { Name: 'Ada\u0000Lovelace' }, 'The name holds a control character'],
    ['a line feed in the name', { Name: '"Ada\n=1+1"' }, 'The name holds a control character'],
    ['a NUL in the address', { Email: 'ada\u0000@example.com' }, 'The e-mail address is not valid.'],
  ] as const) {
    it(`${label}: 422 naming line 2, and nothing written`, async () => {
      const before = await accounts()
      const { status, body } = await importFile(fileWith(changes), '{"Reader":"reader"}')
      expect(status).toBe(422)
      expect(body.error!.message).toContain(`line 2, ${reason}`)
      expect(await accounts()).toEqual(before)
    })
  }

  it('tiers named constructor, toString or __proto__ map only as the mapping says', async () => {
    for (const tier of ['constructor', 'toString', '__proto__']) {
      const unmapped = await importFile(fileWith({ Tier: tier, Email: `${tier}@example.com` }), '{"Reader":"reader"}')
      expect(unmapped.status, tier).toBe(422)
      expect(unmapped.body.error!.message).toContain(`The Patreon tier "${tier}" is not mapped to a Masthead tier.`)
      const mapped = await importFile(fileWith({ Tier: tier, Email: `${tier}@example.com` }), `{"${tier}":"reader"}`)
      expect(mapped.status, tier).toBe(202)
      expect(mapped.body.counts!.new, tier).toBe(1)
    }
  })
})
