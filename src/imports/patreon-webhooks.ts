import { Buffer } from 'node:buffer'
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { desc, inArray, sql } from 'drizzle-orm'
import * as z from 'zod'
import type { Config } from '../config'
import type { Database } from '../db/client'
import { patreonMembers, patreonWebhookCounts, users, type PatreonWebhookOutcome } from '../db/schema'
import { addressIndexes } from '../privacy/blind-index'
import type { Keyring } from '../privacy/keys'
import type { PatreonRow, PatronStatus } from './patreon-csv'
import { commitImport, planImport } from './patreon-import'
import { storedTierMapping } from './tier-mapping'

/**
 * Patreon's member webhooks, applied as an import of the same facts would be (planImport and
 * commitImport over a one-row plan: the same tier mapping, grace rules and Stripe-wins rule), with
 * the tier mapping the last confirmed import saved (tier-mapping.ts).
 *
 * Order: Patreon delivers in no promised order and again on failure. Each delivery's facts get a
 * key: the payload's own date (the later of the pledge's start and the last charge), then a delete
 * after an update of the same date, then a digest of the facts (a fixed rule for two different
 * updates of one date). A patron's row keeps the key of the facts last applied
 * (`webhook_facts_key`); a delivery whose key is not greater is ignored. So whatever the order and
 * however often each comes, the row ends as the greatest key left it, and a late older update
 * cannot undo a delete.
 */

export const PATREON_EVENTS = [
  'members:create',
  'members:update',
  'members:delete',
  'members:pledge:create',
  'members:pledge:update',
  'members:pledge:delete',
] as const
export type PatreonEvent = (typeof PATREON_EVENTS)[number]

export const isPatreonEvent = (name: string): name is PatreonEvent =>
  (PATREON_EVENTS as readonly string[]).includes(name)

const isDelete = (event: PatreonEvent) => event === 'members:delete' || event === 'members:pledge:delete'

/**
 * Whether `signature` (hex, as X-Patreon-Signature carries it) is the HMAC-MD5 of the raw body under
 * the webhook's secret; compared in constant time. node:crypto, which workerd offers under nodejs_compat.
 */
export function verifyPatreonSignature(secret: string, body: Uint8Array, signature: string): boolean {
  if (!/^[0-9a-f]{32}$/i.test(signature)) return false
  const expected = createHmac('md5', secret).update(body).digest()
  return timingSafeEqual(expected, Buffer.from(signature, 'hex'))
}

/** A payload that is not a member resource Masthead can read; the message says what is wrong, never a value. */
export class PatreonPayloadError extends Error {
  override name = 'PatreonPayloadError'
}

const date = z
  .string()
  .refine((text) => !Number.isNaN(Date.parse(text)), 'must be a date')
  .transform((text) => new Date(text))
const reference = z.object({ id: z.string().min(1), type: z.string() })

/** What Masthead reads of a member payload; everything else (the note, addresses, social handles) is dropped here. */
const memberPayload = z.object({
  data: z.object({
    id: z.string().min(1),
    type: z.literal('member'),
    attributes: z.object({
      email: z
        .string()
        .trim()
        .toLowerCase()
        .max(254)
        .regex(/^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/, 'must be an e-mail address'),
      full_name: z.string().nullish(),
      patron_status: z.enum(['active_patron', 'declined_patron', 'former_patron']).nullish(),
      currently_entitled_amount_cents: z.number().int().min(0).nullish(),
      lifetime_support_cents: z.number().int().min(0).nullish(),
      pledge_cadence: z.number().int().nullish(),
      pledge_relationship_start: date.nullish(),
      last_charge_date: date.nullish(),
      last_charge_status: z.string().nullish(),
      next_charge_date: date.nullish(),
      currency: z
        .string()
        .regex(/^[a-z]{3}$/i)
        .nullish(),
    }),
    relationships: z
      .object({
        currently_entitled_tiers: z.object({ data: z.array(reference) }).nullish(),
        user: z.object({ data: reference.nullable() }).nullish(),
      })
      .nullish(),
  }),
  included: z
    .array(reference.extend({ attributes: z.record(z.string(), z.unknown()).nullish() }))
    .nullish()
    .transform((list) => list ?? []),
})

const STATUS: Record<string, PatronStatus> = {
  active_patron: 'active',
  declined_patron: 'declined',
  former_patron: 'former',
}

// eslint-disable-next-line no-control-regex -- control characters are what it finds
const CONTROL = /[\u0000-\u001f\u007f]/

/** One delivery as the import's row, with its order key and the lock that serialises a patron's deliveries. */
export interface PatreonDelivery {
  row: PatreonRow
  key: string
  lock: string
}

/** Reads a signed delivery's body; throws PatreonPayloadError for anything that is not a member Masthead can read. */
export function readDelivery(event: PatreonEvent, body: string): PatreonDelivery {
  let json: unknown
  try {
    json = JSON.parse(body)
  } catch {
    throw new PatreonPayloadError('The body is not JSON.')
  }
  const parsed = memberPayload.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new PatreonPayloadError(
      `The payload is not a Patreon member: ${issue.path.join('.') || 'the body'} ${issue.message.toLowerCase()}.`,
    )
  }
  const { data, included } = parsed.data
  const a = data.attributes
  const name = a.full_name?.trim() || null
  if (name && CONTROL.test(name)) throw new PatreonPayloadError('The member’s full_name holds a control character.')

  // The entitled tier Masthead maps: the dearest of them, by its title (the import maps tier names).
  const tiers = (data.relationships?.currently_entitled_tiers?.data ?? []).map((ref) => {
    const found = included.find((r) => r.type === 'tier' && r.id === ref.id)
    const title = found?.attributes?.title
    if (typeof title !== 'string' || title.trim() === '') {
      throw new PatreonPayloadError(`The entitled tier ${ref.id} has no title in "included".`)
    }
    const amount = found?.attributes?.amount_cents
    return { title: title.trim(), amount: typeof amount === 'number' ? amount : 0 }
  })
  tiers.sort((x, y) => y.amount - x.amount || x.title.localeCompare(y.title))
  const tier = tiers[0]?.title ?? null

  // A delete ends the pledge: a former patron, whose benefits last until the date they paid through
  // (Ghost #16225), when the payload still names their tier; otherwise they end now.
  const status: PatronStatus = isDelete(event) ? 'former' : (STATUS[a.patron_status ?? ''] ?? 'none')
  const nextCharge = a.next_charge_date ?? null
  const row: PatreonRow = {
    line: 0,
    name,
    email: a.email,
    status,
    freeMember: status === 'none',
    tier,
    pledgeAmount: a.currently_entitled_amount_cents ?? null,
    lifetimeAmount: a.lifetime_support_cents ?? null,
    currency: a.currency?.toLowerCase() ?? null,
    chargeFrequency: a.pledge_cadence === 12 ? 'annual' : a.pledge_cadence === 1 ? 'monthly' : null,
    patronSince: a.pledge_relationship_start ?? null,
    lastChargeDate: a.last_charge_date ?? null,
    lastChargeStatus: a.last_charge_status ?? null,
    nextChargeDate: status === 'former' ? null : nextCharge,
    accessExpiration: status === 'former' && tier !== null ? nextCharge : null,
    lastUpdated: null,
    patreonUserId: data.relationships?.user?.data?.id ?? null,
  }
  return { row, key: factsKey(event, row), lock: row.patreonUserId ?? data.id }
}

/**
 * The order of a delivery's facts, as text that sorts as it should: the payload's date (ISO, fixed
 * width), 1 for a delete, then a SHA-256 of the facts without address or name (so that two
 * different updates of the same date are settled the same way whatever order they came in).
 */
function factsKey(event: PatreonEvent, row: PatreonRow): string {
  const at = Math.max(row.patronSince?.getTime() ?? 0, row.lastChargeDate?.getTime() ?? 0)
  const { email: _email, name: _name, ...facts } = row
  const digest = createHash('sha256').update(JSON.stringify(facts)).digest('hex')
  return `${new Date(at).toISOString()}|${isDelete(event) ? 1 : 0}|${digest}`
}

export interface DeliveryOutcome {
  outcome: PatreonWebhookOutcome
  /** Why a delivery was rejected, as the import would say it (a tier's name at most). */
  reason?: string
}

/**
 * Applies one verified delivery in one transaction, under a lock on the patron, so that two
 * deliveries for the same patron do not interleave; counts its outcome in the same transaction.
 */
export async function applyDelivery(
  db: Database,
  keyring: Keyring,
  config: Pick<Config, 'PAST_DUE_GRACE_DAYS' | 'ADMIN_EMAILS'>,
  delivery: PatreonDelivery,
  now: Date,
): Promise<DeliveryOutcome> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`patreon-webhook:${delivery.lock}`}, 0))`)
    const indexes = await addressIndexes(keyring, delivery.row.email)
    const [stored] = await tx
      .select({ key: patreonMembers.webhookFactsKey, currency: patreonMembers.currency })
      .from(patreonMembers)
      .innerJoin(users, sql`${users.id} = ${patreonMembers.userId}`)
      .where(inArray(users.emailIndex, indexes))
    let result: DeliveryOutcome
    if (stored?.key != null && stored.key >= delivery.key) {
      result = { outcome: 'ignored' }
    } else {
      // Patreon's member resource names no currency: the one the import stored stays.
      const row = { ...delivery.row, currency: delivery.row.currency ?? stored?.currency ?? null }
      const plan = await planImport(tx, keyring, config, [row], [], await storedTierMapping(tx), now)
      if (plan.counts.rejected > 0) {
        result = { outcome: 'rejected', reason: plan.rejected[0]!.reason }
      } else {
        await commitImport(tx, keyring, plan, now, null, config.ADMIN_EMAILS, { audit: false })
        await tx.execute(sql`update ${patreonMembers} set webhook_facts_key = ${delivery.key}
          where ${patreonMembers.userId} in (select ${users.id} from ${users} where ${inArray(users.emailIndex, indexes)})`)
        result = { outcome: 'applied' }
      }
    }
    await countOutcome(tx, result, now)
    return result
  })
}

async function countOutcome(db: Database, result: DeliveryOutcome, now: Date) {
  await db
    .insert(patreonWebhookCounts)
    .values({ outcome: result.outcome, detail: result.reason ?? '', count: 1, lastAt: now })
    .onConflictDoUpdate({
      target: [patreonWebhookCounts.outcome, patreonWebhookCounts.detail],
      set: { count: sql`${patreonWebhookCounts.count} + 1`, lastAt: now },
    })
}

/** What the import page shows about webhooks: counts and times, no personal data. */
export interface WebhookStatus {
  configured: boolean
  lastAt: Date | null
  applied: number
  ignored: number
  rejected: number
  /** Why signed deliveries were not applied (a tier not mapped, say), with how many and when last. */
  reasons: { reason: string; count: number; lastAt: Date }[]
}

export async function webhookStatus(db: Database, config: Pick<Config, 'PATREON_WEBHOOK_SECRET'>) {
  const rows = await db.select().from(patreonWebhookCounts).orderBy(desc(patreonWebhookCounts.lastAt))
  const status: WebhookStatus = {
    configured: config.PATREON_WEBHOOK_SECRET !== undefined,
    lastAt: rows[0]?.lastAt ?? null,
    applied: 0,
    ignored: 0,
    rejected: 0,
    reasons: [],
  }
  for (const row of rows) {
    status[row.outcome] += row.count
    if (row.outcome === 'rejected') status.reasons.push({ reason: row.detail, count: row.count, lastAt: row.lastAt })
  }
  return status
}
