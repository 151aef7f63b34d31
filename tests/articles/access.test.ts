import { describe, expect, it, beforeAll } from 'vitest'
import { createArticle, setPublished } from '../../src/articles/articles'
import { grants, patreonMembers, type AccessLevel } from '../../src/db/schema'
import { randomId } from '../../src/util/random'
import { signIn } from '../helpers/auth'
import { donate, startTierCheckout, useBillingWorld } from '../helpers/billing'

// Every kind of reader × every kind of article, through the real app: pages and API.
const w = useBillingWorld({ live: true, env: { PAST_DUE_GRACE_DAYS: '7', DONATION_BENEFIT_DAYS: '90' } })

const DAY = 86_400_000

interface ArticleCase {
  slug: string
  access: AccessLevel
  tiers?: string[]
  earlyAccess?: boolean
}

const ARTICLES: ArticleCase[] = [
  { slug: 'for-everyone', access: 'public' },
  { slug: 'for-members', access: 'members' },
  { slug: 'for-supporters', access: 'supporters' },
  { slug: 'for-patrons', access: 'tiers', tiers: ['patron'] },
  { slug: 'early-for-supporters', access: 'public', earlyAccess: true },
]

/** A marker that appears only in an article's body, never in its title or excerpt. */
const bodyMarker = (slug: string) => `BODY-OF-${slug.toUpperCase()}`

type Persona =
  | 'anonymous'
  | 'member'
  | 'reader tier'
  | 'patron tier'
  | 'past due, in grace'
  | 'canceled, until period end'
  | 'ended'
  | 'comp (patron)'
  | 'patreon import (reader)'
  | 'recent donor'

/** Which articles each persona reads in full, and whether they see ads and support prompts. */
const EXPECTED: Record<Persona, { reads: string[]; ads: boolean; prompts: boolean }> = {
  anonymous: { reads: ['for-everyone'], ads: true, prompts: true },
  member: { reads: ['for-everyone', 'for-members'], ads: true, prompts: true },
  'reader tier': { reads: ['for-everyone', 'for-members', 'for-supporters'], ads: true, prompts: false },
  'patron tier': {
    reads: ['for-everyone', 'for-members', 'for-supporters', 'for-patrons', 'early-for-supporters'],
    ads: false,
    prompts: false,
  },
  'past due, in grace': { reads: ['for-everyone', 'for-members', 'for-supporters'], ads: true, prompts: false },
  'canceled, until period end': {
    reads: ['for-everyone', 'for-members', 'for-supporters', 'for-patrons', 'early-for-supporters'],
    ads: false,
    prompts: false,
  },
  ended: { reads: ['for-everyone', 'for-members'], ads: true, prompts: true },
  'comp (patron)': {
    reads: ['for-everyone', 'for-members', 'for-supporters', 'for-patrons', 'early-for-supporters'],
    ads: false,
    prompts: false,
  },
  'patreon import (reader)': { reads: ['for-everyone', 'for-members', 'for-supporters'], ads: true, prompts: false },
  'recent donor': { reads: ['for-everyone', 'for-members'], ads: true, prompts: false },
}

const cookies = {} as Record<Persona, string | undefined>

async function subscribe(email: string, tier: string) {
  const cookie = await signIn(w.t.app, email)
  const sessionId = await startTierCheckout(w, cookie, tier, 'month')
  await w.standIn.completeCheckout(sessionId)
  const subscriptionId = (await w.stripe.checkout.sessions.retrieve(sessionId)).subscription as string
  return { cookie, subscriptionId }
}

async function grant(email: string, source: 'comp' | 'patreon', tierId: string, endsAt: Date | null) {
  const cookie = await signIn(w.t.app, email)
  const me = await (await w.t.app.request('/api/account', { headers: { Cookie: cookie } })).json()
  const now = w.clock.now()
  const startsAt = new Date(now.getTime() - DAY)
  if (source === 'comp') {
    await w.t.services.db
      .insert(grants)
      .values({ id: randomId(), userId: me.user.id, source, tierId, startsAt, endsAt, createdAt: now, updatedAt: now })
  } else {
    // As a Patreon import keeps it: on the patron's patreon_members row.
    await w.t.services.db.insert(patreonMembers).values({
      userId: me.user.id,
      status: 'active',
      tierId,
      accessStartsAt: startsAt,
      accessEndsAt: endsAt,
      importedAt: now,
      updatedAt: now,
    })
  }
  return cookie
}

beforeAll(async () => {
  const { db } = w.t.services
  const now = w.clock.now()
  for (const a of ARTICLES) {
    const article = await createArticle(db, now, {
      title: `Article ${a.slug}`,
      slug: a.slug,
      excerpt: `The excerpt of ${a.slug}.`,
      author: 'A. Reporter',
      body: `Opening paragraph.\n\n${bodyMarker(a.slug)} is only in the body.`,
      access: a.access,
      tiers: a.tiers,
      earlyAccessUntil: a.earlyAccess ? new Date(now.getTime() + 3 * DAY) : null,
    })
    await setPublished(db, new Date(now.getTime() - 1000), article.id, true)
  }

  cookies.anonymous = undefined
  cookies.member = await signIn(w.t.app, 'member@access.example')
  cookies['reader tier'] = (await subscribe('reader@access.example', 'reader')).cookie
  cookies['patron tier'] = (await subscribe('patron@access.example', 'patron')).cookie

  const pastDue = await subscribe('pastdue@access.example', 'reader')
  await w.standIn.failPayment(pastDue.subscriptionId)
  cookies['past due, in grace'] = pastDue.cookie

  const canceling = await subscribe('canceling@access.example', 'patron')
  await w.standIn.setCancelAtPeriodEnd(canceling.subscriptionId, true)
  cookies['canceled, until period end'] = canceling.cookie

  const ended = await subscribe('ended@access.example', 'patron')
  await w.standIn.endSubscription(ended.subscriptionId)
  cookies.ended = ended.cookie

  cookies['comp (patron)'] = await grant('comp@access.example', 'comp', 'patron', null)
  cookies['patreon import (reader)'] = await grant(
    'patreon@access.example',
    'patreon',
    'reader',
    new Date(now.getTime() + 20 * DAY),
  )

  const donor = await signIn(w.t.app, 'donor@access.example')
  await donate(w, donor, 1500)
  cookies['recent donor'] = donor
  expect(w.standIn.deliveries().every((d) => d.status === 200)).toBe(true)
}, 60_000)

const headersOf = (cookie: string | undefined): Record<string, string> => (cookie ? { Cookie: cookie } : {})

describe('the access matrix', () => {
  for (const [persona, expected] of Object.entries(EXPECTED) as [Persona, (typeof EXPECTED)[Persona]][]) {
    describe(persona, () => {
      for (const article of ARTICLES) {
        const full = expected.reads.includes(article.slug)
        it(`${article.slug}: ${full ? 'full text' : 'preview only'}, ${expected.ads ? 'with' : 'without'} ads`, async () => {
          const page = await w.t.app.request(`/articles/${article.slug}`, { headers: headersOf(cookies[persona]) })
          expect(page.status).toBe(200)
          const html = await page.text()
          expect(html).toContain(`Article ${article.slug}`)
          expect(html.includes(bodyMarker(article.slug))).toBe(full)
          expect(html.includes('class="gate"')).toBe(!full)
          expect(html.includes('class="ad-slot"')).toBe(expected.ads)
          // Support prompts come after a full text; a preview asks to join instead.
          expect(html.includes('class="support-prompt"')).toBe(full && expected.prompts)

          const api = await w.t.app.request(`/api/articles/${article.slug}`, { headers: headersOf(cookies[persona]) })
          expect(api.status).toBe(200)
          const json = await api.json()
          expect(json.access).toBe(full ? 'full' : 'preview')
          expect(json.ads).toBe(expected.ads)
          expect(JSON.stringify(json).includes(bodyMarker(article.slug))).toBe(full)
          expect(json.article.excerpt).toBe(`The excerpt of ${article.slug}.`)
        })
      }

      it(`the front page ${expected.ads ? 'has' : 'has no'} ad slots and ${expected.prompts ? 'asks' : 'does not ask'} for support`, async () => {
        const html = await (await w.t.app.request('/', { headers: headersOf(cookies[persona]) })).text()
        expect(html.includes('class="ad-slot"')).toBe(expected.ads)
        expect(html.includes('class="support-prompt"')).toBe(expected.prompts)
        for (const article of ARTICLES) expect(html).toContain(`Article ${article.slug}`)
      })
    })
  }
})

describe('GET /api/entitlements', () => {
  const get = async (persona: Persona) =>
    (await w.t.app.request('/api/entitlements', { headers: headersOf(cookies[persona]) })).json()

  it('anonymous readers get the empty set, not an error', async () => {
    const res = await w.t.app.request('/api/entitlements')
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({
      signedIn: false,
      benefits: [],
      tiers: [],
      ads: true,
      membership: { status: 'none', source: null, entitled: false },
    })
  })

  it('says where each membership comes from and what it grants', async () => {
    expect(await get('patron tier')).toMatchObject({
      benefits: ['adFree', 'hideSupportPrompts', 'supportersOnlyContent', 'earlyAccess'],
      tiers: ['patron'],
      membership: { status: 'active', source: 'stripe', tierId: 'patron' },
    })
    expect(await get('past due, in grace')).toMatchObject({
      benefits: ['hideSupportPrompts', 'supportersOnlyContent'],
      membership: { status: 'past_due', entitled: true },
    })
    expect(await get('canceled, until period end')).toMatchObject({
      membership: { status: 'canceled_at_period_end', entitled: true },
    })
    expect(await get('ended')).toMatchObject({ benefits: [], membership: { status: 'ended', entitled: false } })
    expect(await get('comp (patron)')).toMatchObject({
      tiers: ['patron'],
      membership: { status: 'active', source: 'comp', until: null },
    })
    expect(await get('patreon import (reader)')).toMatchObject({
      benefits: ['hideSupportPrompts', 'supportersOnlyContent'],
      membership: { source: 'patreon', entitled: true },
    })
    const donor = await get('recent donor')
    expect(donor).toMatchObject({ benefits: ['hideSupportPrompts'], ads: true, supportPrompts: false })
    expect(new Date(donor.donorUntil).getTime()).toBe(w.clock.now().getTime() + 90 * DAY)
  })

  it('time moves the states on: grace ends, the period ends, the donation and the Patreon membership lapse', async () => {
    const start = w.clock.now()
    try {
      w.clock.set(new Date(start.getTime() + 8 * DAY).toISOString())
      expect((await get('past due, in grace')).benefits).toEqual([])
      expect((await get('patreon import (reader)')).benefits).toEqual(['hideSupportPrompts', 'supportersOnlyContent'])
      w.clock.set(new Date(start.getTime() + 21 * DAY).toISOString())
      expect((await get('patreon import (reader)')).membership.status).toBe('none')
      w.clock.set(new Date(start.getTime() + 40 * DAY).toISOString())
      expect((await get('canceled, until period end')).membership).toMatchObject({ entitled: false })
      expect((await get('recent donor')).benefits).toEqual(['hideSupportPrompts'])
      w.clock.set(new Date(start.getTime() + 91 * DAY).toISOString())
      expect((await get('recent donor')).benefits).toEqual([])
      // Early access is over: the article is public now.
      const html = await (await w.t.app.request('/articles/early-for-supporters')).text()
      expect(html).toContain(bodyMarker('early-for-supporters'))
    } finally {
      w.clock.set(start.toISOString())
    }
  })

  it('a donation refunded in full stops hiding the support prompts; a partial refund does not', async () => {
    const donor = await signIn(w.t.app, 'refunded-donor@access.example')
    const sessionId = await donate(w, donor, 2000)
    const paymentIntent = (await w.stripe.checkout.sessions.retrieve(sessionId)).payment_intent as string
    const benefits = async () =>
      (
        (await (await w.t.app.request('/api/entitlements', { headers: { Cookie: donor } })).json()) as {
          benefits: string[]
        }
      ).benefits
    expect(await benefits()).toEqual(['hideSupportPrompts'])
    await w.standIn.refund(paymentIntent, 500)
    expect(await benefits()).toEqual(['hideSupportPrompts'])
    await w.standIn.refund(paymentIntent, 1500)
    expect(await benefits()).toEqual([])
    expect(w.standIn.deliveries().every((d) => d.status === 200)).toBe(true)
  })

  it('a comp gives way to a paid membership: only the paid one counts', async () => {
    const cookie = cookies['comp (patron)']!
    const sessionId = await startTierCheckout(w, cookie, 'reader', 'month')
    await w.standIn.completeCheckout(sessionId)
    const after = await (await w.t.app.request('/api/entitlements', { headers: { Cookie: cookie } })).json()
    expect(after).toMatchObject({
      benefits: ['hideSupportPrompts', 'supportersOnlyContent'],
      tiers: ['reader'],
      membership: { source: 'stripe', tierId: 'reader' },
    })
  })
})
