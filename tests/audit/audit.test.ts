import { createHash, createHmac } from 'node:crypto'
import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { describeTerm, hashTerm, TERM_REMOVED } from '../../src/audit/search-terms'
import { seedDemoTiers } from '../../src/dev/demo-tiers'
import { auditLog, users } from '../../src/db/schema'
import { createTestApp, type TestApp } from '../helpers/app'
import { signIn } from '../helpers/auth'
import { accountByEmail, expectSealed } from '../helpers/sealed'

const SECRET = 'an-entitlement-token-secret-of-at-least-32-characters'

describe('hashTerm: what the audit log keeps of a typed term', () => {
  it('is an HMAC-SHA256 in hex, the same for the same term however it was typed', async () => {
    const hashed = await hashTerm(SECRET, 'Zelda Zimmermann')
    expect(hashed).toMatch(/^hmac-sha256:[0-9a-f]{64}$/)
    expect(await hashTerm(SECRET, '  zelda ZIMMERMANN ')).toBe(hashed)
    expect(await hashTerm(SECRET, 'Zelda Zimmerman')).not.toBe(hashed)
  })

  it('depends on the secret, under a key derived from it rather than the secret itself', async () => {
    const hashed = await hashTerm(SECRET, 'zelda@example.org')
    expect(await hashTerm(`${SECRET}-rotated`, 'zelda@example.org')).not.toBe(hashed)
    const hex = hashed.slice('hmac-sha256:'.length)
    expect(hex).not.toBe(createHmac('sha256', SECRET).update('zelda@example.org').digest('hex'))
    expect(hex).not.toBe(createHash('sha256').update('zelda@example.org').digest('hex'))
  })

  it('is shown as "a search (hash …)", and a term removed by drizzle/0013 as such', async () => {
    const hashed = await hashTerm(SECRET, 'zelda')
    expect(describeTerm(hashed)).toBe(`a search (hash ${hashed.slice(12, 24)}…)`)
    expect(describeTerm(TERM_REMOVED)).toBe('a search (term removed)')
    expect(describeTerm('active')).toBe('active')
  })
})

describe('the audit log of an export', () => {
  let t: TestApp
  let admin: string
  let editor: string
  let editorId: string
  beforeAll(async () => {
    t = await createTestApp({ env: { ADMIN_EMAILS: 'admin@audit.example', ENTITLEMENT_TOKEN_SECRET: SECRET } })
    await seedDemoTiers(t.database.db, t.services.clock.now())
    admin = await signIn(t.app, 'admin@audit.example')
    editor = await signIn(t.app, 'editor@audit.example')
    editorId = (await accountByEmail(t.database.db, t.services.config, 'editor@audit.example'))!.id
    await t.database.db.update(users).set({ role: 'editor' }).where(eq(users.id, editorId))
  })
  afterAll(() => t.close())

  const exportCsv = async (query: Record<string, string>, cookie: string) => {
    const res = await t.app.request(`/api/admin/supporters.csv?${new URLSearchParams(query)}`, {
      headers: { Cookie: cookie },
    })
    expect(res.status).toBe(200)
    await res.text()
  }

  it('keeps the search and a tier typed as free text as keyed hashes, and chosen values as they are', async () => {
    await exportCsv({ q: 'Zelda Zimmermann', tier: 'Zelda', status: 'active' }, editor)
    await exportCsv({ q: 'zelda@example.org', tier: 'reader' }, editor)
    const entries = await t.database.db
      .select()
      .from(auditLog)
      .where(eq(auditLog.action, 'supporters.exported'))
      .orderBy(auditLog.id)
    expect(entries.map((e) => e.details)).toEqual([
      {
        filter: {
          q: await hashTerm(SECRET, 'Zelda Zimmermann'),
          tier: await hashTerm(SECRET, 'Zelda'),
          status: 'active',
          sort: 'since',
        },
        rows: 0,
      },
      { filter: { q: await hashTerm(SECRET, 'zelda@example.org'), tier: 'reader', sort: 'since' }, rows: 0 },
    ])
    expect(entries.every((e) => e.actorId === editorId)).toBe(true)
    expect(JSON.stringify(entries).toLowerCase()).not.toContain('zelda')
  })

  it('the audit page shows "a search (hash …)" and the API the stored hash, never the term', async () => {
    const html = await (await t.app.request('/admin/audit', { headers: { Cookie: admin } })).text()
    const hashed = await hashTerm(SECRET, 'Zelda Zimmermann')
    expect(html).toContain(`a search (hash ${hashed.slice(12, 24)}…)`)
    expect(html).toContain('typed text (hash ')
    // The actor's address, stored encrypted, is shown decrypted.
    const [actor] = await t.database.db.select().from(users).where(eq(users.id, editorId))
    expectSealed(actor!.card, 'editor@audit.example')
    expect(html).toContain('<td>editor@audit.example</td>')
    expect(html).not.toContain(actor!.card)
    expect(html.toLowerCase()).not.toContain('zelda')
    const api = await (await t.app.request('/api/admin/audit', { headers: { Cookie: admin } })).text()
    expect(api).toContain(hashed)
    expect(JSON.parse(api).entries).toContainEqual(
      expect.objectContaining({ actorId: editorId, actorEmail: 'editor@audit.example' }),
    )
    expect(api).not.toContain(actor!.card)
    expect(api.toLowerCase()).not.toContain('zelda')
  })

  it('names an actor whose account is deleted by id, with no address', async () => {
    const res = await t.app.request('/api/account', { method: 'DELETE', headers: { Cookie: editor } })
    expect(res.status).toBe(200)
    const html = await (await t.app.request('/admin/audit', { headers: { Cookie: admin } })).text()
    expect(html).toContain(`<td>a deleted account (${editorId})</td>`)
    expect(html).not.toContain('editor@audit.example')
    const { entries } = await (await t.app.request('/api/admin/audit', { headers: { Cookie: admin } })).json()
    const theirs = entries.filter((e: { actorId: string }) => e.actorId === editorId)
    expect(theirs).toHaveLength(2)
    for (const entry of theirs) expect(entry.actorEmail).toBeNull()
  })
})
