import { createHash, createHmac } from 'node:crypto'
import Stripe from 'stripe'
import type { Config } from '../config'
import { AppError } from '../http/errors'
import { describeError, log } from '../http/log'

export type { Stripe }

/**
 * The Stripe client for one request. It uses fetch and Web Crypto, so the
 * same code runs on Workers and Node. STRIPE_API_URL points it at another
 * Stripe-compatible host: the local stand-in, or stripe-mock.
 */
export function createStripe(config: Config): Stripe | null {
  if (!config.STRIPE_SECRET_KEY) return null
  const api = config.STRIPE_API_URL ? new URL(config.STRIPE_API_URL) : undefined
  const protocol = api?.protocol === 'http:' ? 'http' : 'https'
  return new Stripe(config.STRIPE_SECRET_KEY, {
    httpClient: Stripe.createFetchHttpClient(),
    maxNetworkRetries: 2,
    timeout: 10_000,
    ...(api ? { host: api.hostname, port: Number(api.port || (protocol === 'http' ? 80 : 443)), protocol } : {}),
  })
}

/** What checks webhook signatures: a Stripe CryptoProvider. */
export type WebhookCrypto = ReturnType<typeof Stripe.createSubtleCryptoProvider>

/**
 * Stripe's signature check (HMAC-SHA256 of the signed payload, hex) through node:crypto, which
 * workerd has under nodejs_compat: synchronous and about 2 µs of CPU per check on Node here.
 * Web Crypto's HMAC, even with its key imported once, cost about 40 µs of CPU per check on Node
 * (the job goes through a thread pool), a webhook's largest cost after the database's
 * (BENCHMARKS.md, webhooks).
 */
export function createWebhookCrypto(): WebhookCrypto {
  const hmac = (payload: string, secret: string) => createHmac('sha256', secret).update(payload, 'utf8').digest('hex')
  const provider = {
    computeHMACSignature: hmac,
    computeHMACSignatureAsync: async (payload: string, secret: string) => hmac(payload, secret),
    computeSHA256Async: async (data: Uint8Array) => new Uint8Array(createHash('sha256').update(data).digest()),
  }
  return provider
}

/** Metadata on every Stripe object Masthead creates, so that it can tell its own from others'. */
export const MASTHEAD_METADATA = { masthead: '1' } as const
export const isMastheads = (metadata: Record<string, string> | null | undefined) => metadata?.masthead === '1'

/** Stripe being down or refusing is not the reader's fault: 503 with a plain message, details in the log. */
export async function withStripe<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (error) {
    if (error instanceof Stripe.errors.StripeError) {
      log('warn', 'stripe_call_failed', { ...describeError(error), stripeCode: error.code, status: error.statusCode })
      throw new AppError(
        'payments_unavailable',
        'Payments are unavailable right now. Please try again in a few minutes.',
      )
    }
    throw error
  }
}
