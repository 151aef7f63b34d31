/**
 * `npm run import:stripe [--map price_x=tier_id,… | --map auto] [--confirm]`: adopts the Stripe
 * account's live subscriptions whose prices are not Masthead's (no tier sells them), made before
 * Masthead or by something else. Without --confirm (or with --dry-run) it prints the plan and writes
 * nothing: each foreign price with the tier it maps to (suggested: the tier named as its product,
 * else the nearest monthly price), and how many subscriptions would be adopted. With --confirm, in
 * one transaction, each subscription's customer is linked to the account of its e-mail address
 * (made if new) and the subscription stored as Masthead stores its own; then each is marked in
 * Stripe as Masthead's (src/billing/adopt.ts), so the webhooks keep it current. Running it again
 * changes nothing. Prints counts and price ids, never an address or a name.
 */
import { inArray } from 'drizzle-orm'
import type Stripe from 'stripe'
import { newAccount } from '../accounts/users'
import { audit } from '../audit/audit'
import {
  checkMapping,
  customerOf,
  emptyPriceMapping,
  isMarked,
  markAdopted,
  ownTierOf,
  payingSubscriptions,
  productNames,
  soldPrice,
  storeAdopted,
  storedSubscriptionIds,
  suggestPriceMapping,
  tierCatalog,
  tierFor,
  type Adoption,
  type PriceMapping,
  type SoldPrice,
} from '../billing/adopt'
import { createStripe } from '../billing/stripe'
import { stripeCustomers, users } from '../db/schema'
import { AppError } from '../http/errors'
import { describeErrorText } from '../http/log'
import { addressIndexes } from '../privacy/blind-index'
import { keyringOf } from '../privacy/keys'
import { systemClock } from '../services'
import { openCliDatabase } from './database'
import { fail, toolArgs, toolConfig } from './tool-args'
import { toMajorUnits } from '../util/money'

const USAGE = 'Usage: npm run import:stripe -- [--dry-run] [--map price_x=tier_id,… | --map auto] [--confirm]'

const args = toolArgs(USAGE, {
  'dry-run': { type: 'boolean' },
  confirm: { type: 'boolean' },
  map: { type: 'string' },
})

function readMap(text: string | undefined): PriceMapping | 'auto' {
  const mapping = emptyPriceMapping()
  if (text === undefined) return mapping
  if (text === 'auto') return 'auto'
  for (const pair of text.split(',').filter((p) => p.trim() !== '')) {
    const [price, tier, ...rest] = pair.split('=').map((s) => s.trim())
    if (!price || !tier || rest.length > 0)
      fail(`--map takes price_x=tier_id pairs separated by commas, not "${pair}".\n${USAGE}`, 2)
    mapping[price] = tier
  }
  return mapping
}

const config = toolConfig()
const chosen = readMap(args.values.map)
const apply = args.values.confirm === true && args.values['dry-run'] !== true
const stripe = createStripe(config) ?? fail('Set STRIPE_SECRET_KEY: there is no Stripe account to read.')

const describePrice = (p: SoldPrice) =>
  `${p.priceId} (${p.productName ? `product "${p.productName}", ` : ''}${toMajorUnits(p.amount, p.currency)} ${p.currency.toUpperCase()} a ${p.interval})`

const database = await openCliDatabase(config, { max: 2 })
try {
  const now = systemClock.now()
  const keyring = await keyringOf(config)
  const catalog = await tierCatalog(database.db)
  const names = await productNames(stripe)
  const foreign = (await payingSubscriptions(stripe, { expandCustomer: true })).filter((s) => {
    const price = s.items.data[0]?.price.id
    return price !== undefined && ownTierOf(catalog, price) === null
  })
  const prices = foreign.flatMap((s) => soldPrice(s, names) ?? [])
  const mapping = chosen === 'auto' ? suggestPriceMapping(prices, catalog) : chosen
  checkMapping(mapping, catalog)
  if (chosen === 'auto') console.log(`Suggested mapping (--map auto): ${JSON.stringify(mapping)}`)

  const byPrice = new Map<string, { price: SoldPrice; n: number; tier: string | null }>()
  for (const price of prices) {
    const entry = byPrice.get(price.priceId) ?? { price, n: 0, tier: tierFor(price, catalog, mapping) }
    entry.n += 1
    byPrice.set(price.priceId, entry)
  }
  const stored = await storedSubscriptionIds(
    database.db,
    foreign.map((s) => s.id),
  )
  const addressOf = (s: Stripe.Subscription) =>
    typeof s.customer === 'object' && !s.customer.deleted ? (s.customer.email?.trim().toLowerCase() ?? null) : null
  const noAddress = foreign.filter((s) => addressOf(s) === null)
  console.log(
    `Stripe: ${foreign.length} live subscriptions to prices no Masthead tier sells; ${stored.size} already adopted; ` +
      `${noAddress.length} whose customer has no e-mail address (left out).`,
  )
  for (const { price, n, tier } of byPrice.values())
    console.log(`  price ${describePrice(price)}: ${n} → ${tier ?? 'NOT MAPPED'}`)
  const unmapped = [...byPrice.values()].filter((p) => p.tier === null)

  if (!apply) {
    console.log('Dry run: nothing was written. Run again with --confirm to adopt them.')
  } else if (unmapped.length > 0) {
    console.error(
      `Nothing was adopted: ${unmapped.length} ${unmapped.length === 1 ? 'price is' : 'prices are'} not mapped to a tier ` +
        '(listed above). Map them with --map price_x=tier_id,… or --map auto.',
    )
    process.exitCode = 1
  } else {
    const adoptions: Adoption[] = []
    let accountsMade = 0
    await database.db.transaction(async (tx) => {
      const candidates = foreign.filter((s) => addressOf(s) !== null)
      const customers = [...new Set(candidates.map(customerOf))]
      const linked = new Map(
        customers.length === 0
          ? []
          : (
              await tx
                .select({ customerId: stripeCustomers.customerId, userId: stripeCustomers.userId })
                .from(stripeCustomers)
                .where(inArray(stripeCustomers.customerId, customers))
            ).map((r) => [r.customerId, r.userId]),
      )
      for (const subscription of candidates) {
        const customer = customerOf(subscription)
        let userId = linked.get(customer)
        if (!userId) {
          const email = addressOf(subscription)!
          const name =
            typeof subscription.customer === 'object' && !subscription.customer.deleted
              ? subscription.customer.name
              : null
          const [found] = await tx
            .select({ id: users.id })
            .from(users)
            .where(inArray(users.emailIndex, await addressIndexes(keyring, email)))
          if (found) userId = found.id
          else {
            const account = await newAccount(tx, keyring, config, now, { email, name })
            await tx.insert(users).values(account)
            userId = account.id
            accountsMade += 1
          }
          await tx
            .insert(stripeCustomers)
            .values({ customerId: customer, userId, createdAt: now })
            .onConflictDoNothing()
          linked.set(customer, userId)
        }
        adoptions.push({ subscription, userId, tierId: tierFor(soldPrice(subscription, names)!, catalog, mapping)! })
      }
      const adopted = await storeAdopted(tx, adoptions, now)
      if (adopted > 0 || accountsMade > 0 || adoptions.some((a) => !isMarked(a))) {
        await audit(tx, now, null, 'stripe.adopted', null, { adopted, accountsMade, mapping })
      }
      console.log(`Adopted ${adopted} subscriptions (${accountsMade} new accounts) in one transaction.`)
    })
    try {
      const marked = await markAdopted(stripe, adoptions)
      console.log(`Stripe: ${marked} subscriptions marked as Masthead's, so that its webhooks keep them current.`)
    } catch (error) {
      fail(
        `The subscriptions are adopted, but marking them in Stripe failed (${describeErrorText(error)}). ` +
          'Run the same command again to finish: it changes nothing else.',
      )
    }
  }
} catch (error) {
  fail(error instanceof AppError ? error.message : `Nothing was adopted: ${describeErrorText(error)}`)
} finally {
  await database.close()
}
