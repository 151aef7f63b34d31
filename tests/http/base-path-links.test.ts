/**
 * Masthead under MASTHEAD_PATH=/members (gateway mode): every link, form,
 * asset, redirect, e-mailed link and Stripe return URL it makes points under
 * /members. Standalone mode (no base path) is what every other test runs, so
 * they check that it is unchanged.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { issueEmailToken } from '../../src/accounts/email-tokens'
import { syncAllToStripe } from '../../src/billing/tiers/stripe-sync'
import { articles, subscriptions } from '../../src/db/schema'
import { seedDemoTiers } from '../../src/dev/demo-tiers'
import { startStripeStandIn, type StripeStandIn } from '../../src/dev/stripe-stand-in'
import { createTestApp, fixedClock, runDueJobs, type TestApp } from '../helpers/app'
import { nextClientIp, sessionCookie } from '../helpers/auth'
import { sessionIdOf } from '../helpers/billing'
import { accountByEmail } from '../helpers/sealed'

const BASE = '/members'
const APP_URL = 'http://localhost:8787'
const ADMIN = 'admin@base.example'
const READER = 'reader@base.example'
const FRIEND = 'friend@base.example'
const PUBLIC = 'base-public'
const MEMBERS = 'base-members-only'
const SUPPORTERS = 'base-supporters-only'

/** One of Masthead's paths under the base: /members itself, or /members/…, /members?… */
const UNDER_BASE = /^\/members(?:[/?#]|$)/

let t: TestApp
let standIn: StripeStandIn
let admin: string
let reader: string

type Form = Record<string, string> | [string, string][] | FormData

/** A request as a browser makes it: a GET, or a form posted, with the session cookie if given. */
function send(path: string, options: { cookie?: string | undefined; form?: Form } = {}) {
  const headers: Record<string, string> = { 'CF-Connecting-IP': nextClientIp() }
  if (options.cookie) headers.Cookie = options.cookie
  if (!options.form) return t.app.request(path, { headers })
  if (options.form instanceof FormData) return t.app.request(path, { method: 'POST', headers, body: options.form })
  headers['Content-Type'] = 'application/x-www-form-urlencoded'
  return t.app.request(path, { method: 'POST', headers, body: new URLSearchParams(options.form) })
}

const location = (res: Response) => res.headers.get('location') ?? ''

/** The newest e-mail to an address in the development mailbox. */
async function lastMail(email: string) {
  const res = await t.app.request(`${BASE}/dev/mailbox.json`)
  const { messages } = (await res.json()) as { messages: { to: string; subject: string; text: string; html: string }[] }
  return messages.find((m) => m.to === email)
}

/** The sign-in (or new address) link in the newest e-mail to an address. */
async function mailedLink(email: string): Promise<string> {
  return (await lastMail(email))?.text.match(/https?:\/\/\S+\/auth\/verify\?token=[\w-]+/)?.[0] ?? ''
}

/** Opens an e-mailed link and presses the page's button, as a person would; returns the answer to the press. */
async function followMailedLink(link: string, cookie?: string) {
  const url = new URL(link)
  const opened = await send(`${url.pathname}${url.search}`, { cookie })
  expect(opened.status).toBe(200)
  const action = (await opened.text()).match(/<form method="post" action="([^"]*)"/)?.[1] ?? ''
  return send(action, { cookie, form: { token: url.searchParams.get('token')! } })
}

/** Signs in through the pages under the base path: the form, the e-mail, the link, the button. */
async function signIn(email: string, next?: string) {
  const asked = await send(`${BASE}/auth/sign-in`, { form: { email, ...(next ? { next } : {}) } })
  expect(asked.status).toBe(200)
  const link = await mailedLink(email)
  expect(link).toMatch(new RegExp(`^${APP_URL}${BASE}/auth/verify\\?token=[\\w-]+$`))
  const confirmed = await followMailedLink(link)
  expect(confirmed.status).toBe(303)
  const cookie = sessionCookie(confirmed)
  expect(cookie).toBeTruthy()
  return { cookie: cookie!, location: location(confirmed) }
}

const userId = async (email: string) => (await accountByEmail(t.services.db, t.services.config, email))!.id

beforeAll(async () => {
  const clock = fixedClock()
  let app: TestApp['app'] | undefined
  standIn = await startStripeStandIn({
    now: clock.now,
    deliver: async (payload, signature) => {
      const res = await app!.request(`${BASE}/webhooks/stripe`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Stripe-Signature': signature },
        body: payload,
      })
      return { status: res.status }
    },
  })
  t = await createTestApp({
    clock,
    basePath: BASE,
    env: {
      MASTHEAD_PATH: BASE,
      ADMIN_EMAILS: ADMIN,
      ...standIn.env,
    },
  })
  app = t.app
  const now = clock.now()
  await seedDemoTiers(t.services.db, now)
  await syncAllToStripe(t.services)
  await t.services.db.insert(articles).values(
    [
      [PUBLIC, 'public'],
      [MEMBERS, 'members'],
      [SUPPORTERS, 'supporters'],
    ].map(([slug, access]) => ({
      id: slug!,
      slug: slug!,
      title: `Article ${slug}`,
      excerpt: 'An excerpt.',
      author: 'Test',
      bodyMarkdown: 'Body.',
      bodyHtml: '<p>Body.</p>',
      access: access as 'public' | 'members' | 'supporters',
      publishedAt: now,
      createdAt: now,
      updatedAt: now,
    })),
  )

  admin = (await signIn(ADMIN)).cookie
  reader = (await signIn(READER)).cookie
  await signIn(FRIEND)
  // The reader becomes a paying member (a billing account, a row in the supporters list) and the friend
  // gets a comp (a revoke form on their page, an audit entry linking to it).
  const checkout = await send(`${BASE}/billing/checkout`, {
    cookie: reader,
    form: { tier: 'reader', interval: 'month' },
  })
  expect(checkout.status).toBe(303)
  await standIn.completeCheckout(sessionIdOf(location(checkout)))
  const comp = await send(`${BASE}/admin/supporters/${await userId(FRIEND)}/comps`, {
    cookie: admin,
    form: { tier: 'patron', months: '3' },
  })
  expect(comp.status).toBe(303)
}, 60_000)

afterAll(async () => {
  await standIn?.close()
  await t?.close()
})

interface Link {
  page: string
  attribute: string
  value: string
}

/** Every href, action and src of a page. */
function linksOf(page: string, html: string): Link[] {
  return [...html.matchAll(/\s(href|action|src)="([^"]*)"/g)].map(([, attribute, value]) => ({
    page,
    attribute: attribute!,
    value: value!.replaceAll('&amp;', '&'),
  }))
}

/**
 * Requests the pages, then every page of Masthead's they link to or redirect
 * to, breadth first, as the person with `cookie`; returns the paths visited,
 * their statuses and every link found (a redirect's Location among them).
 */
async function crawl(seeds: string[], cookie?: string) {
  const statuses = new Map<string, number>()
  const links: Link[] = []
  const queue = [...seeds]
  while (queue.length > 0 && statuses.size < 300) {
    const path = queue.shift()!
    if (statuses.has(path)) continue
    const res = await send(path, { cookie })
    statuses.set(path, res.status)
    if (res.status >= 300 && res.status < 400) {
      links.push({ page: path, attribute: 'Location', value: location(res) })
      if (UNDER_BASE.test(location(res))) queue.push(location(res))
      continue
    }
    if (!res.headers.get('content-type')?.includes('text/html')) continue
    for (const link of linksOf(path, await res.text())) {
      links.push(link)
      if (link.attribute === 'href' && UNDER_BASE.test(link.value)) queue.push(link.value.split('#')[0]!)
    }
  }
  return { statuses, links }
}

/** Links on this site that miss the base path: a path from the root, or Masthead's address without it. */
const misplaced = (links: Link[]) =>
  links.filter(({ value }) =>
    value.startsWith('/') ? !UNDER_BASE.test(value) : value.startsWith(APP_URL) && !value.startsWith(APP_URL + BASE),
  )

/** Every visited path that did not answer a page (200) or a redirect (checked as a link). */
const failures = (statuses: Map<string, number>) =>
  [...statuses].filter(([, status]) => status !== 200 && status !== 303)

describe('links, forms and assets under /members', () => {
  it('for a reader who is not signed in: pages, articles and their gates, sign-in, join, mailbox', async () => {
    const { statuses, links } = await crawl([
      BASE,
      `${BASE}/join`,
      `${BASE}/join?tier=reader&from=patreon`,
      `${BASE}/join?checkout=canceled`,
      `${BASE}/auth/sign-in`,
      `${BASE}/auth/sign-in?next=${encodeURIComponent(`${BASE}/admin`)}&reason=role`,
      `${BASE}/articles/${MEMBERS}`,
      `${BASE}/articles/${SUPPORTERS}`,
      `${BASE}/billing/thanks`,
      `${BASE}/dev/mailbox`,
    ])
    expect(failures(statuses)).toEqual([])
    expect([...statuses.keys()]).toEqual(
      expect.arrayContaining([
        `${BASE}/articles/${PUBLIC}`,
        `${BASE}/assets/style.css`,
        `${BASE}/auth/sign-in?next=${encodeURIComponent(`${BASE}/articles/${MEMBERS}`)}`,
      ]),
    )

    // Pages a form answers with, and error pages.
    const answered = [
      ['check your e-mail', await send(`${BASE}/auth/sign-in`, { form: { email: 'someone@base.example' } }), 200],
      ['the sign-in form again', await send(`${BASE}/auth/sign-in`, { form: { email: 'typo@' } }), 422],
      [
        'the join page again',
        await send(`${BASE}/billing/checkout`, { form: { tier: 'reader', interval: 'month' } }),
        422,
      ],
      ['a used link', await send(`${BASE}/auth/verify?token=no-such-token-at-all`), 400],
      ['not found', await send(`${BASE}/no-such-page`), 404],
    ] as const
    for (const [name, res, status] of answered) {
      expect(res.status, name).toBe(status)
      links.push(...linksOf(name, await res.text()))
    }
    expect(links.filter((l) => l.attribute === 'action').length).toBeGreaterThan(3)
    expect(misplaced(links)).toEqual([])
    // The mailbox shows the sign-in links, absolute and under the base path.
    expect(links.some((l) => l.value.startsWith(`${APP_URL}${BASE}/auth/verify?token=`))).toBe(true)
  })

  it('for a signed-in member: the account, its forms, and a supporters-only article', async () => {
    const { statuses, links } = await crawl([BASE, `${BASE}/account`, `${BASE}/articles/${SUPPORTERS}`], reader)
    expect(failures(statuses)).toEqual([])
    expect([...statuses.keys()]).toEqual(expect.arrayContaining([`${BASE}/join`, `${BASE}/account/data`]))
    const actions = links.filter((l) => l.attribute === 'action').map((l) => l.value)
    expect(actions).toEqual(
      expect.arrayContaining([
        `${BASE}/billing/portal`,
        `${BASE}/account/email`,
        `${BASE}/auth/sign-out`,
        `${BASE}/auth/sign-out-everywhere`,
        `${BASE}/account/delete`,
      ]),
    )
    const answered = [
      ['the account again', await send(`${BASE}/account/email`, { cookie: reader, form: { email: 'typo@' } }), 422],
      ['a staff page, refused', await send(`${BASE}/admin`, { cookie: reader }), 303],
    ] as const
    for (const [name, res, status] of answered) {
      expect(res.status, name).toBe(status)
      links.push(...linksOf(name, await res.text()))
    }
    expect(misplaced(links)).toEqual([])
  })

  it('for an admin: every staff page, reached by following links from /members/admin', async () => {
    const { statuses, links } = await crawl([`${BASE}/admin`], admin)
    expect(failures(statuses)).toEqual([])
    const friend = await userId(FRIEND)
    const member = await userId(READER)
    expect([...statuses.keys()]).toEqual(
      expect.arrayContaining([
        `${BASE}/admin/supporters`,
        `${BASE}/admin/supporters/${friend}`,
        `${BASE}/admin/supporters/${member}`,
        `${BASE}/admin/metrics`,
        `${BASE}/admin/articles`,
        `${BASE}/admin/articles/new`,
        `${BASE}/admin/articles/${PUBLIC}`,
        `${BASE}/articles/${PUBLIC}`,
        `${BASE}/admin/staff`,
        `${BASE}/admin/tiers`,
        `${BASE}/admin/tiers/reader`,
        `${BASE}/admin/imports/patreon`,
        `${BASE}/admin/audit`,
        `${BASE}/account`,
        BASE,
      ]),
    )
    expect([...statuses.keys()].some((p) => p.startsWith(`${BASE}/api/admin/supporters.csv?`))).toBe(true)
    const actions = links.filter((l) => l.attribute === 'action').map((l) => l.value)
    expect(actions).toEqual(
      expect.arrayContaining([
        `${BASE}/admin/supporters`,
        `${BASE}/admin/supporters/${friend}/comps`,
        `${BASE}/admin/staff`,
        `${BASE}/admin/tiers`,
        `${BASE}/admin/tiers/reader`,
        `${BASE}/admin/articles/new`,
        `${BASE}/admin/articles/${PUBLIC}`,
        `${BASE}/admin/articles/${PUBLIC}/unpublish`,
        `${BASE}/admin/imports/patreon`,
        `${BASE}/admin/imports/patreon-invitations`,
      ]),
    )
    expect(actions.some((a) => a.startsWith(`${BASE}/admin/comps/`))).toBe(true)

    const upload = new FormData()
    upload.set('file', new File([readFileSync(join(import.meta.dirname, '../imports/fixtures/current.csv'))], 'm.csv'))
    const answered = [
      ['the import preview', await send(`${BASE}/admin/imports/patreon`, { cookie: admin, form: upload }), 200],
      ['the tier form again', await send(`${BASE}/admin/tiers`, { cookie: admin, form: { id: 'x' } }), 422],
      ['the staff form again', await send(`${BASE}/admin/staff`, { cookie: admin, form: { email: 'no' } }), 422],
      ['the editor again', await send(`${BASE}/admin/articles/new`, { cookie: admin, form: { title: '' } }), 422],
    ] as const
    for (const [name, res, status] of answered) {
      expect(res.status, name).toBe(status)
      links.push(...linksOf(name, await res.text()))
    }
    expect(
      links.some(
        (l) => l.page === 'the import preview' && /^\/members\/admin\/imports\/patreon\/[\w-]+$/.test(l.value),
      ),
    ).toBe(true)
    expect(misplaced(links)).toEqual([])
  })
})

describe('redirects under /members', () => {
  it('sends people who must sign in to the sign-in page under the base, to come back where they were', async () => {
    const page = await send(`${BASE}/admin/supporters`)
    expect(page.status).toBe(303)
    expect(location(page)).toBe(`${BASE}/auth/sign-in?next=${encodeURIComponent(`${BASE}/admin/supporters`)}`)
    // A form post cannot be replayed: after signing in, the account.
    const post = await send(`${BASE}/account/email`, { form: { email: 'x@base.example' } })
    expect(post.status).toBe(303)
    expect(location(post)).toBe(`${BASE}/auth/sign-in?next=${encodeURIComponent(`${BASE}/account`)}`)
    const role = await send(`${BASE}/admin`, { cookie: reader })
    expect(location(role)).toBe(`${BASE}/auth/sign-in?next=${encodeURIComponent(`${BASE}/admin`)}&reason=role`)
  })

  it('moves /support to /join under the base, keeping the query', async () => {
    const res = await send(`${BASE}/support?tier=reader`)
    expect(res.status).toBe(301)
    expect(location(res)).toBe(`${BASE}/join?tier=reader`)
  })

  it("answers the staff's forms with a redirect under the base", async () => {
    const staff = await send(`${BASE}/admin/staff`, { cookie: admin, form: { email: FRIEND, role: 'editor' } })
    expect([staff.status, location(staff)]).toEqual([303, `${BASE}/admin/staff`])

    const tier = await send(`${BASE}/admin/tiers`, {
      cookie: admin,
      form: { id: 'friend', name: 'Friend', currency: 'eur', monthlyAmount: '5', yearlyAmount: '50', active: 'on' },
    })
    expect([tier.status, location(tier)]).toEqual([303, `${BASE}/admin/tiers?notice=created`])

    const created = await send(`${BASE}/admin/articles/new`, {
      cookie: admin,
      form: { title: 'Under members', author: 'Ed', body: 'Text', access: 'public' },
    })
    expect(created.status).toBe(303)
    expect(location(created)).toMatch(/^\/members\/admin\/articles\/[\w-]+\?notice=created$/)
    const editor = location(created).split('?')[0]!
    const published = await send(`${editor}/publish`, { cookie: admin, form: {} })
    expect([published.status, location(published)]).toEqual([303, `${editor}?notice=published`])
    const saved = await send(editor, {
      cookie: admin,
      form: { title: 'Under members, again', author: 'Ed', body: 'Text', access: 'public' },
    })
    expect([saved.status, location(saved)]).toEqual([303, `${editor}?notice=updated`])

    const friend = await userId(FRIEND)
    const granted = await send(`${BASE}/admin/supporters/${friend}/comps`, {
      cookie: admin,
      form: { tier: 'reader', months: '1' },
    })
    expect([granted.status, location(granted)]).toEqual([303, `${BASE}/admin/supporters/${friend}?notice=granted`])
    const page = await (await send(location(granted), { cookie: admin })).text()
    const revoke = page.match(/action="(\/members\/admin\/comps\/[\w-]+\/revoke)"/)![1]!
    const revoked = await send(revoke, { cookie: admin, form: {} })
    expect([revoked.status, location(revoked)]).toEqual([303, `${BASE}/admin/supporters/${friend}?notice=revoked`])
  })

  it('takes a Patreon import from upload to commit and invitations under the base, and e-mails links under it', async () => {
    const upload = new FormData()
    upload.set('file', new File([readFileSync(join(import.meta.dirname, '../imports/fixtures/current.csv'))], 'm.csv'))
    const preview = await (await send(`${BASE}/admin/imports/patreon`, { cookie: admin, form: upload })).text()
    const commit = preview.match(/action="(\/members\/admin\/imports\/patreon\/[\w-]+)"/)![1]!
    const mapping: [string, string][] = [
      ['patreon_tier', 'Reader'],
      ['masthead_tier', 'reader'],
      ['patreon_tier', 'Patron'],
      ['masthead_tier', 'patron'],
      ['patreon_tier', 'Supporter'],
      ['masthead_tier', 'reader'],
      ['action', 'commit'],
    ]
    const done = await send(commit, { cookie: admin, form: mapping })
    expect(done.status).toBe(303)
    expect(location(done)).toMatch(/^\/members\/admin\/imports\/patreon\?notice=/)
    expect((await runDueJobs(t)).finished).toBe(1)

    const invited = await send(`${BASE}/admin/imports/patreon-invitations`, { cookie: admin, form: {} })
    expect(invited.status).toBe(303)
    expect(location(invited)).toMatch(/^\/members\/admin\/imports\/patreon\?notice=/)
    expect((await runDueJobs(t)).steps).toBe(1)
    const invitation = await lastMail('ada@example.com')
    expect(invitation?.text).toContain(`${APP_URL}${BASE}/join?tier=reader&from=patreon`)
    expect(invitation?.html).toContain(`href="${APP_URL}${BASE}/join?tier=reader&amp;from=patreon"`)
  })

  it('signs out to the front page under the base, from one device or all', async () => {
    const one = await signIn('leaver@base.example')
    const out = await send(`${BASE}/auth/sign-out`, { cookie: one.cookie, form: {} })
    expect([out.status, location(out)]).toEqual([303, BASE])
    const two = await signIn('leaver@base.example')
    const all = await send(`${BASE}/auth/sign-out-everywhere`, { cookie: two.cookie, form: {} })
    expect([all.status, location(all)]).toEqual([303, BASE])
  })
})

describe('e-mailed links under /members', () => {
  it('signs in through the e-mailed link and lands on /members/account', async () => {
    const email = 'newcomer@base.example'
    const asked = await send(`${BASE}/auth/sign-in`, { form: { email } })
    expect(asked.status).toBe(200)
    const link = await mailedLink(email)
    expect(link).toMatch(/^http:\/\/localhost:8787\/members\/auth\/verify\?token=[\w-]+$/)
    expect((await lastMail(email))?.html).toContain(`href="${link}"`)
    const confirmed = await followMailedLink(link)
    expect([confirmed.status, location(confirmed)]).toEqual([303, `${BASE}/account`])
    const account = await send(location(confirmed), { cookie: sessionCookie(confirmed) })
    expect(account.status).toBe(200)
    expect(await account.text()).toContain(email)
  })

  it('comes back to the page that asked for sign-in, and never to another site', async () => {
    const article = await (await send(`${BASE}/articles/${MEMBERS}`)).text()
    const signInLink = article.match(/href="(\/members\/auth\/sign-in\?next=[^"]+)"/)![1]!
    const next = new URL(signInLink.replaceAll('&amp;', '&'), APP_URL).searchParams.get('next')!
    expect(next).toBe(`${BASE}/articles/${MEMBERS}`)
    expect((await signIn('curious@base.example', next)).location).toBe(`${BASE}/articles/${MEMBERS}`)
    for (const elsewhere of ['//evil.example/members', 'https://evil.example/', '/\\evil.example']) {
      expect((await signIn('curious@base.example', elsewhere)).location).toBe(`${BASE}/account`)
      const form = await (await send(`${BASE}/auth/sign-in?next=${encodeURIComponent(elsewhere)}`)).text()
      expect(form).toContain(`<input type="hidden" name="next" value="${BASE}/account"/>`)
    }
    // A link that carries no destination at all.
    const { token } = await issueEmailToken(t.services.db, await t.services.keyring, t.services.clock.now(), {
      purpose: 'sign_in',
      email: 'curious@base.example',
    })
    const confirmed = await followMailedLink(`${APP_URL}${BASE}/auth/verify?token=${token}`)
    expect([confirmed.status, location(confirmed)]).toEqual([303, `${BASE}/account`])
  })

  it('confirms a new address through its e-mailed link, back to /members/account', async () => {
    const { cookie } = await signIn('mover@base.example')
    const asked = await send(`${BASE}/account/email`, { cookie, form: { email: 'moved@base.example' } })
    expect(asked.status).toBe(200)
    const link = await mailedLink('moved@base.example')
    expect(link).toMatch(/^http:\/\/localhost:8787\/members\/auth\/verify\?token=[\w-]+$/)
    const confirmed = await followMailedLink(link, cookie)
    expect([confirmed.status, location(confirmed)]).toEqual([303, `${BASE}/account?notice=email-changed`])
  })

  it('links a member whose renewal failed to the account page under the base', async () => {
    const [subscription] = await t.services.db.select().from(subscriptions)
    await standIn.failPayment(subscription!.id)
    const mail = await lastMail(READER)
    expect(mail?.subject).toContain('did not go through')
    expect(mail?.text).toContain(`${APP_URL}${BASE}/account`)
    expect(mail?.html).toContain(`href="${APP_URL}${BASE}/account"`)
  })
})

describe("Stripe's return URLs under /members", () => {
  it('sends checkout back to the thanks and join pages under the base, which answer there', async () => {
    const tier = await send(`${BASE}/billing/checkout`, {
      form: { tier: 'reader', interval: 'year', email: 'buyer@base.example' },
    })
    const gift = await send(`${BASE}/billing/donate`, { form: { amount: '12.50', currency: 'usd' } })
    for (const res of [tier, gift]) {
      expect(res.status).toBe(303)
      const session = await t.services.stripe!.checkout.sessions.retrieve(sessionIdOf(location(res)))
      // What was bought follows the session id, for the thanks page's words (src/billing/thanks-page.tsx).
      expect(session.success_url).toMatch(`${APP_URL}${BASE}/billing/thanks?session_id={CHECKOUT_SESSION_ID}&kind=`)
      expect(session.cancel_url).toBe(`${APP_URL}${BASE}/join?checkout=canceled`)
      for (const url of [session.success_url!, session.cancel_url!]) {
        const back = new URL(url.replace('{CHECKOUT_SESSION_ID}', session.id))
        expect((await send(`${back.pathname}${back.search}`)).status).toBe(200)
      }
    }
  })

  it('sends the billing portal back to the account page under the base', async () => {
    const res = await send(`${BASE}/billing/portal`, { cookie: reader, form: {} })
    expect(res.status).toBe(303)
    expect(location(res)).toContain(`${standIn.url}/portal/`)
    const portal = await (await fetch(location(res))).text()
    expect(portal).toContain(`href="${APP_URL}${BASE}/account"`)
  })
})
