/**
 * `npm run import:ghost -- members.csv [--dry-run] [--map map.json | --map auto]`: imports Ghost's
 * members export. Members become accounts, complimentary members comps of their mapped tier, and a
 * stripe_customer_id is linked to the account: the customer's live subscriptions, read from Stripe
 * a page of 100 at a time, are adopted as Masthead memberships (src/billing/adopt.ts), no new
 * checkout. --map names a JSON file of Ghost tier names and Stripe price ids, product ids or
 * product names to Masthead tier ids ({"Gold": "patron", "price_123": "reader"}); `auto` takes the
 * suggestion (same name, else the nearest monthly price) and prints it. Anything rejected or
 * unmapped stops the import before it writes anything, unless --skip-rejected: then the valid rows
 * are imported and the rejected ones (listed by line) left out. Members deleted in Ghost are left out.
 *
 * Accounts, comps, links and the adopted subscriptions are written in one transaction; then the
 * adopted subscriptions are marked as Masthead's in Stripe (a run that fails there is finished by
 * running it again). Uses DATABASE_URL (or the embedded PGlite), DATA_ENCRYPTION_KEY, and
 * STRIPE_SECRET_KEY when the file names Stripe customers.
 *
 * Prints counts, tier names, price ids and line numbers, never a member's name or address.
 */
import { readFileSync } from 'node:fs'
import type Stripe from 'stripe'
import {
  emptyPriceMapping,
  markAdopted,
  payingSubscriptions,
  productNames,
  soldPrice,
  storeAdopted,
  storedSubscriptionIds,
  suggestPriceMapping,
  tierCatalog,
  tierFor,
  type PriceMapping,
  type SoldPrice,
} from '../billing/adopt'
import { createStripe } from '../billing/stripe'
import { AppError } from '../http/errors'
import { describeErrorText, redactText } from '../http/log'
import { GhostCsvError, parseGhostCsv } from '../imports/ghost-csv'
import { adoptionsFor, commitGhostImport, planGhostImport, suggestGhostTiers } from '../imports/ghost-import'
import { keyringOf } from '../privacy/keys'
import { systemClock } from '../services'
import { openCliDatabase } from './database'
import { fail, readMappingFile, toolArgs, toolConfig } from './tool-args'
import { toMajorUnits } from '../util/money'

const USAGE = 'Usage: npm run import:ghost -- members.csv [--dry-run] [--skip-rejected] [--map map.json | --map auto]'

const args = toolArgs(
  USAGE,
  { 'dry-run': { type: 'boolean' }, 'skip-rejected': { type: 'boolean' }, map: { type: 'string' } },
  true,
)
const [file, ...extra] = args.positionals
if (!file || extra.length > 0) fail(USAGE, 2)

const config = toolConfig()
const given = readMappingFile(args.values.map, 'Ghost tier names or Stripe prices')
const chosen: PriceMapping | 'auto' = given === 'auto' ? 'auto' : Object.assign(emptyPriceMapping(), given)
let bytes: Uint8Array
try {
  bytes = readFileSync(file)
} catch (error) {
  fail(`Could not read ${file}: ${describeErrorText(error)}`, 2)
}
let parsed: ReturnType<typeof parseGhostCsv>
try {
  parsed = parseGhostCsv(bytes)
} catch (error) {
  if (error instanceof GhostCsvError) fail(`${file}: ${redactText(error.message)}`)
  throw error
}

/** A reason without the cells it quotes but tier names: a row whose columns slipped has someone's details there. */
const withoutCellValues = (reason: string, tierNames: Set<string>) =>
  redactText(reason.replace(/"((?:[^"]|"")*)"/g, (quoted, value: string) => (tierNames.has(value) ? quoted : '"…"')))

const describePrice = (p: SoldPrice) =>
  `${p.priceId} (${p.productName ? `product "${p.productName}", ` : ''}${toMajorUnits(p.amount, p.currency)} ${p.currency.toUpperCase()} a ${p.interval})`

const database = await openCliDatabase(config, { max: 2 })
try {
  const now = systemClock.now()
  const keyring = await keyringOf(config)
  const catalog = await tierCatalog(database.db)
  const mapping: PriceMapping = chosen === 'auto' ? suggestGhostTiers(parsed.rows, catalog) : chosen

  // The customers' subscriptions, read before anything is written: a page of 100 a request.
  const customers = new Set(parsed.rows.flatMap((r) => (r.stripeCustomerId ? [r.stripeCustomerId] : [])))
  let stripe: Stripe | null = null
  const listed: Stripe.Subscription[] = []
  let names = new Map<string, string>()
  if (customers.size > 0) {
    stripe = createStripe(config)
    if (!stripe) {
      fail(
        `${customers.size} members of ${file} have a stripe_customer_id: set STRIPE_SECRET_KEY (the Stripe account ` +
          'Ghost used) so that their subscriptions can be adopted. Nothing was written.',
      )
    }
    names = await productNames(stripe)
    listed.push(...(await payingSubscriptions(stripe, { customers })))
    if (chosen === 'auto') {
      const prices = listed.flatMap((s) => soldPrice(s, names) ?? [])
      Object.assign(mapping, suggestPriceMapping(prices, catalog))
    }
  }
  if (chosen === 'auto') console.log(`Suggested tier mapping (--map auto): ${JSON.stringify(mapping)}`)

  const plan = await planGhostImport(
    database.db,
    keyring,
    catalog,
    parsed.rows,
    parsed.rejected,
    mapping,
    now,
    parsed.deleted,
  )
  const c = plan.counts
  console.log(
    `${file} (${parsed.variant === 'current' ? 'Ghost export with tiers' : 'older Ghost export with products'}) into ` +
      `${database.label}: ${c.new} new, ${c.updated} updated, ${c.unchanged} unchanged, ${c.rejected} rejected; ` +
      `${c.deleted} deleted in Ghost, left out; ${c.comps} comps to grant, ${c.links} Stripe customers to link.`,
  )
  for (const t of plan.tiers)
    console.log(
      `  Ghost tier "${t.name}" (${t.rows} ${t.rows === 1 ? 'comp' : 'comps'}) → ${t.mappedTo ?? 'NOT MAPPED'}`,
    )

  // Subscriptions: mapped by price, product or product name; Masthead's own prices map to their tiers.
  const byPrice = new Map<string, { price: SoldPrice; n: number; tier: string | null }>()
  for (const s of listed) {
    const price = soldPrice(s, names)
    if (!price) continue
    const entry = byPrice.get(price.priceId) ?? { price, n: 0, tier: tierFor(price, catalog, mapping) }
    entry.n += 1
    byPrice.set(price.priceId, entry)
  }
  const stored = await storedSubscriptionIds(
    database.db,
    listed.map((s) => s.id),
  )
  console.log(
    `Stripe: ${listed.length} live subscriptions of these members, ${stored.size} already kept by Masthead, ` +
      `${listed.length - stored.size} to adopt.`,
  )
  for (const { price, n, tier } of byPrice.values())
    console.log(`  price ${describePrice(price)}: ${n} → ${tier ?? 'NOT MAPPED'}`)
  const tierNames = new Set(plan.tiers.map((t) => t.name))
  for (const r of plan.rejected.slice(0, 50)) console.log(`  line ${r.line}: ${withoutCellValues(r.reason, tierNames)}`)
  if (plan.rejected.length > 50) console.log(`  … and ${plan.rejected.length - 50} more rejected rows.`)
  const unmapped = [...byPrice.values()].filter((p) => p.tier === null)

  if (args.values['dry-run']) {
    console.log('Dry run: nothing was written.')
  } else if (args.values['skip-rejected'] && c.rejected > 0 && c.new + c.updated + c.unchanged === 0) {
    console.error('Nothing to import: every row was rejected. Fix the file and try again.')
    process.exitCode = 1
  } else if ((c.rejected > 0 && !args.values['skip-rejected']) || unmapped.length > 0) {
    console.error(
      `Nothing was imported: ${c.rejected > 0 ? `${c.rejected} rejected ${c.rejected === 1 ? 'row' : 'rows'}` : ''}` +
        `${c.rejected > 0 && unmapped.length > 0 ? ' and ' : ''}` +
        `${unmapped.length > 0 ? `${unmapped.length} Stripe ${unmapped.length === 1 ? 'price' : 'prices'} not mapped to a tier` : ''}` +
        ' (listed above). Fix the file or the mapping (--map) and try again' +
        `${c.rejected > 0 && unmapped.length === 0 ? ', or import the valid rows and leave those out with --skip-rejected' : ''}.`,
    )
    process.exitCode = 1
  } else {
    let adoptions: Awaited<ReturnType<typeof adoptionsFor>>['adoptions'] = []
    await commitGhostImport(database.db, keyring, plan, now, null, config.ADMIN_EMAILS, {
      skipRejected: args.values['skip-rejected'] === true,
      also: async (tx) => {
        adoptions = (await adoptionsFor(tx, listed, catalog, mapping, names)).adoptions
        return { adopted: await storeAdopted(tx, adoptions, now) }
      },
    })
    console.log(
      `Imported ${c.new + c.updated + c.unchanged} members in one transaction; ${adoptions.length} subscriptions kept.` +
        (c.rejected > 0
          ? ` ${c.rejected} rejected ${c.rejected === 1 ? 'row' : 'rows'} left out (--skip-rejected).`
          : ''),
    )
    if (stripe && adoptions.length > 0) {
      try {
        const marked = await markAdopted(stripe, adoptions)
        console.log(`Stripe: ${marked} subscriptions marked as Masthead's, so that its webhooks keep them current.`)
      } catch (error) {
        fail(
          `The members are imported, but marking their subscriptions in Stripe failed (${describeErrorText(error)}). ` +
            'Run the same command again to finish: it changes nothing else.',
        )
      }
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
