import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { ConfigError, DEVELOPMENT_DATA_ENCRYPTION_KEY, loadConfig } from '../src/config'
import { generateDataKey } from '../src/privacy/keys'

const run = promisify(execFile)
const root = join(import.meta.dirname, '..')

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env)
  } catch (error) {
    if (error instanceof ConfigError) return error.problems
    throw error
  }
  throw new Error('expected a ConfigError')
}

describe('loadConfig', () => {
  it('needs nothing on a bare development machine', () => {
    const config = loadConfig({})
    expect(config).toMatchObject({
      APP_ENV: 'development',
      PORT: 8787,
      HOST: '127.0.0.1',
      APP_URL: 'http://localhost:8787',
    })
    expect(config.DATABASE_URL).toBeUndefined()
  })

  it('reads and converts what is set, treating empty strings as unset', () => {
    const config = loadConfig({
      PORT: '9000',
      DATABASE_URL: '',
      APP_URL: 'https://news.example.org/',
      MAX_BODY_BYTES: '4096',
    })
    expect(config).toMatchObject({ PORT: 9000, APP_URL: 'https://news.example.org', MAX_BODY_BYTES: 4096 })
    expect(config.DATABASE_URL).toBeUndefined()
  })

  it('ignores bindings that are not strings (a Worker passes its whole env)', () => {
    const config = loadConfig({ HYPERDRIVE: { connectionString: 'postgres://x' }, APP_URL: 'https://a.example' })
    expect(config.APP_URL).toBe('https://a.example')
  })

  it('names every invalid variable in one readable message, without their values', () => {
    const env = { APP_ENV: 'staging', PORT: 'eighty', DATABASE_URL: 'mysql://root:hunter2@db/x', MAX_BODY_BYTES: '10' }
    const problems = problemsOf(env)
    expect(problems).toEqual([
      'APP_ENV: must be one of development, test, production',
      'DATABASE_URL: must be a postgres:// connection URL',
      'PORT: must be a whole number between 1 and 65535',
      'MAX_BODY_BYTES: must be at least 1024 bytes',
    ])
    try {
      loadConfig(env)
    } catch (error) {
      expect((error as Error).message).not.toContain('hunter2')
    }
  })

  it('requires an https APP_URL and a mail provider in production', () => {
    const mail = {
      RESEND_API_KEY: 're_123',
      MAIL_FROM: 'The Ledger <news@ledger.example>',
      STRIPE_SECRET_KEY: 'sk_live_123',
      STRIPE_WEBHOOK_SECRET: 'whsec_123',
      ENTITLEMENT_TOKEN_SECRET: 'a'.repeat(64),
      DATA_ENCRYPTION_KEY: generateDataKey('k1'),
    }
    expect(problemsOf({ APP_ENV: 'production', ...mail })).toEqual(['APP_URL: is required in production'])
    expect(problemsOf({ APP_ENV: 'production', APP_URL: 'http://news.example.org', ...mail })).toEqual([
      'APP_URL: must use https in production',
    ])
    expect(problemsOf({ APP_ENV: 'production', APP_URL: 'https://news.example.org' })).toEqual([
      'RESEND_API_KEY: is required in production (Masthead sends sign-in links by e-mail)',
      'STRIPE_SECRET_KEY: is required in production',
      'ENTITLEMENT_TOKEN_SECRET: is required in production (it signs the entitlement tokens your site verifies)',
      'DATA_ENCRYPTION_KEY: is required in production (it encrypts e-mail addresses and names; make one with npm run keys:generate)',
    ])
    expect(problemsOf({ ENTITLEMENT_TOKEN_SECRET: 'short' })).toEqual([
      'ENTITLEMENT_TOKEN_SECRET: must be at least 32 characters (e.g. openssl rand -hex 32)',
    ])
    expect(problemsOf({ ENTITLEMENT_TOKEN_TTL_SECONDS: '60', DONATION_BENEFIT_DAYS: '-1' })).toEqual([
      'DONATION_BENEFIT_DAYS: must be 0 or more',
      'ENTITLEMENT_TOKEN_TTL_SECONDS: must be at least 300 (5 minutes)',
    ])
    expect(problemsOf({ RESEND_API_KEY: 're_123' })).toEqual(['MAIL_FROM: is required when RESEND_API_KEY is set'])
    const { STRIPE_SECRET_KEY: _key, STRIPE_WEBHOOK_SECRET: _secret, ...noStripe } = mail
    expect(problemsOf({ APP_ENV: 'production', APP_URL: 'https://news.example.org', ...noStripe })).toEqual([
      'STRIPE_SECRET_KEY: is required in production',
    ])
    expect(problemsOf({ STRIPE_SECRET_KEY: 'sk_test_1' })).toEqual([
      'STRIPE_WEBHOOK_SECRET: is required when STRIPE_SECRET_KEY is set',
    ])
    expect(problemsOf({ STRIPE_SECRET_KEY: 'pk_test_1', DONATION_MIN: '500', DONATION_MAX: '100' })).toEqual([
      'STRIPE_SECRET_KEY: must be a Stripe secret key (sk_test_… or sk_live_…)',
      'DONATION_MAX: must not be less than DONATION_MIN',
    ])
    expect(loadConfig({ APP_ENV: 'production', APP_URL: 'https://news.example.org', ...mail }).APP_ENV).toBe(
      'production',
    )
    expect(problemsOf({ APP_URL: 'ftp://news.example.org' })).toEqual([
      'APP_URL: must be an http(s) URL such as https://news.example.org',
    ])
  })

  it('reads the data encryption keys: a public development key outside production, a key of its own in production', () => {
    const development = loadConfig({})
    expect(development.DATA_ENCRYPTION_KEY).toBe(DEVELOPMENT_DATA_ENCRYPTION_KEY)
    expect(development.DATA_ENCRYPTION_KEYS_OLD).toEqual([])
    const [current, old1, old2] = [generateDataKey('k3'), generateDataKey('k1'), generateDataKey('k2')]
    const config = loadConfig({ DATA_ENCRYPTION_KEY: current, DATA_ENCRYPTION_KEYS_OLD: ` ${old1}, ${old2} ,` })
    expect(config.DATA_ENCRYPTION_KEY).toBe(current)
    expect(config.DATA_ENCRYPTION_KEYS_OLD).toEqual([old1, old2])

    const production = {
      APP_ENV: 'production',
      APP_URL: 'https://news.example.org',
      RESEND_API_KEY: 're_123',
      MAIL_FROM: 'news@example.org',
      STRIPE_SECRET_KEY: 'sk_live_123',
      STRIPE_WEBHOOK_SECRET: 'whsec_123',
      ENTITLEMENT_TOKEN_SECRET: 'a'.repeat(64),
    }
    expect(problemsOf(production)).toEqual([
      'DATA_ENCRYPTION_KEY: is required in production (it encrypts e-mail addresses and names; make one with npm run keys:generate)',
    ])
    expect(problemsOf({ ...production, DATA_ENCRYPTION_KEY: DEVELOPMENT_DATA_ENCRYPTION_KEY })).toEqual([
      'DATA_ENCRYPTION_KEY: is the public development key, which must never be used in production (make one with npm run keys:generate)',
    ])
    const disguised = `k9:${DEVELOPMENT_DATA_ENCRYPTION_KEY.slice(3).replace(/=$/, '')}`
    expect(problemsOf({ ...production, DATA_ENCRYPTION_KEY: disguised })).toEqual([
      'DATA_ENCRYPTION_KEY: is the public development key, which must never be used in production (make one with npm run keys:generate)',
    ])
    expect(loadConfig({ ...production, DATA_ENCRYPTION_KEY: current }).DATA_ENCRYPTION_KEY).toBe(current)
  })

  it('refuses a malformed data encryption key, or two keys with one id, without printing them', () => {
    const secret = generateDataKey('k1').slice(3)
    const env = {
      DATA_ENCRYPTION_KEY: secret,
      DATA_ENCRYPTION_KEYS_OLD: `${generateDataKey('k1')},k2:${secret.slice(0, 20)}`,
    }
    expect(problemsOf(env)).toEqual([
      'DATA_ENCRYPTION_KEY: must start with a key id such as k1, then a colon (make one with npm run keys:generate)',
      'DATA_ENCRYPTION_KEYS_OLD.1: must hold 32 random bytes in base64 after "k2:" (make one with npm run keys:generate)',
    ])
    try {
      loadConfig(env)
    } catch (error) {
      expect((error as Error).message).not.toContain(secret.slice(0, 20))
    }
    expect(
      problemsOf({ DATA_ENCRYPTION_KEY: generateDataKey('k2'), DATA_ENCRYPTION_KEYS_OLD: generateDataKey('k2') }),
    ).toEqual([
      'DATA_ENCRYPTION_KEYS_OLD: holds a second key with the id k2: each key needs its own id (a new key takes the next one, as npm run keys:generate does)',
    ])
    // A malformed key is reported as such, not also as a second k1.
    expect(problemsOf({ DATA_ENCRYPTION_KEY: 'k1:short', DATA_ENCRYPTION_KEYS_OLD: generateDataKey('k1') })).toEqual([
      'DATA_ENCRYPTION_KEY: must hold 32 random bytes in base64 after "k1:" (make one with npm run keys:generate)',
    ])
    expect(problemsOf({ DATA_ENCRYPTION_KEYS_OLD: generateDataKey('k0') })).toEqual([
      'DATA_ENCRYPTION_KEYS_OLD: holds a second key with the id k0: each key needs its own id (a new key takes the next one, as npm run keys:generate does)',
    ])
  })

  it('reads the account settings', () => {
    const config = loadConfig({
      ADMIN_EMAILS: ' Boss@Ledger.example, ed@ledger.example ,',
      SIGN_IN_LIMIT: '10',
      SIGN_IN_WINDOW_MINUTES: '60',
      TRUST_PROXY: 'true',
    })
    expect(config).toMatchObject({
      ADMIN_EMAILS: ['boss@ledger.example', 'ed@ledger.example'],
      SIGN_IN_LIMIT: 10,
      SIGN_IN_WINDOW_MINUTES: 60,
      TRUST_PROXY: true,
    })
    expect(problemsOf({ ADMIN_EMAILS: 'boss@ledger.example, not-an-address', TRUST_PROXY: 'maybe' })).toEqual([
      'ADMIN_EMAILS.1: must be a comma-separated list of e-mail addresses',
      'TRUST_PROXY: must be true or false',
    ])
  })
})

describe('the Node entry', () => {
  it('stops with one readable message naming each bad variable, and no stack trace', async () => {
    // As `npm start` runs it.
    const failure = await run(process.execPath, ['src/cli/start.ts'], {
      cwd: root,
      env: { PATH: process.env.PATH, APP_ENV: 'production', PORT: 'x' },
    }).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    )
    expect(failure?.code).toBe(1)
    expect(failure?.stderr).toContain('Masthead cannot start: the configuration is invalid.')
    expect(failure?.stderr).toContain('  - APP_URL: is required in production')
    expect(failure?.stderr).toContain('  - PORT: must be a whole number between 1 and 65535')
    expect(failure?.stderr).not.toMatch(/^\s+at /m)
  })
})
