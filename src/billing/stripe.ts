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

/** What checks webhook signatures: Stripe's SubtleCrypto provider, which works on Workers and Node alike. */
export type WebhookCrypto = ReturnType<typeof Stripe.createSubtleCryptoProvider>

/**
 * Stripe's SubtleCrypto provider over a SubtleCrypto that imports each HMAC
 * secret once. Stripe's provider imports the key on every check; on Node here
 * that import was about 65 µs of the 107 µs a check took, and a webhook costs
 * the server about 0.8 ms in all (BENCHMARKS.md, webhooks). The cache belongs
 * to the services that made it: on Node they live as long as the server.
 */
export function createWebhookCrypto(subtle: SubtleCrypto = crypto.subtle): WebhookCrypto {
  const keys = new Map<string, Promise<CryptoKey>>()
  const decoder = new TextDecoder()
  const caching: Pick<SubtleCrypto, 'importKey' | 'sign' | 'digest'> = {
    importKey: ((format: 'raw', keyData: BufferSource, algorithm: HmacImportParams, extractable, usages) => {
      const id = JSON.stringify([format, algorithm, extractable, usages, decoder.decode(keyData)])
      let key = keys.get(id)
      if (!key) {
        if (keys.size >= 8) keys.clear() // secrets are few; a rotation must not grow this without bound
        key = subtle.importKey(format, keyData, algorithm, extractable, usages)
        key.catch(() => keys.delete(id))
        keys.set(id, key)
      }
      return key
    }) as SubtleCrypto['importKey'],
    sign: (algorithm, key, data) => subtle.sign(algorithm, key, data),
    digest: (algorithm, data) => subtle.digest(algorithm, data),
  }
  return Stripe.createSubtleCryptoProvider(caching as SubtleCrypto)
}

/** Metadata on every Stripe object Masthead creates, so that it can tell its own from others'. */
export const MASTHEAD_METADATA = { masthead: '1' } as const
export const isMastheads = (metadata: Record<string, string> | null | undefined) => metadata?.masthead === '1'
