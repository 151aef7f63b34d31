/**
 * src/cli/data-keys.ts: the keys `db:migrate` and `keys:rotate` work with, read with the server's
 * rules for them and nothing else of a production configuration.
 */
import { describe, expect, it } from 'vitest'
import { keyringFromEnvironment } from '../../src/cli/data-keys'
import { ConfigError, DEVELOPMENT_DATA_ENCRYPTION_KEY } from '../../src/config'
import { generateDataKey } from '../../src/privacy/keys'

describe('the data keys of the command-line tools', () => {
  it('in production, takes a key with no other production setting', async () => {
    const key = generateDataKey('k3')
    const keyring = await keyringFromEnvironment({ APP_ENV: 'production', DATA_ENCRYPTION_KEY: key })
    expect(keyring.current.id).toBe('k3')
  })

  it('in production, refuses no key, and the development key under any id', async () => {
    await expect(keyringFromEnvironment({ APP_ENV: 'production' })).rejects.toThrow(
      /DATA_ENCRYPTION_KEY: is required in production/,
    )
    const renamed = DEVELOPMENT_DATA_ENCRYPTION_KEY.replace(/^k0:/, 'k7:')
    const refused = keyringFromEnvironment({ APP_ENV: 'production', DATA_ENCRYPTION_KEY: renamed })
    await expect(refused).rejects.toBeInstanceOf(ConfigError)
    await expect(refused).rejects.toThrow(/is the public development key/)
  })

  it('elsewhere, defaults to the development key and reads the old keys too', async () => {
    const old = generateDataKey('k1')
    const keyring = await keyringFromEnvironment({
      DATA_ENCRYPTION_KEY: generateDataKey('k2'),
      DATA_ENCRYPTION_KEYS_OLD: old,
    })
    expect([...keyring.byId.keys()]).toEqual(['k2', 'k1'])
    expect((await keyringFromEnvironment({})).current.id).toBe('k0')
  })
})
