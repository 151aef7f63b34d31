import Stripe from 'stripe'
import { describe, expect, it } from 'vitest'
import { createWebhookCrypto } from '../../src/billing/stripe'

describe('createWebhookCrypto', () => {
  const stripe = new Stripe('sk_test_unused')
  const payload = JSON.stringify({ id: 'evt_1', object: 'event', type: 'customer.updated', data: { object: {} } })

  /** A SubtleCrypto that counts key imports. */
  function countingSubtle() {
    const counts = { imports: 0 }
    const subtle = {
      importKey: (...args: Parameters<SubtleCrypto['importKey']>) => {
        counts.imports += 1
        return crypto.subtle.importKey(...args)
      },
      sign: (...args: Parameters<SubtleCrypto['sign']>) => crypto.subtle.sign(...args),
      digest: (...args: Parameters<SubtleCrypto['digest']>) => crypto.subtle.digest(...args),
    } as SubtleCrypto
    return { subtle, counts }
  }

  it('signs as Stripe’s own provider does, importing each secret once', async () => {
    const { subtle, counts } = countingSubtle()
    const provider = createWebhookCrypto(subtle)
    const reference = Stripe.createSubtleCryptoProvider()
    for (const secret of ['whsec_one', 'whsec_one', 'whsec_two', 'whsec_one']) {
      expect(await provider.computeHMACSignatureAsync(payload, secret)).toBe(
        await reference.computeHMACSignatureAsync(payload, secret),
      )
    }
    expect(counts.imports).toBe(2)
  })

  it('verifies a good signature and refuses a bad one or another secret’s, with the key cached', async () => {
    const provider = createWebhookCrypto()
    const header = stripe.webhooks.generateTestHeaderString({ payload, secret: 'whsec_one' })
    const verify = (body: string, secret: string) =>
      stripe.webhooks.constructEventAsync(body, header, secret, undefined, provider)
    await expect(verify(payload, 'whsec_one')).resolves.toMatchObject({ id: 'evt_1' })
    await expect(verify(payload.replace('evt_1', 'evt_2'), 'whsec_one')).rejects.toThrow(/signature/i)
    await expect(verify(payload, 'whsec_two')).rejects.toThrow(/signature/i)
    await expect(verify(payload, 'whsec_one')).resolves.toMatchObject({ id: 'evt_1' })
  })
})
