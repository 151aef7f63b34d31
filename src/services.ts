import type { Context } from 'hono'
import type { RequestIdVariables } from 'hono/request-id'
import type { Session, SessionUser } from './accounts/sessions'
import { createStripe, createWebhookCrypto, type Stripe, type WebhookCrypto } from './billing/stripe'
import type { Entitlements } from './entitlements/entitlements'
import type { Config } from './config'
import type { Audience } from './http/doors'
import type { Database } from './db/client'
import type { CommitGroup } from './db/commit-group'
import type { RecentSet } from './util/recent-set'
import type { EdgeCache } from './gateway/edge-cache'
import type { ReaderView } from './entitlements/page-view'
import { createMailer, type Mailer } from './mail/mailer'
import { keyringOf, type Keyring } from './privacy/keys'

/** The time, injected so that tests can fix it. */
export interface Clock {
  now(): Date
}

export const systemClock: Clock = { now: () => new Date() }

/**
 * What a request handler may use. Handlers read `c.var.services`; nothing with
 * I/O lives at module level, because a Worker may not share sockets between
 * requests.
 */
export interface Services {
  config: Config
  db: Database
  /**
   * Where the short reads that every request of a kind makes run: the session
   * lookup (with the reader's entitlements), and a Stripe webhook's check of
   * whether its event is stored and of the account's memberships. On Node, one
   * dedicated connection, so that the lookups of concurrent requests are
   * pipelined, many to a socket write, and never queue behind a long query or
   * transaction in `db` (BENCHMARKS.md, entitlements and webhooks). Elsewhere
   * the same as `db`.
   */
  lookupDb: Database
  clock: Clock
  mailer: Mailer
  /** Null when no Stripe key is configured: billing routes then answer 503. */
  stripe: Stripe | null
  /** Checks Stripe's webhook signatures (Web Crypto, keys imported once per services). */
  webhookCrypto: WebhookCrypto
  /** The data encryption keys (DATA_ENCRYPTION_KEY and the old ones), imported once per key set. */
  keyring: Promise<Keyring>
  /** Gateway mode on Node: the server's cache of rewritten pages (src/gateway/page-cache.ts); Workers use Cloudflare's. */
  pageCache?: EdgeCache | undefined
  /** Wakes the Node server's job loop when a job is queued (src/node.ts); absent on Workers (the Cron Trigger runs them). */
  kickJobs?: (() => void) | undefined
  /**
   * On the Node server with PostgreSQL, where a webhook event's statement is committed: with the
   * others asked for at the same moment, in one transaction (src/db/commit-group.ts). Absent
   * elsewhere: each statement runs on `db` on its own.
   */
  commitGroup?: CommitGroup | undefined
  /**
   * On the Node server: the ids of the Stripe events this process stored lately, so that Stripe's
   * redelivery of one is told a duplicate without a statement (src/billing/webhooks/process-event.ts).
   */
  recentEvents?: RecentSet<string> | undefined
}

/**
 * Builds the services from what an entry provides. `fetch` is injectable so
 * that tests can stand in for the mail provider without a network.
 *
 * Each service is built when a request first uses it, not before: the Worker
 * builds services for every request, and most requests (a gateway page view,
 * an asset, the health check) need neither the database nor Stripe. Building
 * them all cost about 0.5 ms of CPU per request on Node and more in workerd
 * (BENCHMARKS.md, gateway). `db` may be a function that opens the database:
 * it is called once, on first use, so a request that reads nothing opens no
 * connection.
 */
export function createServices(parts: {
  config: Config
  db: Database | (() => Database)
  lookupDb?: Database
  clock?: Clock
  fetch?: typeof fetch
  mailer?: Mailer
  stripe?: Stripe | null
  /** What the Worker keeps from one request to the next (`sharedFor`): otherwise built per services. */
  shared?: Shared
  pageCache?: EdgeCache
  kickJobs?: () => void
  commitGroup?: CommitGroup
  recentEvents?: RecentSet<string>
}): Services {
  const { config } = parts
  const clock = parts.clock ?? systemClock
  const fetchFn = parts.fetch ?? ((input, init) => fetch(input, init))
  const given = parts.db
  let db: Database | undefined = typeof given === 'function' ? undefined : given
  const database = () => (db ??= (given as () => Database)())
  let mailer = parts.mailer
  let stripe = parts.stripe
  let webhookCrypto: WebhookCrypto | undefined
  return {
    config,
    get db() {
      return database()
    },
    get lookupDb() {
      return parts.lookupDb ?? database()
    },
    clock,
    get mailer() {
      return (mailer ??= createMailer(config, database(), clock, fetchFn))
    },
    get stripe() {
      if (stripe === undefined) stripe = parts.shared ? parts.shared.stripe() : createStripe(config)
      return stripe
    },
    get webhookCrypto() {
      return (webhookCrypto ??= parts.shared ? parts.shared.webhookCrypto() : createWebhookCrypto())
    },
    get keyring() {
      return keyringOf(config)
    },
    pageCache: parts.pageCache,
    kickJobs: parts.kickJobs,
    commitGroup: parts.commitGroup,
    recentEvents: parts.recentEvents,
  }
}

/**
 * What may outlive a request on Workers, built once per configuration (so once per isolate, as
 * src/worker.ts keeps one configuration per bindings object): the Stripe client, which talks
 * through fetch and holds no socket, and the webhook signature checker with its imported keys.
 * The database never is: a Worker may not reuse a socket across requests.
 */
export interface Shared {
  stripe(): Stripe | null
  webhookCrypto(): WebhookCrypto
}

const shared = new WeakMap<Config, Shared>()

export function sharedFor(config: Config): Shared {
  let found = shared.get(config)
  if (!found) {
    let stripe: Stripe | null | undefined
    let webhookCrypto: WebhookCrypto | undefined
    found = {
      stripe: () => (stripe === undefined ? (stripe = createStripe(config)) : stripe),
      webhookCrypto: () => (webhookCrypto ??= createWebhookCrypto()),
    }
    shared.set(config, found)
  }
  return found
}

/** Services for one request, and how to let go of them once it has been answered. */
export interface ServiceScope {
  services: Services
  /**
   * What to let go of, read once the handler has returned (undefined: nothing was opened). It is
   * called once the response's body has been sent, not before: a streamed body (the CSV export)
   * may still be reading from the database.
   */
  readonly release?: (() => Promise<void>) | undefined
}

/**
 * Each entry says where services come from: the Node entry hands out one
 * long-lived pool, the Worker opens a Hyperdrive connection per request.
 */
export type ServiceProvider = (c: Context<AppEnv>) => ServiceScope | Promise<ServiceScope>

export type AppEnv = {
  Bindings: Record<string, unknown>
  Variables: RequestIdVariables & {
    services: Services
    /** The signed-in account, or null; set by the session middleware (src/accounts/session.ts). */
    user: SessionUser | null
    session: Session | null
    /** What the reader may read and whether they see ads; the empty set when signed out (src/entitlements/entitlements.ts). */
    entitlements: Entitlements
    /**
     * Who is reading, as the layout and the readers' routes need it: set by the session middleware,
     * or by readerOf (src/accounts/reader.ts), which may decide from the page-view cookie alone.
     */
    view?: ReaderView
    /** Whether errors and guards answer a page or JSON; set where the router is mounted (src/http/doors.ts). */
    audience?: Audience
    /** Extra fields for this request's access-log line (no personal data), so a handler need not log a second line. */
    logFields?: Record<string, string | number | boolean>
    /** The Set-Cookie texts for this answer (sendCookie, src/http/cookies.ts), which the frame writes on it. */
    cookies?: string[]
  }
}
