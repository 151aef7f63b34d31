import { describe, expect, it } from 'vitest'
import { loadConfig } from '../src/config'
import type { Database } from '../src/db/client'
import { createServices, sharedFor } from '../src/services'

const noDatabase = (): Database => {
  throw new Error('no database in this test')
}

describe('what a Worker keeps from one request to the next (sharedFor)', () => {
  const config = loadConfig({
    APP_ENV: 'test',
    APP_URL: 'http://localhost:8787',
    STRIPE_SECRET_KEY: 'sk_test_x',
    STRIPE_WEBHOOK_SECRET: 'whsec_x',
  })

  it('builds the Stripe client and the webhook key cache once per configuration', () => {
    const first = createServices({ config, db: noDatabase, shared: sharedFor(config) })
    const second = createServices({ config, db: noDatabase, shared: sharedFor(config) })
    expect(first.stripe).not.toBeNull()
    expect(second.stripe).toBe(first.stripe)
    expect(second.webhookCrypto).toBe(first.webhookCrypto)
  })

  it('builds them again for another configuration, and per services without sharing', () => {
    const other = loadConfig({
      APP_ENV: 'test',
      APP_URL: 'http://localhost:8787',
      STRIPE_SECRET_KEY: 'sk_test_y',
      STRIPE_WEBHOOK_SECRET: 'whsec_y',
    })
    const first = createServices({ config, db: noDatabase, shared: sharedFor(config) })
    expect(createServices({ config: other, db: noDatabase, shared: sharedFor(other) }).stripe).not.toBe(first.stripe)
    const unshared = createServices({ config, db: noDatabase })
    expect(unshared.stripe).not.toBe(first.stripe)
    expect(unshared.webhookCrypto).not.toBe(first.webhookCrypto)
  })

  it('never opens the database for either', () => {
    const services = createServices({ config, db: noDatabase, shared: sharedFor(config) })
    expect(() => services.stripe && services.webhookCrypto).not.toThrow()
  })
})
