import { parse } from 'csv-parse/sync'
import { desc, eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { seedDemoTiers } from '../../src/dev/demo-tiers'
import { auditLog } from '../../src/db/schema'
import { parsePatreonCsv } from '../../src/imports/patreon-csv'
import { createTestApp, type TestApp } from '../helpers/app'
import { signIn } from '../helpers/auth'

const ADMIN = 'admin@rejected.example'
let t: TestApp
let admin: string

const HEADER =
  'Name,Email,Street,Phone,Patron Status,Free Member,Lifetime Amount,Pledge Amount,Charge Frequency,Tier,' +
  'Patronage Since Date,Last Charge Date,Last Charge Status,User ID,Last Updated,Currency,Access Expiration,Next Charge Date'
/** Two good rows, a row the reader refuses (its address), a formula for a name, and a tier nobody maps. */
const FILE = [
  HEADER,
  'Ada Lovelace,ada@example.com,12 St James Square,+44 20 7946 0018,Active patron,No,35.88,2.99,monthly,Reader,2025-08-10 13:37:12,2026-11-10 13:37:14,Paid,1001,,GBP,,2026-12-10 00:00:00',
  'Grace Hopper,not-an-address,1 Compiler Way,+1 703 555 0142,Active patron,No,200.00,100.00,Annual,Patron,2024-03-01 09:00:00,2026-03-01 09:00:03,Paid,1002,,USD,,2027-03-01 00:00:00',
  '"=HYPERLINK(""https://evil.example"")",@bad,Somewhere,000,Active patron,No,5.00,5.00,monthly,Reader,2025-01-01 00:00:00,2026-11-01 00:00:00,Paid,1003,,USD,,2026-12-01 00:00:00',
  'Alan Turing,alan@bletchley.example,Hanslope Park,+44 1908,Active patron,No,15.00,12.00,monthly,Gold,2026-05-02 11:12:13,2026-11-02 11:12:20,Paid,1004,,USD,,2026-12-02 11:12:20',
  'Katherine Johnson,kj@orbit.example.com,4 Langley Blvd,+1 757,Active patron,No,60.00,10.00,monthly,Patron,2025-06-30 18:00:00,2026-11-15 18:00:01,Paid,1005,,USD,,2026-12-15 18:00:00',
].join('\n')

beforeAll(async () => {
  t = await createTestApp({ env: { ADMIN_EMAILS: ADMIN } })
  await seedDemoTiers(t.services.db, t.services.clock.now())
  admin = await signIn(t.app, ADMIN)
})
afterAll(() => t.close())

async function preview(): Promise<{ html: string; batch: string; download: string }> {
  const form = new FormData()
  form.set('file', new File([FILE], 'members.csv', { type: 'text/csv' }))
  const res = await t.app.request('/admin/imports/patreon', { method: 'POST', headers: { Cookie: admin }, body: form })
  expect(res.status).toBe(200)
  const html = await res.text()
  const batch = /action="\/admin\/imports\/patreon\/([^"]+)"/.exec(html)![1]!
  const download = /href="([^"]*rejected\.csv[^"]*)"/.exec(html)![1]!.replaceAll('&amp;', '&')
  return { html, batch, download }
}

describe('the preview page', () => {
  it('pre-fills the suggested mapping: the tier of the same name, else the nearest monthly price', async () => {
    const { html } = await preview()
    // Reader and Patron are demo tiers' names; Gold (12.00 USD a month) is priced nearest Patron (15.00, not 5.00).
    expect(html).toMatch(/<option value="reader" selected="">Reader<\/option>/)
    expect(html).toMatch(/<option value="patron" selected="">Patron<\/option>/)
    const gold = html.slice(html.indexOf('Gold ('), html.indexOf('</select>', html.indexOf('Gold (')))
    expect(gold).toContain('<option value="patron" selected="">')
  })
})

describe('downloading the rejected rows', () => {
  it('gives them as a CSV to fix and upload again: the columns read, a reason, formulas defused', async () => {
    const { download } = await preview()
    const res = await t.app.request(download, { headers: { Cookie: admin } })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8')
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="patreon-rejected-2026-11-25\.csv"$/)
    expect(res.headers.get('cache-control')).toBe('private, no-store')
    const text = await res.text()
    const rows = parse(text, { bom: true, columns: true }) as Record<string, string>[]
    expect(rows.map((r) => r.Email)).toEqual(['not-an-address', "'@bad"])
    expect(rows[0]).toMatchObject({ Name: 'Grace Hopper', 'Patron Status': 'Active patron', Tier: 'Patron' })
    expect(rows[0]!.reason).toBe('The e-mail address is not valid.')
    expect(rows[1]!.Name).toBe(`'=HYPERLINK("https://evil.example")`)
    // Never kept, so never given back: the street and the phone.
    expect(text).not.toContain('Compiler Way')
    expect(text).not.toContain('703')
    // The file reads as a Patreon export again.
    expect(parsePatreonCsv(text).rejected.map((r) => r.line)).toEqual([2, 3])
  })

  it('includes the rows the mapping rejects, written back from what was read', async () => {
    const { batch } = await preview()
    const res = await t.app.request(
      `/admin/imports/patreon/${batch}/rejected.csv?patreon_tier=Reader&masthead_tier=reader`,
      { headers: { Cookie: admin } },
    )
    const rows = parse(await res.text(), { bom: true, columns: true }) as Record<string, string>[]
    const gold = rows.find((r) => r.Tier === 'Gold')!
    expect(gold).toMatchObject({
      Name: 'Alan Turing',
      Email: 'alan@bletchley.example',
      'Pledge Amount': '12.00',
      Currency: 'USD',
      'Patronage Since Date': '2026-05-02 11:12:13',
      reason: 'The Patreon tier "Gold" is not mapped to a Masthead tier.',
    })
    expect(rows.map((r) => r.Email)).toEqual([
      'not-an-address',
      "'@bad",
      'alan@bletchley.example',
      'kj@orbit.example.com',
    ])
  })

  it('is audited, naming the preview and the count, not the people', async () => {
    const { batch, download } = await preview()
    await t.app.request(download, { headers: { Cookie: admin } })
    const [entry] = await t.services.db
      .select()
      .from(auditLog)
      .where(eq(auditLog.action, 'patreon.rejected_exported'))
      .orderBy(desc(auditLog.id))
      .limit(1)
    expect(entry).toMatchObject({ subjectUserId: null, details: { batch, rows: 2 } })
    expect(entry!.actorId).not.toBeNull()
    expect(JSON.stringify(entry)).not.toContain('Hopper')
  })

  it('is refused to anyone but an admin', async () => {
    const { download } = await preview()
    const before = await t.services.db.select().from(auditLog).where(eq(auditLog.action, 'patreon.rejected_exported'))
    for (const email of [null, 'reader@rejected.example']) {
      const headers: Record<string, string> = email ? { Cookie: await signIn(t.app, email) } : {}
      const res = await t.app.request(download, { headers })
      expect(res.status).toBe(303)
      expect(res.headers.get('content-disposition')).toBeNull()
    }
    const editor = await signIn(t.app, 'editor@rejected.example')
    await t.app.request('/api/admin/staff', {
      method: 'POST',
      headers: { Cookie: admin, 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: 'editor@rejected.example', role: 'editor' }),
    })
    const asEditor = await t.app.request(download, { headers: { Cookie: editor } })
    expect(asEditor.status).toBe(303)
    expect(asEditor.headers.get('content-disposition')).toBeNull()
    const after = await t.services.db.select().from(auditLog).where(eq(auditLog.action, 'patreon.rejected_exported'))
    expect(after).toHaveLength(before.length)
  })
})
