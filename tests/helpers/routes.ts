import type { Config } from '../../src/config'
import type { Database } from '../../src/db/client'
import { seedDemoTiers } from '../../src/dev/demo-tiers'
import { articles, importBatches, jobs, type Role } from '../../src/db/schema'
import { expect } from 'vitest'
import { createTestApp, type TestApp } from './app'
import { signIn } from './auth'
import { insertAccount } from './sealed'

/**
 * Every route the app serves, as the role test (tests/http/roles.test.ts) checks them and the
 * fuzz suite (tests/http/fuzz.test.ts) sends them generated input, and the world both need: an
 * admin, an editor and a reader signed in, the demo tiers, an article and a supporter. The
 * workerd suites (tests/worker/routes.test.ts, tests/worker/fuzz.test.ts) use the same lists and
 * rows, with accounts signed in through the Worker (tests/worker/session.ts).
 */

/** An article that exists, for the routes that take an article id. */
export const ARTICLE = 'roles-article'
/** An account that exists, for the routes that take a supporter id. */
export const SUPPORTER = 'roles-supporter'
/** A job that exists (the invitations, finished), for the route that shows one. */
export const JOB = 'roles-job'
/** A Patreon preview that exists (no rows), for the download of its rejected rows. */
export const PREVIEW = 'roles-preview'
export const GHOST_PREVIEW = 'roles-ghost-preview'

/**
 * Every route that needs a signed-in account, with the least role it needs (and a real path for one with a parameter);
 * `reached`: what a GET answers that role when it is not 200 (the handler's own answer, past the guard).
 */
export const PROTECTED: { method: string; path: string; role: Role; example?: string; reached?: number }[] = [
  { method: 'GET', path: '/account', role: 'reader' },
  { method: 'POST', path: '/account/email', role: 'reader' },
  { method: 'GET', path: '/account/data', role: 'reader' },
  { method: 'POST', path: '/account/delete', role: 'reader' },
  { method: 'POST', path: '/auth/sign-out-everywhere', role: 'reader' },
  { method: 'GET', path: '/api/account', role: 'reader' },
  { method: 'DELETE', path: '/api/account', role: 'reader' },
  { method: 'POST', path: '/api/account/email', role: 'reader' },
  { method: 'GET', path: '/api/account/data', role: 'reader' },
  { method: 'POST', path: '/billing/portal', role: 'reader' },
  { method: 'GET', path: '/admin', role: 'editor' },
  { method: 'GET', path: '/admin/staff', role: 'admin' },
  { method: 'POST', path: '/admin/staff', role: 'admin' },
  { method: 'GET', path: '/api/admin/staff', role: 'admin' },
  { method: 'POST', path: '/api/admin/staff', role: 'admin' },
  { method: 'GET', path: '/admin/tiers', role: 'admin' },
  { method: 'POST', path: '/admin/tiers', role: 'admin' },
  { method: 'GET', path: '/admin/tiers/:id', role: 'admin', example: '/admin/tiers/reader' },
  { method: 'POST', path: '/admin/tiers/:id', role: 'admin', example: '/admin/tiers/reader' },
  { method: 'GET', path: '/api/admin/tiers', role: 'admin' },
  { method: 'POST', path: '/api/admin/tiers', role: 'admin' },
  { method: 'PATCH', path: '/api/admin/tiers/:id', role: 'admin', example: '/api/admin/tiers/reader' },
  // A tier's prices in other currencies, and one tier by API (src/billing/tiers/price-routes.tsx).
  { method: 'GET', path: '/api/admin/tiers/:id', role: 'admin', example: '/api/admin/tiers/reader' },
  { method: 'POST', path: '/admin/tiers/:id/prices', role: 'admin', example: '/admin/tiers/reader/prices' },
  {
    method: 'POST',
    path: '/admin/tiers/:id/prices/:currency',
    role: 'admin',
    example: '/admin/tiers/reader/prices/eur',
  },
  {
    method: 'POST',
    path: '/admin/tiers/:id/prices/:currency/remove',
    role: 'admin',
    example: '/admin/tiers/reader/prices/eur/remove',
  },
  {
    method: 'PUT',
    path: '/api/admin/tiers/:id/prices/:currency',
    role: 'admin',
    example: '/api/admin/tiers/reader/prices/eur',
  },
  {
    method: 'DELETE',
    path: '/api/admin/tiers/:id/prices/:currency',
    role: 'admin',
    example: '/api/admin/tiers/reader/prices/eur',
  },
  { method: 'GET', path: '/admin/articles', role: 'editor' },
  { method: 'GET', path: '/admin/articles/new', role: 'editor' },
  { method: 'POST', path: '/admin/articles/new', role: 'editor' },
  { method: 'GET', path: '/admin/articles/:id', role: 'editor', example: `/admin/articles/${ARTICLE}` },
  { method: 'POST', path: '/admin/articles/:id', role: 'editor', example: `/admin/articles/${ARTICLE}` },
  {
    method: 'POST',
    path: '/admin/articles/:id/publish',
    role: 'editor',
    example: `/admin/articles/${ARTICLE}/publish`,
  },
  {
    method: 'POST',
    path: '/admin/articles/:id/unpublish',
    role: 'editor',
    example: `/admin/articles/${ARTICLE}/unpublish`,
  },
  { method: 'GET', path: '/admin/supporters', role: 'editor' },
  { method: 'GET', path: '/api/admin/supporters', role: 'editor' },
  { method: 'GET', path: '/api/admin/supporters.csv', role: 'editor' },
  { method: 'GET', path: '/admin/supporters/:id', role: 'editor', example: `/admin/supporters/${SUPPORTER}` },
  { method: 'GET', path: '/api/admin/supporters/:id', role: 'editor', example: `/api/admin/supporters/${SUPPORTER}` },
  {
    method: 'POST',
    path: '/admin/supporters/:id/comps',
    role: 'editor',
    example: `/admin/supporters/${SUPPORTER}/comps`,
  },
  {
    method: 'POST',
    path: '/api/admin/supporters/:id/comps',
    role: 'editor',
    example: `/api/admin/supporters/${SUPPORTER}/comps`,
  },
  {
    method: 'POST',
    path: '/admin/supporters/:id/erase',
    role: 'admin',
    example: `/admin/supporters/${SUPPORTER}/erase`,
  },
  {
    method: 'DELETE',
    path: '/api/admin/supporters/:id',
    role: 'admin',
    example: `/api/admin/supporters/${SUPPORTER}`,
  },
  { method: 'POST', path: '/admin/comps/:id/revoke', role: 'editor', example: '/admin/comps/no-such-comp/revoke' },
  {
    method: 'POST',
    path: '/api/admin/comps/:id/revoke',
    role: 'editor',
    example: '/api/admin/comps/no-such-comp/revoke',
  },
  { method: 'GET', path: '/admin/metrics', role: 'editor' },
  { method: 'GET', path: '/api/admin/metrics', role: 'editor' },
  { method: 'GET', path: '/admin/audit', role: 'admin' },
  { method: 'GET', path: '/api/admin/audit', role: 'admin' },
  { method: 'GET', path: '/admin/imports/patreon', role: 'admin' },
  { method: 'POST', path: '/admin/imports/patreon', role: 'admin' },
  {
    method: 'POST',
    path: '/admin/imports/patreon/:batch',
    role: 'admin',
    example: '/admin/imports/patreon/no-such-batch',
  },
  { method: 'POST', path: '/admin/imports/patreon-invitations', role: 'admin' },
  { method: 'POST', path: '/api/admin/imports/patreon', role: 'admin' },
  { method: 'POST', path: '/api/admin/imports/patreon-invitations', role: 'admin' },
  { method: 'GET', path: '/api/admin/imports/patreon/status', role: 'admin' },
  { method: 'GET', path: '/api/admin/imports/patreon/webhooks', role: 'admin' },
  {
    method: 'GET',
    path: '/admin/imports/patreon/:batch/rejected.csv',
    role: 'admin',
    example: `/admin/imports/patreon/${PREVIEW}/rejected.csv`,
  },
  { method: 'GET', path: '/admin/imports/ghost', role: 'admin' },
  { method: 'POST', path: '/admin/imports/ghost', role: 'admin' },
  {
    method: 'POST',
    path: '/admin/imports/ghost/:batch',
    role: 'admin',
    example: '/admin/imports/ghost/no-such-batch',
  },
  {
    method: 'GET',
    path: '/admin/imports/ghost/:batch/rejected.csv',
    role: 'admin',
    example: `/admin/imports/ghost/${GHOST_PREVIEW}/rejected.csv`,
  },
  { method: 'POST', path: '/api/admin/imports/ghost', role: 'admin' },
  {
    method: 'GET',
    path: '/api/admin/imports/jobs/:id',
    role: 'admin',
    example: `/api/admin/imports/jobs/${JOB}`,
  },
  { method: 'GET', path: '/api/admin/articles', role: 'editor' },
  { method: 'POST', path: '/api/admin/articles', role: 'editor' },
  { method: 'GET', path: '/api/admin/articles/:id', role: 'editor', example: `/api/admin/articles/${ARTICLE}` },
  { method: 'PUT', path: '/api/admin/articles/:id', role: 'editor', example: `/api/admin/articles/${ARTICLE}` },
  {
    method: 'POST',
    path: '/api/admin/articles/:id/publish',
    role: 'editor',
    example: `/api/admin/articles/${ARTICLE}/publish`,
  },
  {
    method: 'POST',
    path: '/api/admin/articles/:id/unpublish',
    role: 'editor',
    example: `/api/admin/articles/${ARTICLE}/unpublish`,
  },
  // Year-end statements (src/billing/statements). The role world's reader made no payment in 2025: 404, past the guard.
  { method: 'GET', path: '/account/statements', role: 'reader' },
  {
    method: 'GET',
    path: '/account/statements/:year',
    role: 'reader',
    example: '/account/statements/2025',
    reached: 404,
  },
  { method: 'GET', path: '/api/account/statements', role: 'reader' },
  {
    method: 'GET',
    path: '/api/account/statements/:year',
    role: 'reader',
    example: '/api/account/statements/2025',
    reached: 404,
  },
  { method: 'GET', path: '/admin/statements', role: 'admin' },
  { method: 'POST', path: '/admin/statements', role: 'admin' },
  { method: 'GET', path: '/api/admin/statements', role: 'admin' },
  { method: 'POST', path: '/api/admin/statements', role: 'admin' },
  { method: 'GET', path: '/api/admin/statements/:year', role: 'admin', example: '/api/admin/statements/2025' },
]

/**
 * Routes anyone may use, each with a harmless request (a real path for one with
 * a parameter, a body for a post): anonymous, it must not meet a guard.
 */
export const PUBLIC: { method: string; path: string; example?: string; body?: unknown }[] = [
  { method: 'GET', path: '/' },
  { method: 'GET', path: '/healthz' },
  { method: 'GET', path: '/assets/style.css' },
  { method: 'GET', path: '/auth/sign-in' },
  { method: 'POST', path: '/auth/sign-in', body: { email: 'passer-by@ledger.example' } },
  { method: 'GET', path: '/auth/verify', example: '/auth/verify?token=no-such-token' },
  { method: 'POST', path: '/auth/verify', body: { token: 'no-such-token' } },
  { method: 'POST', path: '/auth/sign-out', body: {} },
  { method: 'GET', path: '/dev/mailbox' }, // served in APP_ENV=test; 404 in production
  { method: 'GET', path: '/dev/mailbox.json' },
  { method: 'GET', path: '/support' },
  { method: 'GET', path: '/join' },
  // The join page's script and the publication's colours (src/billing/join-assets.ts).
  { method: 'GET', path: '/assets/join.js' },
  { method: 'GET', path: '/assets/theme.css' },
  { method: 'GET', path: '/articles/:slug', example: `/articles/${ARTICLE}` },
  { method: 'GET', path: '/api/articles/:slug', example: `/api/articles/${ARTICLE}` },
  { method: 'GET', path: '/api/entitlements' },
  { method: 'GET', path: '/api/entitlements/token' },
  { method: 'POST', path: '/billing/checkout', body: { tier: 'reader', interval: 'month' } },
  { method: 'POST', path: '/billing/donate', body: { amount: 5, currency: 'usd', frequency: 'once' } },
  { method: 'GET', path: '/billing/thanks' },
  // Gift memberships (src/billing/gifts): the form, buying one, the thanks, and the recipient's link.
  { method: 'GET', path: '/gift' },
  { method: 'GET', path: '/gift/thanks' },
  {
    method: 'POST',
    path: '/billing/gift',
    body: { tier: 'reader', months: 3, recipient_email: 'friend@ledger.example', deliver_on: '2099-01-01' },
  },
  { method: 'GET', path: '/gift/redeem', example: '/gift/redeem?token=no-such-token-000000' },
  { method: 'POST', path: '/gift/redeem', body: { token: 'no-such-token-000000' } },
  // The invitations' unsubscribe link: a page with a button, and the one-click POST mail providers send.
  { method: 'GET', path: '/invitations/unsubscribe', example: '/invitations/unsubscribe?token=no-such-token-000000' },
  {
    method: 'POST',
    path: '/invitations/unsubscribe',
    example: '/invitations/unsubscribe?token=no-such-token-000000',
    body: {},
  },
  // Without a signature: 400, or 500 where Stripe is not configured (as here); neither is a guard.
  { method: 'POST', path: '/webhooks/stripe', body: { id: 'evt_unsigned', type: 'customer.updated' } },
  // Without a signature: 401, or 404 where PATREON_WEBHOOK_SECRET is unset (as here); neither is a guard.
  { method: 'POST', path: '/webhooks/patreon', body: { data: { type: 'member' } } },
]

export type Who = Role | 'anonymous'

/** The address each role signs in with; `ROLE_EMAILS.admin` is the one ADMIN_EMAILS must name. */
export const ROLE_EMAILS: Record<Role, string> = {
  admin: 'admin@ledger.example',
  editor: 'editor@ledger.example',
  reader: 'reader@ledger.example',
}

/** The app with an account of each role signed in (`cookies`), the demo tiers, ARTICLE and SUPPORTER. */
export async function roleWorld(
  env: Record<string, string> = {},
): Promise<{ t: TestApp; cookies: Record<Who, string | undefined> }> {
  const t = await createTestApp({ env: { ADMIN_EMAILS: ROLE_EMAILS.admin, ...env } })
  const cookies: Record<Who, string | undefined> = {
    anonymous: undefined,
    reader: undefined,
    editor: undefined,
    admin: undefined,
  }
  cookies.admin = await signIn(t.app, ROLE_EMAILS.admin)
  cookies.reader = await signIn(t.app, ROLE_EMAILS.reader)
  cookies.editor = await signIn(t.app, ROLE_EMAILS.editor)
  const promoted = await t.app.request('/api/admin/staff', {
    method: 'POST',
    headers: { Cookie: cookies.admin, 'Content-Type': 'application/json' },
    body: JSON.stringify({ email: ROLE_EMAILS.editor, role: 'editor' }),
  })
  expect(promoted.status).toBe(200)
  await seedRoleRows(t.services.db, t.services.config, t.services.clock.now())
  return { t, cookies }
}

/**
 * What the role world holds besides its accounts: the demo tiers, ARTICLE (published at
 * `publishedAt`, so that the public routes find it) and SUPPORTER. The workerd suites write them
 * straight into the Worker's database.
 */
export async function seedRoleRows(db: Database, config: Config, publishedAt: Date): Promise<void> {
  const now = new Date()
  await seedDemoTiers(db, now)
  await insertAccount(db, config, now, { id: SUPPORTER, email: 'supporter@ledger.example' })
  await db.insert(articles).values({
    id: ARTICLE,
    slug: 'roles-article',
    title: 'Roles',
    excerpt: 'Roles',
    author: 'Test',
    bodyMarkdown: 'Roles',
    bodyHtml: '<p>Roles</p>',
    access: 'public',
    publishedAt,
    createdAt: now,
    updatedAt: now,
  })
  await db.insert(jobs).values({
    id: JOB,
    kind: 'patreon_invitations',
    key: 'all',
    state: 'done',
    payload: {},
    progress: { sent: 0, failed: 0, remaining: 0 },
    runAt: now,
    createdAt: now,
    updatedAt: now,
    finishedAt: now,
  })
  await db.insert(importBatches).values({ id: PREVIEW, createdAt: publishedAt })
  await db.insert(importBatches).values({ id: GHOST_PREVIEW, createdAt: publishedAt, variant: 'ghost' })
}
