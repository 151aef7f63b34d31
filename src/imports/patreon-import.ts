import { eq, inArray, sql } from 'drizzle-orm'
import type { SessionUser } from '../accounts/sessions'
import { newAccount } from '../accounts/users'
import { audit } from '../audit/audit'
import type { Config } from '../config'
import { rowsOf, type Database } from '../db/client'
import { importBatches, patreonMembers, stripeCustomers, subscriptions, tiers, users } from '../db/schema'
import { isPgError } from '../db/pg-errors'
import { inList, LIVE_STATUSES } from '../db/statuses'
import { AppError } from '../http/errors'
import { randomId } from '../util/random'
import type { PatreonRow, RejectedRow } from './patreon-csv'

/** Patreon tier name → Masthead tier id, chosen by the person importing; nothing is guessed. */
export type TierMapping = Record<string, string>

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
      tierId = mapping[row.tier] ?? null
      if (!tierId) {
        rejected.push({ line: row.line, reason: `The Patreon tier "${row.tier}" is not mapped to a Masthead tier.` })
        continue
      }
    }
    const current = existing.get(row.email)
    const stripeWins = current?.paysThroughStripe ?? false
    const until = benefitsUntil(row, now, config.PAST_DUE_GRACE_DAYS)
    const grant = tierId && until && !stripeWins ? { tierId, endsAt: until } : null
    const mappedTier = tierId ?? (row.tier ? (mapping[row.tier] ?? null) : null)
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
          member.tierId === mappedTier &&
          member.pledgeAmount === row.pledgeAmount &&
          member.lifetimeAmount === row.lifetimeAmount &&
          member.currency === row.currency &&
          same(member.patronSince, row.patronSince) &&
          same(member.nextChargeAt, row.nextChargeDate) &&
          same(member.accessExpiresAt, row.accessExpiration) &&
          same(member.lastChargeAt, row.lastChargeDate)
        ? 'unchanged'
        : 'updated'
    planned.push({ row, kind, userId: current?.userId ?? null, grant, stripeWins, tierId: mappedTier })
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
      .map(([name, n]) => ({ name, rows: n, mappedTo: mapping[name] ?? null })),
  }
}

/** The accounts, Patreon rows and Stripe standing of the addresses in a file, a few thousand at a time. */
async function existingState(db: Database, emails: string[]) {
  const out = new Map<
    string,
    { userId: string; member: typeof patreonMembers.$inferSelect | null; paysThroughStripe: boolean }
  >()
  for (let i = 0; i < emails.length; i += 5000) {
    const chunk = emails.slice(i, i + 5000)
    const found = await db
      .select({ id: users.id, email: users.email, member: patreonMembers })
      .from(users)
      .leftJoin(patreonMembers, eq(patreonMembers.userId, users.id))
      .where(inArray(users.email, chunk))
    const ids = found.map((f) => f.id)
    const paying = ids.length
      ? await db
          .selectDistinct({ userId: stripeCustomers.userId })
          .from(subscriptions)
          .innerJoin(stripeCustomers, eq(stripeCustomers.customerId, subscriptions.customerId))
          .where(sql`${stripeCustomers.userId} in ${ids} and ${subscriptions.status} in ${inList(LIVE_STATUSES)}`)
      : []
    const payers = new Set(paying.map((p) => p.userId))
    for (const f of found) out.set(f.email, { userId: f.id, member: f.member, paysThroughStripe: payers.has(f.id) })
  }
  return out
}

const BATCH = 5000

/** A batch travels as one JSON parameter, unpacked by json_to_recordset: cheap to build and to parse, whatever its size. */
const json = (value: unknown) => sql`${JSON.stringify(value)}::json`

/**
 * Writes a plan in one transaction: all or nothing. Accounts are matched by
 * e-mail (stored lowercase) and created when new; the Patreon membership is
 * upserted (one per account), so importing the same or a newer export again
 * updates rather than duplicates. Unchanged rows are not written at all.
 */
export async function commitImport(
  db: Database,
  plan: ImportPlan,
  now: Date,
  actor: Pick<SessionUser, 'id' | 'email'> | null,
  adminEmails: string[],
): Promise<ImportPlan['counts']> {
  if (plan.counts.rejected > 0) {
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
  try {
    await db.transaction(async (tx) => {
      // An account deleted between the preview and the commit: the plan no longer holds. A row that is written
      // finds out by its foreign key; for the unchanged rows, which are not written, one count asks.
      const kept = plan.planned.filter((p) => p.kind === 'unchanged').map((p) => p.userId)
      if (kept.length > 0) {
        const [found] = await rowsOf<{ n: number | string }>(
          tx,
          sql`select count(*) as n from ${users} where ${users.id} in (select json_array_elements_text(${json(kept)}))`,
        )
        if (Number(found?.n) !== kept.length) throw accountsChanged()
      }
      const changed = plan.planned.filter((p) => p.kind !== 'unchanged')
      for (let i = 0; i < changed.length; i += BATCH) {
        await commitBatch(tx, changed.slice(i, i + BATCH), now, actor, { ADMIN_EMAILS: adminEmails })
      }
      await audit(tx, now, actor, 'patreon.imported', null, { counts: plan.counts, rows: plan.planned.length })
    })
  } catch (error) {
    if (isPgError(error, 'foreignKeyViolation')) throw accountsChanged()
    throw error
  }
  return plan.counts
}

/**
 * One batch's writes. Rows carry account ids, not e-mails: the plan knows the existing accounts, new
 * ones get their ids here, so no statement has to find accounts by e-mail again. An address that
 * signed up since the plan keeps its account; an account deleted since then fails a foreign key,
 * and with it the transaction.
 */
async function commitBatch(
  tx: Database,
  chunk: PlannedRow[],
  now: Date,
  actor: Pick<SessionUser, 'id' | 'email'> | null,
  config: Pick<Config, 'ADMIN_EMAILS'>,
) {
  const at = sql`${now.toISOString()}::timestamptz`
  const iso = (d: Date | null) => (d ? d.toISOString() : null)
  const ids = new Map<PlannedRow, string>()
  const fresh = chunk
    .filter((p) => p.userId === null)
    .map((p) => {
      const { id, email, name, role } = newAccount(config, now, { email: p.row.email, name: p.row.name })
      ids.set(p, id)
      return { id, email, name, role }
    })
  const idOf = (p: PlannedRow) => p.userId ?? ids.get(p)!
  if (fresh.length > 0) {
    const made = await rowsOf<{ email: string }>(
      tx,
      sql`insert into ${users} (id, email, name, role, created_at, updated_at)
        select r.id, r.email, r.name, r.role, ${at}, ${at}
        from json_to_recordset(${json(fresh)}) as r(id text, email text, name text, role text)
        on conflict (email) do nothing
        returning email`,
    )
    if (made.length !== fresh.length) {
      // Someone signed up with one of these addresses since the plan: use their account.
      const createdHere = new Set(made.map((m) => m.email))
      const others = fresh.filter((f) => !createdHere.has(f.email)).map((f) => f.email)
      const found = await tx
        .select({ id: users.id, email: users.email })
        .from(users)
        .where(inArray(users.email, others))
      const idByEmail = new Map(found.map((f) => [f.email, f.id]))
      for (const p of chunk) {
        const id = p.userId === null ? idByEmail.get(p.row.email) : undefined
        if (id) ids.set(p, id)
      }
    }
  }
  // A name from Patreon fills an empty one; it never overwrites what the reader gave.
  const named = chunk.filter((p) => p.userId !== null && p.row.name).map((p) => ({ id: p.userId, name: p.row.name }))
  if (named.length > 0) {
    await tx.execute(sql`update ${users} set name = r.name, updated_at = ${at}
      from json_to_recordset(${json(named)}) as r(id text, name text)
      where ${users.id} = r.id and ${users.name} is null`)
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
    from json_to_recordset(${json(members)}) as r(user_id text, patreon_user_id text, status text, patreon_tier text,
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

// ---------------------------------------------------------------- previews awaiting confirmation

/** How long a preview waits for its confirmation. */
export const PREVIEW_TTL_MS = 3600_000

/** Keeps the parsed rows (never the file: it holds addresses) until the admin confirms. */
export async function savePreview(
  db: Database,
  now: Date,
  createdBy: string,
  parsed: { rows: PatreonRow[]; rejected: RejectedRow[] },
) {
  const id = randomId()
  await db.insert(importBatches).values({ id, createdBy, rows: parsed, createdAt: now })
  return id
}

export async function loadPreview(
  db: Database,
  now: Date,
  id: string,
): Promise<{ rows: PatreonRow[]; rejected: RejectedRow[] }> {
  const [batch] = await db.select().from(importBatches).where(eq(importBatches.id, id))
  if (!batch || now.getTime() - batch.createdAt.getTime() > PREVIEW_TTL_MS) {
    throw new AppError('not_found', 'This preview has expired or was already imported. Upload the file again.')
  }
  const stored = batch.rows as {
    rows: (Omit<PatreonRow, DateKeys> & Record<DateKeys, string | null>)[]
    rejected: RejectedRow[]
  }
  const date = (v: string | null) => (v === null ? null : new Date(v))
  return {
    rejected: stored.rejected,
    rows: stored.rows.map((r) => ({
      ...r,
      patronSince: date(r.patronSince),
      lastChargeDate: date(r.lastChargeDate),
      nextChargeDate: date(r.nextChargeDate),
      accessExpiration: date(r.accessExpiration),
      lastUpdated: date(r.lastUpdated),
    })),
  }
}

type DateKeys = 'patronSince' | 'lastChargeDate' | 'nextChargeDate' | 'accessExpiration' | 'lastUpdated'

export async function dropPreview(db: Database, id: string, now: Date) {
  await db
    .delete(importBatches)
    .where(
      sql`${importBatches.id} = ${id} or ${importBatches.createdAt} < ${new Date(now.getTime() - PREVIEW_TTL_MS).toISOString()}::timestamptz`,
    )
}
