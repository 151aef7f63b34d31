/**
 * `npm run import:patreon -- members.csv [--dry-run] [--map tiers.json | --map auto] [--skip-rejected] [--invite]`:
 * imports a Patreon members export. --map names a JSON file of Patreon tier
 * names to Masthead tier ids ({"Gold": "patron"}), or `auto` for the suggested
 * mapping (the tier of the same name, else the nearest monthly price), printed;
 * rows whose tier is not mapped are rejected. Any rejected row stops the import,
 * unless --skip-rejected: then the valid rows are imported and the rejected ones
 * left out, as listed.
 * Uses DATABASE_URL, or the embedded PGlite database under DATA_DIR (stop
 * `npm start` first: PGlite allows one process at a time), and the server's
 * DATA_ENCRYPTION_KEY (and DATA_ENCRYPTION_KEYS_OLD): accounts are found by
 * their address index and written sealed under it, as the server writes them.
 *
 * It prints counts, tier names and line numbers, never a patron's name or
 * address: a terminal's scrollback and CI logs are not the place for them.
 */
import { readFileSync } from 'node:fs'
import { openCliDatabase } from './database'
import { fail, readMappingFile, toolArgs, toolConfig } from './tool-args'
import { AppError } from '../http/errors'
import { describeErrorText, redactText } from '../http/log'
import { absoluteUrl } from '../http/paths'
import { keyringOf } from '../privacy/keys'
import { createServices, systemClock } from '../services'
import { sendInvitations, UNSUBSCRIBE_PATH } from '../imports/invitations'
import { PatreonCsvError, parsePatreonCsv } from '../imports/patreon-csv'
import { commitImport, planImport, suggestMapping, tierPledges, type TierMapping } from '../imports/patreon-import'
import { tiers } from '../db/schema'
import { saveTierMapping } from '../imports/tier-mapping'

const USAGE =
  'Usage: npm run import:patreon -- members.csv [--dry-run] [--map tiers.json | --map auto] [--skip-rejected] [--invite]'

const args = toolArgs(
  USAGE,
  {
    'dry-run': { type: 'boolean' },
    map: { type: 'string' },
    'skip-rejected': { type: 'boolean' },
    invite: { type: 'boolean' },
  },
  true,
)
const [file, ...extra] = args.positionals
if (!file || extra.length > 0) fail(USAGE, 2)

const config = toolConfig()
const mapping: TierMapping | 'auto' = readMappingFile(args.values.map, 'Patreon tier names')
let bytes: Uint8Array
try {
  bytes = readFileSync(file)
} catch (error) {
  fail(`Could not read ${file}: ${describeErrorText(error)}`, 2)
}

/**
 * A rejection's reason without the cells it quotes, but for the tier names listed above: in a row
 * whose columns have slipped (an unquoted comma), the "status" or "currency" is someone's handle
 * or street. The line number says where to look.
 */
function withoutCellValues(reason: string, tierNames: Set<string>): string {
  return redactText(
    reason.replace(/"((?:[^"]|"")*)"/g, (quoted, value: string) => (tierNames.has(value) ? quoted : '"…"')),
  )
}

const database = await openCliDatabase(config, { max: 2 })
try {
  const parsed = (() => {
    try {
      return parsePatreonCsv(bytes)
    } catch (error) {
      if (error instanceof PatreonCsvError) fail(`${file}: ${redactText(error.message)}`)
      throw error
    }
  })()
  const now = systemClock.now()
  const keyring = await keyringOf(config)
  let chosen: TierMapping
  if (mapping === 'auto') {
    const pledges = tierPledges()
    pledges.add(parsed.rows)
    const choices = await database.db
      .select({ id: tiers.id, name: tiers.name, monthlyAmount: tiers.monthlyAmount, currency: tiers.currency })
      .from(tiers)
    chosen = suggestMapping(pledges.prices(), choices)
    console.log(`Suggested tier mapping (--map auto): ${JSON.stringify(chosen)}`)
  } else {
    chosen = mapping
  }
  const plan = await planImport(database.db, keyring, config, parsed.rows, parsed.rejected, chosen, now)
  console.log(
    `${file} (${parsed.variant} Patreon export) into ${database.label}: ${plan.counts.new} new, ` +
      `${plan.counts.updated} updated, ${plan.counts.unchanged} unchanged, ${plan.counts.rejected} rejected.`,
  )
  for (const t of plan.tiers)
    console.log(
      `  Patreon tier "${t.name}" (${t.rows} ${t.rows === 1 ? 'row' : 'rows'}) → ${t.mappedTo ?? 'NOT MAPPED'}`,
    )
  const tierNames = new Set(plan.tiers.map((t) => t.name))
  for (const r of plan.rejected.slice(0, 50)) console.log(`  line ${r.line}: ${withoutCellValues(r.reason, tierNames)}`)
  if (plan.rejected.length > 50) console.log(`  … and ${plan.rejected.length - 50} more rejected rows.`)
  if (args.values['dry-run']) {
    console.log('Dry run: nothing was written.')
  } else if (plan.counts.rejected > 0 && !args.values['skip-rejected']) {
    // Said here rather than by commitImport, whose refusal quotes the first rejected row's reason.
    console.error(
      `Nothing was imported: ${plan.counts.rejected} ${plan.counts.rejected === 1 ? 'row was' : 'rows were'} rejected ` +
        '(the lines above). Fix the file or the tier mapping and try again, or import the others with --skip-rejected.',
    )
    process.exitCode = 1
  } else {
    const counts = await commitImport(database.db, keyring, plan, now, null, config.ADMIN_EMAILS, {
      skipRejected: args.values['skip-rejected'] === true,
    })
    await saveTierMapping(database.db, chosen, now) // what Patreon's webhooks map tiers with from now on
    const skipped = plan.counts.rejected > 0 ? `; ${plan.counts.rejected} rejected rows left out` : ''
    console.log(`Imported ${counts.new + counts.updated + counts.unchanged} rows in one transaction${skipped}.`)
    if (args.values.invite) {
      const services = createServices({ config, db: database.db })
      const sent = await sendInvitations(database.db, keyring, services.mailer, {
        now,
        publication: config.PUBLICATION_NAME,
        joinUrl: absoluteUrl(config, '/join'),
        unsubscribeUrl: absoluteUrl(config, UNSUBSCRIBE_PATH),
        reminderDays: config.PATREON_REMINDER_DAYS,
      })
      console.log(
        `Invitations: ${sent.sent} sent, ${sent.failed} failed, ${sent.remaining} still to invite (run again in a minute).`,
      )
    }
  }
} catch (error) {
  fail(
    error instanceof AppError
      ? error.message
      : `The import failed, and nothing was written: ${describeErrorText(error)}`,
  )
} finally {
  await database.close()
}
