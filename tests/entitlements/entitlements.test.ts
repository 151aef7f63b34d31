import { sign } from 'hono/jwt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ANONYMOUS, entitlementsFrom, type Entitlements } from '../../src/entitlements/entitlements'
import { issueEntitlementToken, TOKEN_AUDIENCE, verifyEntitlementToken } from '../../src/entitlements/token'
import { createTestApp, type TestApp } from '../helpers/app'
import { signIn } from '../helpers/auth'

const SECRET = 'test-entitlement-secret-0123456789abcdef'
const ISSUER = 'http://localhost:8787'
let t: TestApp

beforeAll(async () => {
  // The real clock: tokens are checked against the time now, as a CDN would.
  t = await createTestApp({ clock: { now: () => new Date() }, env: { ENTITLEMENT_TOKEN_SECRET: SECRET } })
})
afterAll(() => t.close())

const patron: Entitlements = {
  ...ANONYMOUS,
  benefits: ['adFree', 'hideSupportPrompts', 'supportersOnlyContent', 'earlyAccess'],
  tierIds: ['patron'],
}

describe('entitlement tokens', () => {
  it('GET /api/entitlements/token gives a short-lived token that verifies without the database', async () => {
    const cookie = await signIn(t.app, 'token@example.org')
    const res = await t.app.request('/api/entitlements/token', { headers: { Cookie: cookie } })
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('private, no-store')
    const { token, expiresAt, benefits } = await res.json()
    expect(benefits).toEqual([])
    const claims = await verifyEntitlementToken(token, { issuer: ISSUER, secret: SECRET })
    expect(claims).toMatchObject({ iss: ISSUER, aud: TOKEN_AUDIENCE, benefits: [], status: 'none' })
    expect(claims.exp - claims.iat).toBe(600)
    expect(new Date(expiresAt).getTime()).toBe(claims.exp * 1000)
    // It names no one.
    expect(JSON.stringify(claims)).not.toContain('token@example.org')
    expect(claims).not.toHaveProperty('sub')
  })

  it('anonymous readers get a token for the empty set', async () => {
    const { token } = await (await t.app.request('/api/entitlements/token')).json()
    expect((await verifyEntitlementToken(token, { issuer: ISSUER, secret: SECRET })).benefits).toEqual([])
  })

  it('a tampered token is refused: changed claims, another key, alg none, another issuer', async () => {
    const { token } = await issueEntitlementToken(ANONYMOUS, {
      issuer: ISSUER,
      secret: SECRET,
      now: new Date(),
      ttlSeconds: 600,
    })
    const [header, payload, signature] = token.split('.')
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString())
    const raised = Buffer.from(JSON.stringify({ ...claims, benefits: ['adFree'] })).toString('base64url')
    await expect(
      verifyEntitlementToken(`${header}.${raised}.${signature}`, { issuer: ISSUER, secret: SECRET }),
    ).rejects.toThrow()

    const forged = await sign({ ...claims, benefits: ['adFree'] }, 'another-secret-another-secret-another', 'HS256')
    await expect(verifyEntitlementToken(forged, { issuer: ISSUER, secret: SECRET })).rejects.toThrow()

    const none = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')
    await expect(verifyEntitlementToken(`${none}.${raised}.`, { issuer: ISSUER, secret: SECRET })).rejects.toThrow()

    const elsewhere = await issueEntitlementToken(patron, {
      issuer: 'https://other.example',
      secret: SECRET,
      now: new Date(),
      ttlSeconds: 600,
    })
    await expect(verifyEntitlementToken(elsewhere.token, { issuer: ISSUER, secret: SECRET })).rejects.toThrow()
  })

  it('an expired token is refused; a fresh one for the same reader is accepted', async () => {
    const old = await issueEntitlementToken(patron, {
      issuer: ISSUER,
      secret: SECRET,
      now: new Date(Date.now() - 601_000),
      ttlSeconds: 600,
    })
    await expect(verifyEntitlementToken(old.token, { issuer: ISSUER, secret: SECRET })).rejects.toThrow(/expired/i)
    const fresh = await issueEntitlementToken(patron, {
      issuer: ISSUER,
      secret: SECRET,
      now: new Date(),
      ttlSeconds: 600,
    })
    expect((await verifyEntitlementToken(fresh.token, { issuer: ISSUER, secret: SECRET })).benefits).toEqual(
      patron.benefits,
    )
  })
})

describe('cache headers', () => {
  it('anonymous reader pages may be cached by anyone, and vary by cookie', async () => {
    const home = await t.app.request('/')
    expect(home.status).toBe(200)
    expect(home.headers.get('cache-control')).toBe('public, max-age=60')
    expect(home.headers.get('vary')).toBe('Cookie')
  })

  it('a signed-in reader’s pages are private', async () => {
    const cookie = await signIn(t.app, 'private@example.org')
    const home = await t.app.request('/', { headers: { Cookie: cookie } })
    expect(home.headers.get('cache-control')).toBe('private, no-cache')
    expect(home.headers.get('vary')).toBe('Cookie')
    const ent = await t.app.request('/api/entitlements', { headers: { Cookie: cookie } })
    expect(ent.headers.get('cache-control')).toBe('private, no-store')
  })

  it('a response that clears a dead session cookie is never public', async () => {
    const res = await t.app.request('/', { headers: { Cookie: 'masthead_session=not-a-session' } })
    expect(res.headers.getSetCookie().join()).toContain('masthead_session=;')
    expect(res.headers.get('cache-control')).toBe('private, no-cache')
  })
})

describe('entitlementsFrom', () => {
  const now = new Date('2026-11-25T12:00:00Z')
  const rules = { PAST_DUE_GRACE_DAYS: 7, DONATION_BENEFIT_DAYS: 90 }
  it('an empty history is the empty set', () => {
    expect(entitlementsFrom({ subscriptions: [], grants: [], lastDonationAt: null }, now, rules)).toEqual(ANONYMOUS)
  })
  it('a grant not yet started, ended or for a deleted tier gives nothing', () => {
    const grant = { id: 'g', source: 'comp' as const, tierName: null, startsAt: now, endsAt: null }
    const facts = {
      subscriptions: [],
      lastDonationAt: null,
      grants: [
        { ...grant, tierId: 'patron', tierBenefits: ['adFree' as const], startsAt: new Date(now.getTime() + 1000) },
        { ...grant, tierId: 'patron', tierBenefits: ['adFree' as const], endsAt: now },
        { ...grant, tierId: null, tierBenefits: null },
      ],
    }
    expect(entitlementsFrom(facts, now, rules).benefits).toEqual([])
  })
})
