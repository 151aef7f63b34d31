/**
 * The data keys a command-line tool works with (`npm run db:migrate`, `npm run keys:rotate`):
 * DATA_ENCRYPTION_KEY and DATA_ENCRYPTION_KEYS_OLD read as the server reads them (src/config.ts),
 * without asking for the rest of a production configuration, which these tools never use: a
 * Worker's database is migrated from a machine that holds only its URL and its keys. Production
 * (APP_ENV=production) still refuses to go without a key or with the public development key, as
 * the server does: a database encrypted under that key is encrypted for no one.
 */
import { ConfigError, isDevelopmentKey, loadConfig, PRODUCTION_KEY_PROBLEMS } from '../config'
import { keyringOf, type Keyring } from '../privacy/keys'

export async function keyringFromEnvironment(env: Record<string, string | undefined>): Promise<Keyring> {
  const config = loadConfig({
    DATA_ENCRYPTION_KEY: env.DATA_ENCRYPTION_KEY,
    DATA_ENCRYPTION_KEYS_OLD: env.DATA_ENCRYPTION_KEYS_OLD,
  })
  if (env.APP_ENV?.trim() === 'production') {
    if (!env.DATA_ENCRYPTION_KEY?.trim())
      throw new ConfigError([`DATA_ENCRYPTION_KEY: ${PRODUCTION_KEY_PROBLEMS.missing}`])
    if (isDevelopmentKey(config.DATA_ENCRYPTION_KEY)) {
      throw new ConfigError([`DATA_ENCRYPTION_KEY: ${PRODUCTION_KEY_PROBLEMS.development}`])
    }
  }
  return keyringOf(config)
}
