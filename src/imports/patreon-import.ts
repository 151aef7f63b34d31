import { eq, inArray, sql } from 'drizzle-orm'
import { placeAccounts } from '../accounts/name-order'
import type { SessionUser } from '../accounts/sessions'
import { audit } from '../audit/audit'
import type { Config } from '../config'
import { rowsOf, type Database } from '../db/client'
import { patreonMembers, stripeCustomers, subscriptions, tiers, users, type Role } from '../db/schema'
import { isPgError } from '../db/pg-errors'
import { inList, LIVE_STATUSES } from '../db/statuses'
import { AppError } from '../http/errors'
import { addressIndexes, normalizeAddress, type Person } from '../privacy/blind-index'
import type { Keyring } from '../privacy/keys'
import { sortTextOf } from '../privacy/name-order'
import { cleanName, sealPeople, type SealedPerson } from '../privacy/people'
import { randomId } from '../util/random'
import type { PatreonRow, RejectedRow } from './patreon-csv'

/** Patreon tier name → Masthead tier id, chosen by the person importing; nothing is guessed. */
export type TierMapping = Record<string, string>

/**
 * The Masthead tier a Patreon tier name maps to. Own entries only: a tier named `constructor`,
 * `toString` or `__proto__` must not find what every object inherits.
 */
export function mappedTier(mapping: TierMapping, name: string | null): string | null {
  if (name === null || !Object.hasOwn(mapping, name)) return null
  const tier = mapping[name]
  return typeof tier === 'string' ? tier : null
}

/** An empty mapping that any tier name, `__proto__` too, can be a key of. */
export const emptyMapping = (): TierMapping => Object.create(null) as TierMapping

export type RowKind = 'new' | 'updated' | 'unchanged'

/** What one row will do. */
export interface PlannedRow {
  row: PatreonRow
  kind: RowKind
  userId: string | null
  /** The Patreon membership to hold, or null (a follower, a lapsed patron, or one Stripe already bills). */
  grant: { tierId: string; endsAt: Date } | null
  /** The member already pays through Stripe: Stripe wins, the Patreon membership is history only. */
  stripeWins: boolean
  /** The Masthead tier their Patreon tier maps to, if it is mapped (for the invitation's checkout). */
  tierId: string | null
}

export interface ImportPlan {
  counts: { new: number; updated: number; unchanged: number; rejected: number }
  rejected: RejectedRow[]
  planned: PlannedRow[]
  /** Every Patreon tier that needs a Masthead tier, with how many rows use it and what it maps to. */
  tiers: { name: string; rows: number; mappedTo: string | null }[]
}

const DAY_MS = 86_400_000

/** Whether a row's membership still runs, and so needs its Patreon tier mapped. */
function needsTier(row: PatreonRow, now: Date): boolean {
  if (row.status === 'active' || row.status === 'declined') return true
  return row.status === 'former' && row.accessExpiration !== null && row.accessExpiration > now
}

/**
 * Until when a row's benefits last. Active: the next charge date (or access
 * expiration) plus the grace period. Declined: the grace period only.
 * Former, cancelled but not yet lapsed: until access expires (Ghost #16225).
 */
function benefitsUntil(row: PatreonRow, now: Date, graceDays: number): Date | null {
  const grace = graceDays * DAY_MS
  if (row.status === 'active') {
    const paidThrough = row.nextChargeDate ?? row.accessExpiration ?? now
    return new Date(Math.max(paidThrough.getTime(), now.getTime()) + grace)
  }
  if (row.status === 'declined') return new Date(now.getTime() + grace)
  if (row.status === 'former' && row.accessExpiration && row.accessExpiration > now) return row.accessExpiration
  return null
}

const same = (a: Date | null, b: Date | null) => (a?.getTime() ?? null) === (b?.getTime() ?? null)

/**
 * The dry run: which rows are new, updated, unchanged or rejected, without
 * writing anything. Rows that need a tier and have no mapping are rejected.
 */
export async function planImport(
  db: Database,
  keyring: Keyring,
  config: Pick<Config, 'PAST_DUE_GRACE_DAYS'>,
  rows: PatreonRow[],
  parseRejected: RejectedRow[],
  mapping: TierMapping,
  now: Date,
): Promise<ImportPlan> {
  const known = new Set((await db.select({ id: tiers.id }).from(tiers)).map((t) => t.id))
  for (const [patreonTier, tierId] of Object.entries(mapping)) {
    if (!known.has(tierId)) {
      throw new AppError(
        'validation_failed',
        `The Patreon tier "${patreonTier}" is mapped to "${tierId}", which is not a tier here.`,
      )
    }
  }

  const tierUse = new Map<string, number>()
  for (const row of rows) if (needsTier(row, now) && row.tier) tierUse.set(row.tier, (tierUse.get(row.tier) ?? 0) + 1)

  const existing = await existingState(
    db,
    keyring,
    rows.map((r) => r.email),
  )
  const rejected: RejectedRow[] = [...parseRejected]
  const planned: PlannedRow[] = []
  for (const row of rows) {
    let tierId: string | null = null
    if (needsTier(row, now)) {
      if (!row.tier) {
        rejected.push({ line: row.line, reason: `The ${row.status} patron has no tier.` })
        continue
      }
      tierId = mappedTier(mapping, row.tier)
      if (!tierId) {
        rejected.push({ line: row.line, reason: `The Patreon tier "${row.tier}" is not mapped to a Masthead tier.` })
        continue
      }
    }
    const current = existing.get(row.email)
    const stripeWins = current?.paysThroughStripe ?? false
    const until = benefitsUntil(row, now, config.PAST_DUE_GRACE_DAYS)
    const grant = tierId && until && !stripeWins ? { tierId, endsAt: until } : null
    const mappedTo = tierId ?? mappedTier(mapping, row.tier)
    const member = current?.member
    // The stored membership already says what this row would: the same tier granted, or none running. An
    // unchanged row is not written again, so a stale export cannot restart a grace period counted from now.
    const sameGrant = grant
      ? member?.accessStartsAt != null && member.tierId === grant.tierId
      : member?.accessEndsAt == null || member.accessEndsAt <= now
    const kind: RowKind = !member
      ? 'new'
      : sameGrant &&
          member.status === row.status &&
          member.patreonTier === row.tier &&
          member.tierId === mappedTo &&
          member.pledgeAmount === row.pledgeAmount &&
          member.lifetimeAmount === row.lifetimeAmount &&
          member.currency === row.currency &&
          same(member.patronSince, row.patronSince) &&
          same(member.nextChargeAt, row.nextChargeDate) &&
          same(member.accessExpiresAt, row.accessExpiration) &&
          same(member.lastChargeAt, row.lastChargeDate)
        ? 'unchanged'
        : 'updated'
    planned.push({
      row,
      kind,
      userId: current?.userId ?? null,
      grant,
      stripeWins,
      tierId: mappedTo,
    })
  }
  rejected.sort((a, b) => a.line - b.line)
  const counts = { new: 0, updated: 0, unchanged: 0, rejected: rejected.length }
  for (const p of planned) counts[p.kind] += 1
  return {
    counts,
    rejected,
    planned,
    tiers: [...tierUse]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, n]) => ({ name, rows: n, mappedTo: mappedTier(mapping, name) })),
  }
}

/** A plan's summary without its rows: what the preview page and the API show. */
export type ImportSummary = Omit<ImportPlan, 'planned'>

/** At most this many rejected lines are listed; the count covers them all. */
export const REJECTED_LISTED = 500

/**
 * The dry run of a stored preview, a part at a time (src/imports/previews.ts): the same counts,
 * rejected lines and tiers as `planImport` over the whole file, without holding it.
 */
export async function planPreview(
  db: Database,
  keyring: Keyring,
  config: Pick<Config, 'PAST_DUE_GRACE_DAYS'>,
  parts: AsyncIterable<{ rows: PatreonRow[]; rejected: RejectedRow[] }>,
  mapping: TierMapping,
  now: Date,
): Promise<ImportSummary> {
  const counts = { new: 0, updated: 0, unchanged: 0, rejected: 0 }
  const rejected: RejectedRow[] = []
  const tierRows = new Map<string, number>()
  for await (const part of parts) {
    const plan = await planImport(db, keyring, config, part.rows, part.rejected, mapping, now)
    for (const kind of ['new', 'updated', 'unchanged', 'rejected'] as const) counts[kind] += plan.counts[kind]
    // Listed by line and reason: a rejected row's cells stay in the preview, for its download only.
    for (const r of plan.rejected.slice(0, REJECTED_LISTED - rejected.length))
      rejected.push({ line: r.line, reason: r.reason })
    for (const tier of plan.tiers) tierRows.set(tier.name, (tierRows.get(tier.name) ?? 0) + tier.rows)
  }
  rejected.sort((a, b) => a.line - b.line)
  return {
    counts,
    rejected,
    tiers: [...tierRows]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, rows]) => ({ name, rows, mappedTo: mappedTier(mapping, name) })),
  }
}

/** What a Patreon tier's patrons pledge, as a month's worth in minor units of one currency (the most common). */
export interface PatreonTierPrice {
  monthly: number
  currency: string
}

/** A row's pledge as a month's worth (an annual pledge over twelve), or null when it cannot be told. */
export function monthlyPledge(row: Pick<PatreonRow, 'pledgeAmount' | 'chargeFrequency' | 'currency'>): number | null {
  if (row.pledgeAmount === null || row.currency === null) return null
  const frequency = (row.chargeFrequency ?? 'monthly').toLowerCase()
  if (frequency.startsWith('annual') || frequency === 'yearly') return Math.round(row.pledgeAmount / 12)
  return frequency === 'monthly' ? row.pledgeAmount : null
}

/** Counts, per Patreon tier, what its rows pledge a month, as rows arrive; `prices()` gives each tier's most common. */
export function tierPledges() {
  const pledges = new Map<string, Map<string, number>>()
  return {
    add(rows: readonly PatreonRow[]) {
      for (const row of rows) {
        if (!row.tier) continue
        const counts = pledges.get(row.tier) ?? new Map<string, number>()
        pledges.set(row.tier, counts)
        const monthly = monthlyPledge(row)
        if (monthly !== null)
          counts.set(`${row.currency}:${monthly}`, (counts.get(`${row.currency}:${monthly}`) ?? 0) + 1)
      }
    },
    /** Each tier's pledges, the most common first (ties in a fixed order). */
    prices(): [string, PatreonTierPrice[]][] {
      return [...pledges].map(([name, counts]) => [
        name,
        [...counts]
          .sort((x, y) => y[1] - x[1] || x[0].localeCompare(y[0]))
          .map(([key]) => {
            const [currency = '', monthly = '0'] = key.split(':')
            return { currency, monthly: Number(monthly) }
          }),
      ])
    },
  }
}

/**
 * The Masthead tier suggested for each Patreon tier, for the admin to confirm or change: the tier
 * of the same name (whatever the case), else the one whose monthly price is nearest what that
 * tier's patrons most often pledge a month, in a currency Masthead has tiers in. A tier with
 * neither is left unmapped.
 */
export function suggestMapping(
  patreonTiers: Iterable<[string, readonly PatreonTierPrice[]]>,
  choices: readonly { id: string; name: string; monthlyAmount: number; currency: string }[],
): TierMapping {
  const mapping = emptyMapping()
  for (const [name, prices] of patreonTiers) {
    const same = choices.find((t) => t.name.toLowerCase() === name.toLowerCase())
    if (same) {
      mapping[name] = same.id
      continue
    }
    const price = prices.find((p) => choices.some((t) => t.currency === p.currency))
    if (!price) continue
    let nearest: (typeof choices)[number] | undefined
    for (const tier of choices) {
      if (tier.currency !== price.currency) continue
      if (!nearest || Math.abs(tier.monthlyAmount - price.monthly) < Math.abs(nearest.monthlyAmount - price.monthly)) {
        nearest = tier
      }
    }
    if (nearest) mapping[name] = nearest.id
  }
  return mapping
}

/** Runs `task` over `items`, at most `parallel` at a time, in order: Web Crypto work without a promise per row at once. */
async function inParallel<T, R>(items: readonly T[], task: (item: T) => Promise<R>, parallel = 512): Promise<R[]> {
  const out: R[] = []
  for (let i = 0; i < items.length; i += parallel)
    out.push(...(await Promise.all(items.slice(i, i + parallel).map(task))))
  return out
}

/**
 * The accounts, Patreon rows and Stripe standing of the addresses in a file, a few thousand at a
 * time. Accounts are found by their address index under every key (a rotation may be under way),
 * each address hashed once; the addresses themselves never reach the database.
 */
async function existingState(db: Database, keyring: Keyring, emails: string[]) {
  const out = new Map<
    string,
    { userId: string; member: typeof patreonMembers.$inferSelect | null; paysThroughStripe: boolean }
  >()
  const distinct = [...new Set(emails)]
  const indexes = await inParallel(distinct, (email) => addressIndexes(keyring, email))
  const emailOf = new Map<string, string>()
  indexes.forEach((list, i) => list.forEach((index) => emailOf.set(index, distinct[i]!)))
  for (let i = 0; i < distinct.length; i += 5000) {
    const chunk = indexes.slice(i, i + 5000).flat()
    const found = await db
      .select({ id: users.id, emailIndex: users.emailIndex, member: patreonMembers })
      .from(users)
      .leftJoin(patreonMembers, eq(patreonMembers.userId, users.id))
      .where(inArray(users.emailIndex, chunk))
    const ids = found.map((f) => f.id)
    const paying = ids.length
      ? await db
          .selectDistinct({ userId: stripeCustomers.userId })
          .from(subscriptions)
          .innerJoin(stripeCustomers, eq(stripeCustomers.customerId, subscriptions.customerId))
          .where(sql`${stripeCustomers.userId} in ${ids} and ${subscriptions.status} in ${inList(LIVE_STATUSES)}`)
      : []
    const payers = new Set(paying.map((p) => p.userId))
    for (const f of found) {
      out.set(emailOf.get(f.emailIndex)!, { userId: f.id, member: f.member, paysThroughStripe: payers.has(f.id) })
    }
  }
  return out
}

const BATCH = 5000
/** People sealed at once: on Node, 256 in flight kept a 2-CPU machine busiest (fewer waits, less garbage than 512). */
const SEAL_PARALLEL = 256

/**
 * A batch travels as one jsonb parameter, parsed once: `->>` on json parses the element again for every
 * field read, and json_to_recordset parses a text[] per row. 5,000 accounts in psql: 95–105 ms as jsonb
 * arrays read by position, 190–270 ms through json_to_recordset, 270–380 ms as json arrays.
 */
const json = (value: unknown) => sql`${JSON.stringify(value)}::jsonb`

/** A new account: its id, role and what it sorts by, known before anything is encrypted. */
interface NewAccount {
  id: string
  role: Role
  sortText: string
}

/** The name an existing account gets from its row, sealed, with the search tokens of name and address. */
type Naming = Pick<SealedPerson, 'searchTokens' | 'card'> & { sortText: string }

const personOf = (p: PlannedRow): Person => ({ email: p.row.email, name: cleanName(p.row.name) })

/**
 * Writes a plan in one transaction: all or nothing. Accounts are matched by
 * address index and created when new; the Patreon membership is upserted
 * (one per account), so importing the same or a newer export again updates
 * rather than duplicates. Unchanged rows are not written at all.
 */
export async function commitImport(
  db: Database,
  keyring: Keyring,
  plan: ImportPlan,
  now: Date,
  actor: Pick<SessionUser, 'id'> | null,
  adminEmails: string[],
  /**
   * `audit: false`: a part of a larger import, which is audited once, when all of it is in.
   * `skipRejected`: the admin chose to import the valid rows and leave the rejected ones out.
   */
  options: { audit?: boolean; skipRejected?: boolean } = {},
): Promise<ImportPlan['counts']> {
  if (plan.counts.rejected > 0 && !options.skipRejected) {
    throw new AppError(
      'validation_failed',
      `Nothing was imported: ${plan.counts.rejected} ${plan.counts.rejected === 1 ? 'row was' : 'rows were'} rejected (first: line ${plan.rejected[0]!.line}, ${plan.rejected[0]!.reason}). Fix the file or the tier mapping and try again.`,
    )
  }
  const accountsChanged = () =>
    new AppError(
      'conflict',
      'Nothing was imported: accounts changed while the import was being prepared. Preview the file again.',
    )
  const changed = plan.planned.filter((p) => p.kind !== 'unchanged')
  // Rows carry account ids, not addresses: the plan knows the existing accounts, new ones get their ids here.
  const fresh = new Map<PlannedRow, NewAccount>()
  for (const p of changed) {
    if (p.userId !== null) continue
    const person = personOf(p)
    const role: Role = adminEmails.includes(normalizeAddress(person.email)) ? 'admin' : 'reader'
    fresh.set(p, { id: randomId(), role, sortText: sortTextOf(person) })
  }
  const batches: PlannedRow[][] = []
  for (let i = 0; i < changed.length; i += BATCH) batches.push(changed.slice(i, i + BATCH))
  // Encryption is most of an import's work and the database's is the rest: each batch's accounts are
  // sealed while the statements before them run (the first batch's while the transaction opens).
  const seal = (batch: PlannedRow[] | undefined) => {
    const sealing = sealPeople(keyring, (batch ?? []).filter((p) => fresh.has(p)).map(personOf), SEAL_PARALLEL)
    sealing.catch(() => {}) // awaited below, unless the transaction has failed before
    return sealing
  }
  let sealing = seal(batches[0])
  try {
    await db.transaction(async (tx) => {
      // An account deleted between the preview and the commit: the plan no longer holds. A row that is written
      // finds out by its foreign key; for the unchanged rows, which are not written, one count asks.
      const kept = plan.planned.filter((p) => p.kind === 'unchanged').map((p) => p.userId)
      if (kept.length > 0) {
        const [found] = await rowsOf<{ n: number | string }>(
          tx,
          sql`select count(*) as n from ${users} where ${users.id} in (select jsonb_array_elements_text(${json(kept)}))`,
        )
        if (Number(found?.n) !== kept.length) throw accountsChanged()
      }
      const names = await namesToGive(tx, keyring, changed)
      // One placement for the whole plan (a file from the command line, a step of an import job): it walks the
      // accounts already in the name order once, a page at a time.
      const order = await placeAccounts(tx, keyring, [
        ...[...fresh.values()].map((a) => ({ id: a.id, sortText: a.sortText })),
        ...[...names].map(([p, n]) => ({ id: p.userId!, sortText: n.sortText })),
      ])
      for (const [i, batch] of batches.entries()) {
        const sealed = await sealing
        sealing = seal(batches[i + 1])
        const accounts = batch.filter((p) => fresh.has(p))
        const made = new Map(accounts.map((p, n) => [p, { ...fresh.get(p)!, ...sealed[n]! }]))
        await commitBatch(tx, batch, now, { fresh: made, names, order })
      }
      if (options.audit !== false) {
        await audit(tx, now, actor, 'patreon.imported', null, {
          counts: plan.counts,
          rows: plan.planned.length,
          ...(plan.counts.rejected > 0 ? { skipped: plan.counts.rejected } : {}),
        })
      }
    })
  } catch (error) {
    if (isPgError(error, 'foreignKeyViolation')) throw accountsChanged()
    throw error
  }
  return plan.counts
}

/**
 * A name from Patreon fills an empty one; it never overwrites what the reader gave. The accounts
 * without one are asked for here, in the transaction; the update checks again, so a name given
 * meanwhile is kept (and the order key placed for it goes unused).
 */
async function namesToGive(tx: Database, keyring: Keyring, changed: PlannedRow[]): Promise<Map<PlannedRow, Naming>> {
  const candidates = changed.filter((p) => p.userId !== null && cleanName(p.row.name) !== null)
  const unnamed = new Set<string>()
  for (let i = 0; i < candidates.length; i += BATCH) {
    const ids = candidates.slice(i, i + BATCH).map((p) => p.userId)
    const found = await rowsOf<{ id: string }>(
      tx,
      sql`select id from ${users} where not ${users.named}
        and ${users.id} in (select jsonb_array_elements_text(${json(ids)}))`,
    )
    for (const f of found) unnamed.add(f.id)
  }
  const naming = candidates.filter((p) => unnamed.has(p.userId!))
  // Sealed with the row's address, which is the account's (it was found by it): the search tokens cover both.
  const sealed = await sealPeople(keyring, naming.map(personOf))
  return new Map(
    naming.map((p, i) => [
      p,
      {
        searchTokens: sealed[i]!.searchTokens,
        card: sealed[i]!.card,
        sortText: sortTextOf(personOf(p)),
      },
    ]),
  )
}

/**
 * One batch's writes, by account id: no statement has to find accounts by address again. An
 * address that signed up since the plan keeps its account (found by its address index); an
 * account deleted since then fails a foreign key, and with it the transaction.
 */
async function commitBatch(
  tx: Database,
  chunk: PlannedRow[],
  now: Date,
  sealed: {
    fresh: Map<PlannedRow, NewAccount & SealedPerson>
    names: Map<PlannedRow, Naming>
    order: Map<string, string>
  },
) {
  const at = sql`${now.toISOString()}::timestamptz`
  const iso = (d: Date | null) => (d ? d.toISOString() : null)
  const ids = new Map<PlannedRow, string>()
  const accounts = chunk.flatMap((p) => {
    const a = sealed.fresh.get(p)
    if (!a) return []
    ids.set(p, a.id)
    // One array per account, read by position (the search tokens, base64url, as one space-separated
    // string): see `json` below.
    return [[a.id, a.emailIndex, a.named, a.searchTokens.join(' '), a.card, sealed.order.get(a.id)!, a.role]]
  })
  const idOf = (p: PlannedRow) => p.userId ?? ids.get(p)!
  if (accounts.length > 0) {
    const made = await rowsOf<{ id: string }>(
      tx,
      sql`insert into ${users} (id, email_index, named, search_tokens, card, name_order, role, created_at, updated_at)
        select e->>0, e->>1, (e->>2)::boolean, string_to_array(e->>3, ' '), e->>4, e->>5, e->>6, ${at}, ${at}
        from jsonb_array_elements(${json(accounts)}) as e
        on conflict (email_index) do nothing
        returning id`,
    )
    if (made.length !== accounts.length) {
      // Someone signed up with one of these addresses since the plan: use their account.
      const createdHere = new Set(made.map((m) => m.id))
      const others = chunk.filter((p) => ids.has(p) && !createdHere.has(ids.get(p)!))
      const found = await tx
        .select({ id: users.id, emailIndex: users.emailIndex })
        .from(users)
        .where(
          inArray(
            users.emailIndex,
            others.map((p) => sealed.fresh.get(p)!.emailIndex),
          ),
        )
      const idByIndex = new Map(found.map((f) => [f.emailIndex, f.id]))
      for (const p of others) {
        const id = idByIndex.get(sealed.fresh.get(p)!.emailIndex)
        if (id) ids.set(p, id)
      }
    }
  }
  const named = chunk.flatMap((p) => {
    const n = sealed.names.get(p)
    return n
      ? [
          {
            id: p.userId,
            search_tokens: n.searchTokens,
            card: n.card,
            name_order: sealed.order.get(p.userId!)!,
          },
        ]
      : []
  })
  if (named.length > 0) {
    await tx.execute(sql`update ${users}
      set named = true, email = null, name = null, search_tokens = r.search_tokens, card = r.card,
        name_order = r.name_order, updated_at = ${at}
      from jsonb_to_recordset(${json(named)}) as r(id text, search_tokens text[], card text, name_order text)
      where ${users.id} = r.id and not ${users.named}`)
  }
  // The Patreon membership is part of the row (access_starts_at .. access_ends_at), read through the all_grants view.
  const members = chunk.map((p) => ({
    user_id: idOf(p),
    patreon_user_id: p.row.patreonUserId,
    status: p.row.status,
    patreon_tier: p.row.tier,
    tier_id: p.tierId,
    pledge_amount: p.row.pledgeAmount,
    lifetime_amount: p.row.lifetimeAmount,
    currency: p.row.currency,
    charge_frequency: p.row.chargeFrequency,
    patron_since: iso(p.row.patronSince),
    last_charge_at: iso(p.row.lastChargeDate),
    next_charge_at: iso(p.row.nextChargeDate),
    access_expires_at: iso(p.row.accessExpiration),
    access_starts_at: p.grant ? iso(p.row.patronSince && p.row.patronSince < now ? p.row.patronSince : now) : null,
    access_ends_at: p.grant ? iso(p.grant.endsAt) : null,
  }))
  const pm = patreonMembers
  await tx.execute(sql`insert into ${pm} (user_id, patreon_user_id, status, patreon_tier, tier_id,
      pledge_amount, lifetime_amount, currency, charge_frequency, patron_since, last_charge_at, next_charge_at,
      access_expires_at, access_starts_at, access_ends_at, imported_at, updated_at)
    select r.user_id, r.patreon_user_id, r.status, r.patreon_tier, r.tier_id, r.pledge_amount, r.lifetime_amount,
      r.currency, r.charge_frequency, r.patron_since, r.last_charge_at, r.next_charge_at, r.access_expires_at,
      r.access_starts_at, r.access_ends_at, ${at}, ${at}
    from jsonb_to_recordset(${json(members)}) as r(user_id text, patreon_user_id text, status text, patreon_tier text,
      tier_id text, pledge_amount integer, lifetime_amount integer, currency text, charge_frequency text,
      patron_since timestamptz, last_charge_at timestamptz, next_charge_at timestamptz, access_expires_at timestamptz,
      access_starts_at timestamptz, access_ends_at timestamptz)
    on conflict (user_id) do update set
      patreon_user_id = excluded.patreon_user_id, status = excluded.status, patreon_tier = excluded.patreon_tier,
      tier_id = excluded.tier_id, pledge_amount = excluded.pledge_amount, lifetime_amount = excluded.lifetime_amount,
      currency = excluded.currency, charge_frequency = excluded.charge_frequency, patron_since = excluded.patron_since,
      last_charge_at = excluded.last_charge_at, next_charge_at = excluded.next_charge_at,
      access_expires_at = excluded.access_expires_at,
      -- A membership granted again keeps its first start; a newer export that no longer grants one ends it now.
      access_starts_at = case when excluded.access_ends_at is not null
        then coalesce(${pm.accessStartsAt}, excluded.access_starts_at) else ${pm.accessStartsAt} end,
      access_ends_at = case when excluded.access_ends_at is not null then excluded.access_ends_at
        when ${pm.accessEndsAt} > ${at} then ${at} else ${pm.accessEndsAt} end,
      updated_at = excluded.updated_at`)
}
