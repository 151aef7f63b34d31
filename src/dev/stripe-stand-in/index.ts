/**
 * Local Stripe stand-in: a small HTTP server speaking the subset of Stripe's API that Masthead uses,
 * meant to be driven by the real `stripe` SDK, with hosted checkout/portal pages that deliver signed
 * webhooks. Node-only development/test tool: the Worker must never import it.
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createAdaptorServer } from '@hono/node-server'
import type Stripe from 'stripe'
import { EventLog, signPayload, type Deliver } from './events'
import { CheckoutFlow } from './checkout-flow'
import { Lifecycle } from './lifecycle'
import { createStandInApp } from './server'
import { Store } from './store'

export { API_VERSION, signPayload } from './events'
export { StripeApiError } from './form'

export interface StandInOptions {
  /** 0 = ephemeral (default 0). */
  port?: number
  /** Default 127.0.0.1. */
  host?: string
  /** Default 'sk_test_standin'; requests must send `Authorization: Bearer <it>`. */
  secretKey?: string
  /** Default 'whsec_standin'. */
  webhookSecret?: string
  /** Where events go: a URL to POST each event to; a function (tests call the app in-process); or null to only record them. */
  deliver?: Deliver
  /** Clock for `created`, periods and signatures. Default: real time. */
  now?: () => Date
  /** Receives one line per failed webhook delivery (event id/type/status only, never payloads). Default: none. */
  log?: (line: string) => void
}

export interface StripeStandIn {
  /** e.g. http://127.0.0.1:PORT, to use as STRIPE_API_URL. */
  url: string
  secretKey: string
  webhookSecret: string
  /** The configuration that points Masthead at the stand-in: STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET, STRIPE_API_URL. */
  env: { STRIPE_SECRET_KEY: string; STRIPE_WEBHOOK_SECRET: string; STRIPE_API_URL: string }
  /** Options for `new Stripe(secretKey, sdkOptions)` so the real SDK talks to the stand-in. */
  sdkOptions: { host: string; port: number; protocol: 'http'; httpClient?: Stripe.HttpClient; maxNetworkRetries: 0 }
  /** Every event created, oldest first. */
  events(): Stripe.Event[]
  deliveries(): { eventId: string; status: number }[]
  /**
   * Resolves once every event created so far has been delivered (or failed). Lifecycle controls below
   * already wait; events caused by API calls (e.g. `subscriptions.cancel`) are delivered asynchronously,
   * as with Stripe, so tests that need their effect await this.
   */
  idle(): Promise<void>
  completeCheckout(
    sessionId: string,
    opts?: { email?: string; asyncPayment?: boolean; declineCard?: boolean },
  ): Promise<void>
  cancelCheckout(sessionId: string): Promise<void>
  settleAsyncPayment(sessionId: string, succeeded: boolean): Promise<void>
  failPayment(subscriptionId: string): Promise<void>
  recoverPayment(subscriptionId: string): Promise<void>
  renew(subscriptionId: string): Promise<void>
  setCancelAtPeriodEnd(subscriptionId: string, cancel: boolean): Promise<void>
  endSubscription(subscriptionId: string): Promise<void>
  refund(paymentIntentOrChargeId: string, amount?: number): Promise<void>
  updateCustomer(id: string, fields: { email?: string; name?: string }): Promise<void>
  deleteCustomer(id: string): Promise<void>
  /** Re-signs any payload the way Stripe does; returns the Stripe-Signature header value. */
  sign(payload: string, timestamp?: number): string
  /** How many API requests it has answered (the hosted pages not counted). */
  apiRequests(): number
  close(): Promise<void>
}

export async function startStripeStandIn(options: StandInOptions = {}): Promise<StripeStandIn> {
  const host = options.host ?? '127.0.0.1'
  const secretKey = options.secretKey ?? 'sk_test_standin'
  const webhookSecret = options.webhookSecret ?? 'whsec_standin'
  const store = new Store(options.now ?? (() => new Date()))
  const events = new EventLog(webhookSecret, options.deliver ?? null, () => store.unix(), options.log ?? (() => {}))
  const lifecycle = new Lifecycle(store, events)
  const checkout = new CheckoutFlow(store, events, lifecycle)
  let url = ''
  const app = createStandInApp({ store, events, lifecycle, checkout, baseUrl: () => url, secretKey })

  let apiRequests = 0
  const fetch: typeof app.fetch = (request, ...rest) => {
    if (new URL(request.url).pathname.startsWith('/v1/')) apiRequests += 1
    return app.fetch(request, ...rest)
  }
  const server = createAdaptorServer({ fetch, hostname: host }) as Server
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`

  /** Lifecycle steps resolve once the events they caused have been delivered. */
  const step = async (fn: () => unknown) => {
    fn()
    await events.idle()
  }

  return {
    url,
    secretKey,
    webhookSecret,
    env: { STRIPE_SECRET_KEY: secretKey, STRIPE_WEBHOOK_SECRET: webhookSecret, STRIPE_API_URL: url },
    sdkOptions: { host, port, protocol: 'http', maxNetworkRetries: 0 },
    events: () => events.list() as unknown as Stripe.Event[],
    deliveries: () => events.deliveries(),
    idle: () => events.idle(),
    completeCheckout: (id, opts) => step(() => checkout.completeCheckout(id, opts)),
    cancelCheckout: (id) => step(() => checkout.expireCheckout(id)),
    settleAsyncPayment: (id, ok) => step(() => checkout.settleAsyncPayment(id, ok)),
    failPayment: (id) => step(() => lifecycle.failPayment(id)),
    recoverPayment: (id) => step(() => lifecycle.recoverPayment(id)),
    renew: (id) => step(() => lifecycle.renew(id)),
    setCancelAtPeriodEnd: (id, cancel) => step(() => lifecycle.setCancelAtPeriodEnd(id, cancel)),
    endSubscription: (id) => step(() => lifecycle.endSubscription(id)),
    refund: (id, amount) => step(() => lifecycle.refund(id, amount)),
    updateCustomer: (id, fields) => step(() => lifecycle.updateCustomer(id, fields)),
    deleteCustomer: (id) => step(() => lifecycle.deleteCustomer(id)),
    sign: (payload, timestamp) => signPayload(payload, webhookSecret, timestamp ?? store.unix()),
    apiRequests: () => apiRequests,
    close: async () => {
      await events.idle()
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        // The SDK keeps connections alive; without this close() would wait for them to time out.
        server.closeAllConnections()
      })
    },
  }
}
