import { Hono } from 'hono'
import { accountApi, accountPages } from './accounts/account-routes'
import { session } from './accounts/session'
import { signIn } from './accounts/sign-in-routes'
import { articleEditorApi, articleEditorPages } from './articles/editor-routes'
import { articleApi, articlePages } from './articles/routes'
import { auditApi, auditPages } from './audit/routes'
import { billing, joinPages } from './billing/checkout-routes'
import { tierApi, tierPages } from './billing/tiers/routes'
import { stripeWebhooks } from './billing/webhooks/routes'
import { statementAdminApi, statementAdminPages, statementApi, statementPages } from './billing/statements/routes'
import { giftBilling, giftPages } from './billing/gifts/routes'
import { invitationUnsubscribe } from './imports/unsubscribe-routes'
import { entitlementsApi } from './accounts/entitlement-routes'
import { answers } from './http/doors'
import { notFound, onError } from './http/errors'
import { health } from './http/health'
import { RememberingRouter } from './http/router'
import { bodyLimit, frame, sameOriginOnly } from './http/middleware'
import { importApi, importPages } from './imports/routes'
import { patreonWebhooks } from './imports/webhook-routes'
import { devMailbox } from './mail/dev-mailbox'
import type { Config } from './config'
import { gateway } from './gateway/routes'
import type { AppEnv, ServiceProvider } from './services'
import { staffApi, staffHome, staffPages } from './staff/routes'
import { supporterApi, supporterPages } from './supporters/routes'
import { stylesheet } from './ui/stylesheet'

/**
 * The composition root, shared by the Worker entry (src/worker.ts) and the
 * Node entry (src/node.ts); they differ only in the `services` they provide.
 *
 * Policy is decided here, at the door: who each prefix answers (people get
 * pages, the default; machines get JSON; forms and API clients share /auth and
 * /billing), and what runs before each router, by where it is mounted (Hono
 * runs middleware and routes in the order they are registered). Each router
 * declares its own guard (requireRole) and, for uploads, its own body limit.
 * Under MASTHEAD_PATH (`basePath`) every route, door and middleware moves with
 * it; in gateway mode (`gateway`) every other path is the publication's own site.
 */
export function createApp(services: ServiceProvider, options: AppOptions = {}) {
  const base = options.basePath ?? ''
  // One router for the whole app, which remembers its answers (src/http/router.ts).
  const root = new Hono<AppEnv>({ router: new RememberingRouter() })

  // Static, the same for everyone: answered before anything else runs (src/ui/stylesheet.ts).
  root.get(`${base}/assets/style.css`, stylesheet)

  // Who answers where, decided before anything can fail, so that errors too come in the kind expected.
  root.use(`${base}/api/*`, answers('machines'))
  root.use(`${base}/webhooks/*`, answers('machines'))
  root.use(`${base}/healthz`, answers('machines'))
  root.use(`${base}/auth/*`, answers('either'))
  root.use(`${base}/billing/*`, answers('either'))

  // Every request: its id, services and log line; on Masthead's own addresses the address check
  // and Masthead's security headers (in gateway mode the origin's pages keep theirs).
  root.use(frame(services, (path) => !base || path === base || path.startsWith(`${base}/`)))

  const app = base ? root.basePath(base) : root

  // For machines: no cookies, so no session lookup and no same-origin check.
  app.route('/healthz', health)
  app.route('/webhooks', stripeWebhooks) // signed by Stripe; its own (default) body limit
  app.route('/webhooks', patreonWebhooks) // signed by Patreon (HMAC-MD5); the same
  // Mail providers' one-click unsubscribe posts from elsewhere: the link's token is the permission.
  app.route('/invitations', invitationUnsubscribe)

  // For people and their API clients: CSRF check, then who is asking.
  app.use(sameOriginOnly)

  // Readers' routes need only what a reader may read: they decide from the page-view cookie while it
  // is fresh, else from one session lookup (src/accounts/reader.ts), so they come before the
  // session middleware. In gateway mode the origin's pages are the articles: Masthead's own step aside.
  app.route('/api/entitlements', entitlementsApi)
  app.route('/api/articles', articleApi)
  if (!options.gateway) app.route('/', articlePages) // / and /articles/:slug

  // Everything else learns who is asking from the session (one lookup).
  app.use(session)

  // Uploads carry their own body limit, so they come before the default one.
  app.route('/admin/imports', importPages)
  app.route('/api/admin/imports', importApi)
  app.use(bodyLimit())

  // Pages.
  app.route('/', joinPages) // /join, /support
  app.route('/auth', signIn)
  app.route('/billing', billing)
  app.route('/billing', giftBilling) // POST /billing/gift (src/billing/gifts)
  app.route('/gift', giftPages) // the gift form, its thanks, the recipient's link
  app.route('/account', accountPages)
  app.route('/account/statements', statementPages) // year-end statements (src/billing/statements)
  app.route('/dev', devMailbox)

  // The staff area. Routers for admins declare their guard; supporters (editors
  // and up) is mounted at /admin itself, so it comes last.
  app.route('/admin', staffHome)
  app.route('/admin/staff', staffPages)
  app.route('/admin/tiers', tierPages)
  app.route('/admin/articles', articleEditorPages)
  app.route('/admin/audit', auditPages)
  app.route('/admin/statements', statementAdminPages)
  app.route('/admin', supporterPages)

  // The JSON API: the same features for API clients.
  const api = new Hono<AppEnv>()
  api.route('/account', accountApi)
  api.route('/account/statements', statementApi)
  api.route('/admin/staff', staffApi)
  api.route('/admin/tiers', tierApi)
  api.route('/admin/articles', articleEditorApi)
  api.route('/admin/audit', auditApi)
  api.route('/admin/statements', statementAdminApi)
  api.route('/admin', supporterApi)
  app.route('/api', api)

  // Gateway mode: everything else is the publication's own site, rewritten for the reader.
  if (options.gateway) root.all('*', gateway)

  root.notFound(notFound)
  root.onError(onError)
  return root
}

export type App = ReturnType<typeof createApp>

export interface AppOptions {
  /** Where Masthead's own routes live (config.MASTHEAD_PATH); every door, middleware and route moves with it. */
  basePath?: string
  /** Gateway mode (config.ORIGIN_URL set): every other request goes to the origin. */
  gateway?: boolean
}

/** The options a configuration asks for; both entries and the tests build the app with them. */
export const appOptions = (config: Config): AppOptions => ({
  basePath: config.MASTHEAD_PATH,
  gateway: config.ORIGIN_URL !== undefined,
})
