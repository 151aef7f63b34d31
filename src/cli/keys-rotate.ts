/**
 * `npm run keys:rotate`: re-encrypts every address and name not under the current data key
 * (DATA_ENCRYPTION_KEY), reading them with the keys in DATA_ENCRYPTION_KEYS_OLD (accounts, e-mailed
 * links, the development mailbox, import previews, and gifts: their recipient's and giver's addresses
 * and message), recomputes their address indexes and search tokens, and renumbers the name order evenly (ARCHITECTURE.md,
 * "Personal data at rest", Rotation). In batches of 1,000 rows, one transaction each: stopped
 * halfway, it is run again, and what is already under the current key is skipped. The server may
 * keep running meanwhile (a row written concurrently is left to the writer). Works on DATABASE_URL,
 * or the embedded PGlite under DATA_DIR as `npm start` does (stop the server first then).
 *
 * Prints counts only. When it reports nothing left under an old key, that key may leave
 * DATA_ENCRYPTION_KEYS_OLD.
 */
import { parseArgs } from 'node:util'
import { ConfigError, loadConfig } from '../config'
import { describeErrorText } from '../http/log'
import { sealExisting, valuesByKey } from '../accounts/seal-existing'
import { keyringFromEnvironment } from './data-keys'
import { openCliDatabase, type CliDatabase } from './database'

const USAGE = `Usage: DATA_ENCRYPTION_KEY=<new key> DATA_ENCRYPTION_KEYS_OLD=<old keys> npm run keys:rotate [-- --batch N]

  --batch N  rows per transaction (default 1000)

Re-encrypts everything not under DATA_ENCRYPTION_KEY, in DATABASE_URL or the embedded PGlite
under DATA_DIR. Run it again after an interruption: it continues where it stopped.`

function usageError(problem: string): never {
  console.error(`${problem}\n\n${USAGE}`)
  process.exit(2)
}

let values
try {
  ;({ values } = parseArgs({
    options: { batch: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
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
const batchSize = values.batch === undefined ? 1000 : Number(values.batch)
if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > 100_000) {
  usageError('--batch must be a whole number from 1 to 100,000.')
}

let database: CliDatabase | undefined
try {
  const keyring = await keyringFromEnvironment(process.env)
  // Only where the database is: the rest of a production configuration is not needed here.
  const where = loadConfig({ DATABASE_URL: process.env.DATABASE_URL, DATA_DIR: process.env.DATA_DIR })
  database = await openCliDatabase(where, { max: 1 })
  const old = [...keyring.byId.keys()].filter((id) => id !== keyring.current.id)
  console.log(
    `Rotating ${database.label} to key ${keyring.current.id}` + (old.length > 0 ? ` (reading ${old.join(', ')})` : ''),
  )
  await sealExisting(database.db, keyring, {
    mode: 'rotate',
    batchSize,
    log: (line) => console.log(`  ${line}`),
  })
  // Rows written meanwhile by a server still on an old key are left to it: they are counted here.
  const left = [...(await valuesByKey(database.db))].filter(([id]) => id !== keyring.current.id)
  if (left.length === 0) {
    console.log(
      `Everything is under ${keyring.current.id}.` +
        (old.length > 0
          ? ` Once every server runs with it, ${old.join(', ')} can leave DATA_ENCRYPTION_KEYS_OLD.`
          : ''),
    )
  } else {
    const list = left.map(([id, n]) => `${n} under ${id || 'no key (in clear)'}`).join(', ')
    console.log(`Still to do: ${list}, written meanwhile. Run npm run keys:rotate again.`)
    process.exitCode = 1
  }
} catch (error) {
  if (error instanceof ConfigError) console.error(error.message)
  else console.error(`Rotation stopped: ${describeErrorText(error)}\nWhat was done is kept; run it again to finish.`)
  process.exitCode = 1
} finally {
  await database?.close()
}
