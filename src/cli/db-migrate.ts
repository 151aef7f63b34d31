/**
 * `npm run db:migrate`: applies drizzle/ to the server in DATABASE_URL.
 * (The Node server also migrates on start; the Worker never does, so run this
 * before deploying a Worker whose code expects a new schema.)
 */
import { describePostgresUrl } from '../db/client'
import { migratePostgresUrl } from '../db/migrate'
import { describeErrorText } from '../http/log'

const url = process.env.DATABASE_URL
if (!url) {
  console.error('db:migrate needs DATABASE_URL, e.g. DATABASE_URL=postgres://user:password@host:5432/masthead')
  process.exit(1)
}
try {
  await migratePostgresUrl(url)
  console.log(`Migrations applied to ${describePostgresUrl(url)}.`)
} catch (error) {
  console.error(`Migrations failed on ${describePostgresUrl(url)}: ${describeErrorText(error)}`)
  process.exit(1)
}
