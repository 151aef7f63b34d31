import Stripe from 'stripe'
import type { Config } from '../config'

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

export const webhookCrypto = Stripe.createSubtleCryptoProvider()

/** Live keys move real money; anything else shows the TEST MODE banner. */
export const isTestMode = (config: Config) => !config.STRIPE_SECRET_KEY?.startsWith('sk_live_')

/** Metadata on every Stripe object Masthead creates, so that it can tell its own from others'. */
export const MASTHEAD_METADATA = { masthead: '1' } as const
export const isMastheads = (metadata: Record<string, string> | null | undefined) => metadata?.masthead === '1'
