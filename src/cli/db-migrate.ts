/**
 * `npm run db:migrate`: applies drizzle/ to the server in DATABASE_URL, then encrypts in place
 * whatever addresses and names an older database still holds in clear (src/accounts/seal-existing.ts),
 * under DATA_ENCRYPTION_KEY (src/cli/data-keys.ts).
 * (The Node server also migrates on start; the Worker never does, so run this
 * before deploying a Worker whose code expects a new schema.)
 */
import { ConfigError } from '../config'
import { connectPostgres, describePostgresUrl } from '../db/client'
import { migratePostgresUrl } from '../db/migrate'
import { describeErrorText } from '../http/log'
import { sealExisting } from '../accounts/seal-existing'
import { keyringFromEnvironment } from './data-keys'

const url = process.env.DATABASE_URL
if (!url) {
  console.error('db:migrate needs DATABASE_URL, e.g. DATABASE_URL=postgres://user:password@host:5432/masthead')
  process.exit(1)
}
let keyring
try {
  // Before migrating: a missing or malformed key should stop the command before it changes anything.
  keyring = await keyringFromEnvironment(process.env)
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : `db:migrate: ${describeErrorText(error)}`)
  process.exit(1)
}
try {
  await migratePostgresUrl(url)
  console.log(`Migrations applied to ${describePostgresUrl(url)}.`)
} catch (error) {
  console.error(`Migrations failed on ${describePostgresUrl(url)}: ${describeErrorText(error)}`)
  process.exit(1)
}
const database = connectPostgres(url, { max: 1 })
try {
  await sealExisting(database.db, keyring, { log: (line) => console.log(`Personal data: ${line}.`) })
} catch (error) {
  console.error(`Encrypting personal data failed on ${describePostgresUrl(url)}: ${describeErrorText(error)}`)
  console.error('What was done is kept; run npm run db:migrate again to finish.')
  process.exitCode = 1
} finally {
  await database.close()
}
