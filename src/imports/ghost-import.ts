import { inArray, sql } from 'drizzle-orm'
import { placeAccounts } from '../accounts/name-order'
import type { SessionUser } from '../accounts/sessions'
import { audit } from '../audit/audit'
import {
  checkMapping,
  customerOf,
  emptyPriceMapping,
  isPaying,
  soldPrice,
  tierFor,
  type Adoption,
  type PriceMapping,
  type TierCatalogEntry,
} from '../billing/adopt'
import type { Stripe } from '../billing/stripe'
import { rowsOf, type Database } from '../db/client'
import { stripeCustomers, users, type Role } from '../db/schema'
import { inList, LIVE_STATUSES } from '../db/statuses'
import { AppError } from '../http/errors'
import { isPgError } from '../db/pg-errors'
import { addressIndexes, normalizeAddress, type Person } from '../privacy/blind-index'
import type { Keyring } from '../privacy/keys'
import { sortTextOf } from '../privacy/name-order'
import { cleanName, sealPeople } from '../privacy/people'
import { randomId } from '../util/random'
import type { GhostRow, RejectedRow } from './ghost-csv'

/**
 * Ghost members into Masthead: each member an account (found by address, else made), a comp
 * (`complimentary_plan`) a comp of its mapped tier, and a `stripe_customer_id` linked to the
 * account, so that the customer's live subscriptions, adopted from Stripe (src/billing/adopt.ts),
 * are the member's membership with no new checkout. `planGhostImport` is the dry run;
 * `commitGhostImport` writes a plan in one transaction. Both are idempotent: a row whose account,
 * comp and link are there already is unchanged and not written.
 *
 * The mapping is one object for both kinds of tier: a Ghost tier name (of a comp) and a Stripe
 * price id, product id or product name (of a subscription) → a Masthead tier id.
 */

export type GhostRowKind = 'new' | 'updated' | 'unchanged'

export interface PlannedGhostRow {
  row: GhostRow
  kind: GhostRowKind
  userId: string | null
  /** The comp to grant (none running yet, and Stripe does not bill the account). */
  compTierId: string | null
  /** The Stripe customer to link to the account (not linked yet). */
  linkCustomer: string | null
  /** The account has no name yet and the row has one. */
  giveName: boolean
}

export interface GhostCounts {
  new: number
  updated: number
  unchanged: number
  rejected: number
  /** Deleted in Ghost: not imported. */
  deleted: number
  comps: number
  links: number
}

export interface GhostPlan {
  counts: GhostCounts
  rejected: RejectedRow[]
  planned: PlannedGhostRow[]
  /** The Ghost tiers of comps, with how many rows use each and the tier it maps to. */
  tiers: { name: string; rows: number; mappedTo: string | null }[]
}

export const emptyGhostCounts = (): GhostCounts => ({
  new: 0,
  updated: 0,
  unchanged: 0,
  rejected: 0,
  deleted: 0,
  comps: 0,
  links: 0,
})

/** A Ghost tier name's Masthead tier: own keys only, then whatever the case. */
export function ghostTier(mapping: PriceMapping, name: string): string | null {
  if (Object.hasOwn(mapping, name)) return mapping[name] ?? null
  const key = Object.keys(mapping).find((k) => k.toLowerCase() === name.toLowerCase())
  return key === undefined ? null : (mapping[key] ?? null)
}

/** The Ghost tiers of comps in these rows, named as Ghost names them, with the tier a name suggests. */
export function suggestGhostTiers(rows: readonly GhostRow[], catalog: readonly TierCatalogEntry[]): PriceMapping {
  const mapping = emptyPriceMapping()
  for (const row of rows) {
    if (!row.comp) continue
    for (const name of row.tiers) {
      const tier = catalog.find((t) => t.name.toLowerCase() === name.toLowerCase())
      if (tier) mapping[name] = tier.id
    }
  }
  return mapping
}

/** The dry run: what each row would do, without writing anything. */
export async function planGhostImport(
  db: Database,
  keyring: Keyring,
  catalog: readonly TierCatalogEntry[],
  rows: readonly GhostRow[],
  parseRejected: readonly RejectedRow[],
  mapping: PriceMapping,
  now: Date,
  deleted = 0,
): Promise<GhostPlan> {
  checkMapping(mapping, catalog, 'Ghost tier or Stripe price')
  const existing = await existingAccounts(db, keyring, rows, now)
  const customers = [...new Set(rows.flatMap((r) => (r.stripeCustomerId ? [r.stripeCustomerId] : [])))]
  const linked = new Map<string, string>()
  for (let i = 0; i < customers.length; i += 5000) {
    const found = await db
      .select({ customerId: stripeCustomers.customerId, userId: stripeCustomers.userId })
      .from(stripeCustomers)
      .where(inArray(stripeCustomers.customerId, customers.slice(i, i + 5000)))
    for (const f of found) linked.set(f.customerId, f.userId)
  }
  const rejected = [...parseRejected]
  const planned: PlannedGhostRow[] = []
  const tierUse = new Map<string, number>()
  for (const row of rows) {
    const current = existing.get(row.email)
    let compTierId: string | null = null
    if (row.comp) {
      if (row.tiers.length === 0) {
        rejected.push({ line: row.line, reason: 'The complimentary member has no tier.' })
        continue
      }
      for (const name of row.tiers) tierUse.set(name, (tierUse.get(name) ?? 0) + 1)
      compTierId = row.tiers.map((name) => ghostTier(mapping, name)).find((t) => t !== null) ?? null
      if (compTierId === null) {
        rejected.push({
          line: row.line,
          reason: `The Ghost tier "${row.tiers[0]}" of this complimentary member is not mapped to a Masthead tier.`,
        })
        continue
      }
    }
    const linkedTo = row.stripeCustomerId ? linked.get(row.stripeCustomerId) : undefined
    if (linkedTo !== undefined && linkedTo !== current?.userId) {
      rejected.push({ line: row.line, reason: 'Its stripe_customer_id is already linked to another account here.' })
      continue
    }
    const grant = compTierId !== null && !current?.hasComp && !current?.paysThroughStripe ? compTierId : null
    const linkCustomer = row.stripeCustomerId && linkedTo === undefined ? row.stripeCustomerId : null
    const giveName = current !== undefined && !current.named && cleanName(row.name) !== null
    const kind: GhostRowKind = !current ? 'new' : grant || linkCustomer || giveName ? 'updated' : 'unchanged'
    planned.push({ row, kind, userId: current?.userId ?? null, compTierId: grant, linkCustomer, giveName })
  }
  rejected.sort((a, b) => a.line - b.line)
  const counts = { ...emptyGhostCounts(), rejected: rejected.length, deleted }
  for (const p of planned) {
    counts[p.kind] += 1
    if (p.compTierId) counts.comps += 1
    if (p.linkCustomer) counts.links += 1
  }
  return {
    counts,
    rejected,
    planned,
    tiers: [...tierUse]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, n]) => ({ name, rows: n, mappedTo: ghostTier(mapping, name) })),
  }
}

/** Runs `task` over `items`, at most `parallel` at a time, in order. */
async function inParallel<T, R>(items: readonly T[], task: (item: T) => Promise<R>, parallel = 512): Promise<R[]> {
  const out: R[] = []
  for (let i = 0; i < items.length; i += parallel)
    out.push(...(await Promise.all(items.slice(i, i + parallel).map(task))))
  return out
}

/** The accounts of the file's addresses (by address index, under every key), with their comps and Stripe standing. */
async function existingAccounts(db: Database, keyring: Keyring, rows: readonly GhostRow[], now: Date) {
  const out = new Map<string, { userId: string; named: boolean; hasComp: boolean; paysThroughStripe: boolean }>()
  const emails = [...new Set(rows.map((r) => r.email))]
  const indexes = await inParallel(emails, (email) => addressIndexes(keyring, email))
  const emailOf = new Map<string, string>()
  indexes.forEach((list, i) => list.forEach((index) => emailOf.set(index, emails[i]!)))
  const all = indexes.flat()
  for (let i = 0; i < all.length; i += 5000) {
    const found = await rowsOf<{ id: string; email_index: string; named: boolean; has_comp: boolean; pays: boolean }>(
      db,
      sql`select u.id, u.email_index, u.named,
          exists (select 1 from grants g where g.user_id = u.id and g.source = 'comp' and g.revoked_at is null
            and (g.ends_at is null or g.ends_at > ${now.toISOString()}::timestamptz)) as has_comp,
          exists (select 1 from subscriptions s join stripe_customers c on c.customer_id = s.customer_id
            where c.user_id = u.id and s.status in ${inList(LIVE_STATUSES)}) as pays
        from ${users} u where u.email_index in (select jsonb_array_elements_text(${JSON.stringify(all.slice(i, i + 5000))}::jsonb))`,
    )
    for (const f of found) {
      out.set(emailOf.get(f.email_index)!, {
        userId: f.id,
        named: f.named,
        hasComp: f.has_comp,
        paysThroughStripe: f.pays,
      })
    }
  }
  return out
}

const BATCH = 5000
const SEAL_PARALLEL = 256
const json = (value: unknown) => sql`${JSON.stringify(value)}::jsonb`
const personOf = (p: PlannedGhostRow): Person => ({ email: p.row.email, name: cleanName(p.row.name) })

/** Refuses a plan with rejected rows, saying which comes first. */
export function refuseRejected(plan: Pick<GhostPlan, 'counts' | 'rejected'>) {
  const n = plan.counts.rejected
  if (n === 0) return
  throw new AppError(
    'validation_failed',
    `Nothing was imported: ${n} ${n === 1 ? 'row was' : 'rows were'} rejected (first: line ${plan.rejected[0]!.line}, ${plan.rejected[0]!.reason}). Fix the file or the tier mapping and try again.`,
  )
}

/**
 * Writes a plan in one transaction: new accounts (sealed, placed in the name order, created at
 * their Ghost date), names for accounts without one, comps, customer links; then `also(tx)` (the
 * command line adopts the subscriptions there, so that all of it commits or none). A comp is
 * granted only if the account has none running when the statement runs, a link only if the
 * customer is not linked: run twice, the second run writes nothing.
 */
export async function commitGhostImport(
  db: Database,
  keyring: Keyring,
  plan: GhostPlan,
  now: Date,
  actor: Pick<SessionUser, 'id'> | null,
  adminEmails: readonly string[],
  options: {
    audit?: boolean
    also?: (tx: Database) => Promise<Record<string, unknown>>
    /** Write the planned rows and leave the rejected ones out (the admin chose to). */
    skipRejected?: boolean
  } = {},
): Promise<GhostCounts> {
  if (!options.skipRejected) refuseRejected(plan)
  const changed = plan.planned.filter((p) => p.kind !== 'unchanged')
  const fresh = changed.filter((p) => p.userId === null)
  const named = changed.filter((p) => p.giveName)
  const ids = new Map<PlannedGhostRow, string>(fresh.map((p) => [p, randomId()]))
  // Sealing is most of an import's work and the database's is the rest: the new accounts are sealed a
  // batch ahead of the statements that write them (the first batch while the transaction opens and the
  // accounts are placed in the name order), so the two overlap, as in the Patreon commit.
  const batches: PlannedGhostRow[][] = []
  for (let i = 0; i < fresh.length; i += BATCH) batches.push(fresh.slice(i, i + BATCH))
  const seal = (people: readonly PlannedGhostRow[] | undefined) => {
    const sealing = sealPeople(keyring, (people ?? []).map(personOf), SEAL_PARALLEL)
    sealing.catch(() => {}) // awaited below, unless the transaction has failed before
    return sealing
  }
  let sealing = seal(batches[0])
  const sealingNamed = seal(named)
  const at = sql`${now.toISOString()}::timestamptz`
  try {
    await db.transaction(async (tx) => {
      const order = await placeAccounts(tx, keyring, [
        ...fresh.map((p) => ({ id: ids.get(p)!, sortText: sortTextOf(personOf(p)) })),
        ...named.map((p) => ({ id: p.userId!, sortText: sortTextOf(personOf(p)) })),
      ])
      for (const [b, batch] of batches.entries()) {
        const sealed = await sealing
        sealing = seal(batches[b + 1])
        // Each account one JSON array, read by position from jsonb, which is parsed once: `->>` on json parses
        // the element again for every field read (5,000 accounts, in psql: 95–105 ms through jsonb, 270–380 ms
        // through json, 190–270 ms through json_to_recordset, which also parses a text[] per row). The search
        // tokens (~31 a row) travel as one space-separated string: they are base64url, with no space in them.
        const accounts = batch.map((p, i) => {
          const s = sealed[i]!
          const role: Role = adminEmails.includes(normalizeAddress(p.row.email)) ? 'admin' : 'reader'
          const joined = p.row.createdAt && p.row.createdAt < now ? p.row.createdAt : now
          const id = ids.get(p)!
          return [
            id,
            s.emailIndex,
            s.named,
            s.searchTokens.join(' '),
            s.card,
            order.get(id)!,
            role,
            joined.toISOString(),
          ]
        })
        // The batch's comps and customer links go in the same statement, so that the database writes them
        // while the next batch is sealed, not all at the end: a new account has no comp or link to check for.
        const comps = batch.flatMap((p) => (p.compTierId ? [[randomId(), ids.get(p)!, p.compTierId]] : []))
        const links = batch.flatMap((p) => (p.linkCustomer ? [[p.linkCustomer, ids.get(p)!]] : []))
        const made = await rowsOf<{ id: string }>(
          tx,
          sql`with made as (
              insert into ${users} (id, email_index, named, search_tokens, card, name_order, role, created_at, updated_at)
              select e->>0, e->>1, (e->>2)::boolean, string_to_array(e->>3, ' '), e->>4, e->>5, e->>6,
                (e->>7)::timestamptz, ${at}
              from jsonb_array_elements(${json(accounts)}) as e
              on conflict (email_index) do nothing
              returning id),
            comps as (
              insert into grants (id, user_id, source, tier_id, starts_at, note, created_at, updated_at)
              select c->>0, c->>1, 'comp', c->>2, ${at}, 'Complimentary in Ghost', ${at}, ${at}
              from jsonb_array_elements(${json(comps)}) as c where c->>1 in (select id from made)),
            links as (
              insert into ${stripeCustomers} (customer_id, user_id, created_at)
              select l->>0, l->>1, ${at}
              from jsonb_array_elements(${json(links)}) as l where l->>1 in (select id from made)
              on conflict (customer_id) do nothing)
            select id from made`,
        )
        // Someone signed up with one of these addresses since the plan: preview again rather than guess.
        if (made.length !== accounts.length) throw accountsChanged()
      }
      const sealedNamed = await sealingNamed
      const names = named.map((p, i) => ({
        id: p.userId,
        search_tokens: sealedNamed[i]!.searchTokens,
        card: sealedNamed[i]!.card,
        name_order: order.get(p.userId!)!,
      }))
      for (let i = 0; i < names.length; i += BATCH) {
        await tx.execute(sql`update ${users}
          set named = true, email = null, name = null, search_tokens = r.search_tokens, card = r.card,
            name_order = r.name_order, updated_at = ${at}
          from jsonb_to_recordset(${json(names.slice(i, i + BATCH))}) as r(id text, search_tokens text[], card text,
            name_order text)
          where ${users.id} = r.id and not ${users.named}`)
      }
      // Accounts that were there before the import: their comps and links (the new ones' went with their batch).
      const existing = changed.filter((p) => p.userId !== null)
      const comps = existing.flatMap((p) =>
        p.compTierId ? [{ id: randomId(), user_id: p.userId!, tier_id: p.compTierId }] : [],
      )
      for (let i = 0; i < comps.length; i += BATCH) {
        await tx.execute(sql`insert into grants (id, user_id, source, tier_id, starts_at, note, created_at, updated_at)
          select r.id, r.user_id, 'comp', r.tier_id, ${at}, 'Complimentary in Ghost', ${at}, ${at}
          from jsonb_to_recordset(${json(comps.slice(i, i + BATCH))}) as r(id text, user_id text, tier_id text)
          where not exists (select 1 from grants g where g.user_id = r.user_id and g.source = 'comp'
            and g.revoked_at is null and (g.ends_at is null or g.ends_at > ${at}))`)
      }
      const links = existing.flatMap((p) =>
        p.linkCustomer ? [{ customer_id: p.linkCustomer, user_id: p.userId! }] : [],
      )
      for (let i = 0; i < links.length; i += BATCH) {
        await tx.execute(sql`insert into ${stripeCustomers} (customer_id, user_id, created_at)
          select r.customer_id, r.user_id, ${at}
          from jsonb_to_recordset(${json(links.slice(i, i + BATCH))}) as r(customer_id text, user_id text)
          on conflict (customer_id) do nothing`)
      }
      const extra = options.also ? await options.also(tx) : {}
      if (options.audit !== false) {
        await audit(tx, now, actor, 'ghost.imported', null, { counts: plan.counts, ...extra })
      }
    })
  } catch (error) {
    if (isPgError(error, 'foreignKeyViolation')) throw accountsChanged()
    throw error
  }
  return plan.counts
}

const accountsChanged = () =>
  new AppError(
    'conflict',
    'Nothing was imported: accounts changed while the import was being prepared. Preview the file again.',
  )

/**
 * The subscriptions to adopt among those listed, for the customers linked to accounts (in `tx`,
 * after the links are written): each paying subscription whose price maps to a tier. Those
 * already stored count as adopted before; those whose price is not mapped are returned apart.
 */
export async function adoptionsFor(
  tx: Database,
  listed: readonly Stripe.Subscription[],
  catalog: readonly TierCatalogEntry[],
  mapping: PriceMapping,
  productNames: ReadonlyMap<string, string>,
): Promise<{ adoptions: Adoption[]; unmapped: Stripe.Subscription[] }> {
  const paying = listed.filter(isPaying)
  const customers = [...new Set(paying.map(customerOf))]
  const owner = new Map<string, string>()
  for (let i = 0; i < customers.length; i += BATCH) {
    const found = await tx
      .select({ customerId: stripeCustomers.customerId, userId: stripeCustomers.userId })
      .from(stripeCustomers)
      .where(inArray(stripeCustomers.customerId, customers.slice(i, i + BATCH)))
    for (const f of found) owner.set(f.customerId, f.userId)
  }
  const adoptions: Adoption[] = []
  const unmapped: Stripe.Subscription[] = []
  for (const subscription of paying) {
    const userId = owner.get(customerOf(subscription))
    const price = soldPrice(subscription, productNames)
    if (!userId || !price) continue
    const tierId = tierFor(price, catalog, mapping)
    if (tierId === null) unmapped.push(subscription)
    else adoptions.push({ subscription, userId, tierId })
  }
  return { adoptions, unmapped }
}
