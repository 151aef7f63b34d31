/**
 * `npm run db:seed -- --supporters 100000`: fills the database with fake supporters for demos and
 * benchmarks (src/dev/seed-supporters.ts). Uses DATABASE_URL, or the embedded PGlite under DATA_DIR as
 * `npm start` does, and migrates it first. Addresses and names are written encrypted under
 * DATA_ENCRYPTION_KEY (the public development key by default), as the app writes them. PGlite
 * allows one process at a time: stop the server before seeding its DATA_DIR. Development only:
 * faker is a devDependency.
 */
import { parseArgs } from 'node:util'
import { ConfigError, loadConfig } from '../config'
import { describeErrorText } from '../http/log'
import { openCliDatabase, type CliDatabase } from './database'
import { seedSupporters } from '../dev/seed-supporters'
import { keyringOf } from '../privacy/keys'
import { sealAfterMigrations } from '../accounts/seal-existing'

const MAX_SUPPORTERS = 1_000_000

const USAGE = `Usage: npm run db:seed -- [--supporters N] [--seed S]

  --supporters N  fake accounts to add, 1 to ${MAX_SUPPORTERS.toLocaleString('en-US')} (default 1000)
  --seed S        the random seed, a whole number: the same seed makes the same people (default 1)

Seeds DATABASE_URL, or the embedded PGlite under DATA_DIR when DATABASE_URL is unset.`

function usageError(problem: string): never {
  console.error(`${problem}\n\n${USAGE}`)
  process.exit(2)
}

/** A whole number in range, written as digits (underscores and commas allowed: 100_000, 100,000). */
function wholeNumber(raw: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback
  const digits = raw.replace(/[_,]/g, '')
  const value = /^\d+$/.test(digits) ? Number(digits) : NaN
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    usageError(
      `--${name} must be a whole number from ${min.toLocaleString('en-US')} to ${max.toLocaleString('en-US')}, not "${raw}".`,
    )
  }
  return value
}

function parse(argv: string[]): { supporters: number; seed: number } {
  let values
  try {
    ;({ values } = parseArgs({
      args: argv,
      options: { supporters: { type: 'string' }, seed: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }))
  } catch (error) {
    usageError(error instanceof Error ? error.message : String(error))
  }
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  return {
    supporters: wholeNumber(values.supporters, 'supporters', 1000, 1, MAX_SUPPORTERS),
    seed: wholeNumber(values.seed, 'seed', 1, 0, 2 ** 31 - 1),
  }
}

const options = parse(process.argv.slice(2))
let database: CliDatabase | undefined
try {
  const config = loadConfig(process.env)
  const keyring = await keyringOf(config)
  database = await openCliDatabase(config, { max: 1 })
  // An older database may still hold addresses in clear: sealed first, so that the seeded accounts
  // are placed in the name order among readable ones.
  await sealAfterMigrations(database.db, config, (line) => console.log(line))
  console.log(`Seeding ${options.supporters.toLocaleString('en-US')} supporters into ${database.label}`)
  const made = await seedSupporters(database.db, {
    keyring,
    supporters: options.supporters,
    now: new Date(),
    seed: options.seed,
    log: (line) => console.log(`  ${line}`),
  })
  const n = (value: number) => value.toLocaleString('en-US')
  console.log(
    `Made ${n(made.users)} accounts, ${n(made.subscriptions)} subscriptions, ${n(made.payments)} payments, ` +
      `${n(made.grants)} comps and ${n(made.patrons)} Patreon memberships in ${made.seconds.toFixed(1)} s.`,
  )
} catch (error) {
  if (error instanceof ConfigError) console.error(error.message)
  else console.error(`Seeding failed: ${describeErrorText(error)}`)
  process.exitCode = 1
} finally {
  await database?.close()
}
