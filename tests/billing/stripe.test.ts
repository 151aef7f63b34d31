import Stripe from 'stripe'
import { describe, expect, it } from 'vitest'
import { createWebhookCrypto } from '../../src/billing/stripe'

describe('createWebhookCrypto', () => {
  const stripe = new Stripe('sk_test_unused')
  const payload = JSON.stringify({ id: 'evt_1', object: 'event', type: 'customer.updated', data: { object: {} } })

  it('signs as Stripe’s own Web Crypto provider does, whatever the payload and the secret', async () => {
    const provider = createWebhookCrypto()
    const reference = Stripe.createSubtleCryptoProvider()
    for (const secret of ['whsec_one', 'whsec_two', 'whsec_ünïcødé']) {
      for (const body of [payload, '', '\ud83d\ude00', 'x'.repeat(70_000)]) {
        expect(await provider.computeHMACSignatureAsync(body, secret)).toBe(
          await reference.computeHMACSignatureAsync(body, secret),
        )
      }
    }
    const data = new TextEncoder().encode(payload)
    expect(await provider.computeSHA256Async(data)).toEqual(await reference.computeSHA256Async(data))
  })

  it('verifies a good signature and refuses a bad one or another secret’s', async () => {
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
