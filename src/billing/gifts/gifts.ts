import { addMonths } from '../../util/dates'
import { and, desc, eq, isNotNull, isNull, lt, sql } from 'drizzle-orm'
import { GIFT_COLUMNS } from '../../accounts/seal-existing'
import * as z from 'zod'
import { signInUser } from '../../accounts/users'
import type { Database } from '../../db/client'
import { GIFT_MONTHS, gifts, grants, jobs, tiers } from '../../db/schema'
import { loadEntitlements } from '../../entitlements/entitlements'
import { AppError } from '../../http/errors'
import { addressIndex, normalizeAddress } from '../../privacy/blind-index'
import { decrypt, encrypt } from '../../privacy/cipher'
import type { Keyring } from '../../privacy/keys'
import type { Services } from '../../services'
import { randomId, sha256Hex } from '../../util/random'

/**
 * Gift memberships: months of a tier bought for someone else, paid once through Checkout
 * (routes.tsx), marked paid by the webhook (webhooks/events/gifts.ts), e-mailed on the chosen day
 * by a job (jobs.ts), and started when the recipient follows the link (`redeemGift`): a grant of
 * the tier, source 'gift', that ends by itself and never renews.
 *
 * Personal data is kept encrypted and only while it is needed: the message (with the name the
 * giver signs it with) until it is delivered, the recipient's address and the giver's until the
 * gift is redeemed. The link's token is kept only as its SHA-256.
 */

/** Encryption contexts: each value decrypts only as the column it was written for (defined beside key rotation). */
export const GIFT_CONTEXT = GIFT_COLUMNS

export const MESSAGE_MAX = 500
export const FROM_MAX = 100
/** How far ahead a delivery may be set. */
const DELIVERY_HORIZON_DAYS = 366
/** A gift whose checkout was never paid is deleted after this long (late async payments included). */
const UNPAID_KEPT_MS = 30 * 86_400_000

export type Gift = typeof gifts.$inferSelect
export type GiftMonths = (typeof GIFT_MONTHS)[number]

const MONTHS_ERROR = 'Choose 3, 6 or 12 months.'
const blankIsAbsent = (value: unknown) => (value === '' || value === null ? undefined : value)

/** The first moment of a UTC day given as YYYY-MM-DD, or null for a day that does not exist. */
function dayStart(day: string): Date | null {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return null
  const at = new Date(`${day}T00:00:00Z`)
  return Number.isNaN(at.getTime()) || at.toISOString().slice(0, 10) !== day ? null : at
}

const address = (missing: string) =>
  z
    .string({ error: missing })
    .trim()
    .toLowerCase()
    .min(1, missing)
    .max(254, 'That e-mail address is too long.')
    .pipe(z.email({ error: 'Enter a valid e-mail address, like name@example.org.' }))

/** What the gift form (or an API client) sends. `today` is the UTC day the clock says it is. */
export function giftInput(today: string) {
  const first = dayStart(today)!
  const last = new Date(first.getTime() + DELIVERY_HORIZON_DAYS * 86_400_000).toISOString().slice(0, 10)
  return z.object({
    tier: z.string({ error: 'Choose a tier.' }).trim().min(1, 'Choose a tier.').max(64, 'Choose a tier.'),
    months: z.preprocess(
      (v) => (typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v),
      z.union([z.literal(3), z.literal(6), z.literal(12)], { error: MONTHS_ERROR }),
    ),
    recipient_email: address("Enter the recipient's e-mail address."),
    deliver_on: z
      .string({ error: 'Choose the day the gift is e-mailed, like 2026-12-24.' })
      .trim()
      .refine((d) => dayStart(d) !== null, { error: 'Choose the day the gift is e-mailed, like 2026-12-24.' })
      .refine((d) => d >= today, { error: `The delivery date is in the past: choose ${today} or a later day.` })
      .refine((d) => d <= last, { error: `Choose a delivery date within a year, by ${last}.` }),
    message: z.preprocess(
      blankIsAbsent,
      z
        .string({ error: 'The message must be text.' })
        .trim()
        .max(MESSAGE_MAX, { error: `The message is at most ${MESSAGE_MAX} characters.` })
        .optional(),
    ),
    from_name: z.preprocess(
      blankIsAbsent,
      z
        .string({ error: 'Your name must be text.' })
        .trim()
        .max(FROM_MAX, { error: `Your name is at most ${FROM_MAX} characters.` })
        .optional(),
    ),
    email: z.preprocess(blankIsAbsent, address('Enter your e-mail address for the receipt.').optional()),
  })
}
export type GiftInput = z.output<ReturnType<typeof giftInput>>

/** What a gift of a tier costs: 12 months at the yearly price, 3 or 6 at the monthly one. */
export function giftPrice(tier: { monthlyAmount: number; yearlyAmount: number }, months: GiftMonths): number {
  return months === 12 ? tier.yearlyAmount : tier.monthlyAmount * months
}

/** The message and the name it is signed with, sealed as one value (one AES-GCM call, one column). */
async function sealMessage(
  keyring: Keyring,
  message: string | undefined,
  from: string | undefined,
): Promise<string | null> {
  if (!message && !from) return null
  return encrypt(keyring, JSON.stringify([message ?? null, from ?? null]), GIFT_CONTEXT.message)
}

export async function openMessage(
  keyring: Keyring,
  sealed: string | null,
): Promise<{ message: string | null; from: string | null }> {
  if (!sealed) return { message: null, from: null }
  const [message, from] = JSON.parse(await decrypt(keyring, sealed, GIFT_CONTEXT.message)) as [
    string | null,
    string | null,
  ]
  return { message, from }
}

/** A new gift's row, before its checkout is paid: its personal data sealed. */
export async function newGift(
  keyring: Keyring,
  now: Date,
  fields: {
    id: string
    tier: { id: string; currency: string }
    input: GiftInput
    amount: number
    giverUserId: string | null
    giverEmail: string
    checkoutSessionId: string
  },
): Promise<typeof gifts.$inferInsert> {
  const recipient = normalizeAddress(fields.input.recipient_email)
  const [recipientEmail, recipientEmailIndex, giverEmail, message] = await Promise.all([
    encrypt(keyring, recipient, GIFT_CONTEXT.recipient),
    addressIndex(keyring, recipient),
    encrypt(keyring, normalizeAddress(fields.giverEmail), GIFT_CONTEXT.giver),
    sealMessage(keyring, fields.input.message, fields.input.from_name),
  ])
  return {
    id: fields.id,
    tierId: fields.tier.id,
    months: fields.input.months,
    amount: fields.amount,
    currency: fields.tier.currency,
    giverUserId: fields.giverUserId,
    giverEmail,
    recipientEmail,
    recipientEmailIndex,
    message,
    deliverAt: dayStart(fields.input.deliver_on)!,
    checkoutSessionId: fields.checkoutSessionId,
    createdAt: now,
    updatedAt: now,
  }
}

/** Gifts whose checkout was never paid, past the time a late payment could still come: gone. */
export async function dropUnpaidGifts(db: Database, now: Date): Promise<void> {
  await db.delete(gifts).where(and(isNull(gifts.paidAt), lt(gifts.createdAt, new Date(now.getTime() - UNPAID_KEPT_MS))))
}

/** A gift by the hash of its link's token, for the page the link opens (nothing is used up). */
export async function giftByToken(db: Database, token: string): Promise<Gift> {
  if (!/^[\w-]{10,200}$/.test(token)) throw new AppError('invalid_token', 'This gift link is not valid.')
  const [gift] = await db
    .select()
    .from(gifts)
    .where(eq(gifts.tokenHash, sha256Hex(token)))
  if (!gift) throw new AppError('invalid_token', 'This gift link is not valid.')
  if (gift.redeemedAt) throw alreadyStarted()
  return gift
}

const alreadyStarted = () =>
  new AppError(
    'invalid_token',
    'This gift has already been started. Sign in with the address it was sent to: it is on your account.',
  )

export interface Redemption {
  userId: string
  startsAt: Date
  endsAt: Date
  /** The recipient already pays: the gift starts when that membership ends. */
  waits: boolean
  tierName: string | null
  months: number
  /** Where to tell the giver when a gift that waits will start (null: nobody to tell). */
  giverEmail: string | null
}

/**
 * Starts a gift: signs the recipient in (their account found by the address the gift was sent
 * to, or created), and grants the tier for the gift's months. A recipient who already pays gets
 * it after their paid period (`waits`): from the end of that period, and the gift_start job moves
 * it on while the paid membership renews. Erases the addresses the gift held. One transaction,
 * the gift's row locked: a link followed twice starts one gift.
 */
export async function redeemGift(
  db: Database,
  services: Pick<Services, 'config'> & { keyring: Keyring },
  now: Date,
  token: string,
): Promise<Redemption> {
  const { config, keyring } = services
  const tokenHash = sha256Hex(token)
  return db.transaction(async (tx) => {
    const [gift] = await tx.select().from(gifts).where(eq(gifts.tokenHash, tokenHash)).for('update')
    if (gift?.redeemedAt) throw alreadyStarted()
    if (!gift?.recipientEmail) throw new AppError('invalid_token', 'This gift link is not valid.')
    const recipient = await decrypt(keyring, gift.recipientEmail, GIFT_CONTEXT.recipient)
    const giverEmail = gift.giverEmail ? await decrypt(keyring, gift.giverEmail, GIFT_CONTEXT.giver) : null
    const user = await signInUser(tx, keyring, config, now, recipient)
    const { paid } = await loadEntitlements(tx, user.id, now, config)
    const waits = paid.entitled && paid.until !== null && paid.until > now
    const startsAt = waits ? paid.until! : now
    const endsAt = addMonths(startsAt, gift.months)
    const grantId = randomId()
    await tx.insert(grants).values({
      id: grantId,
      userId: user.id,
      source: 'gift',
      tierId: gift.tierId,
      startsAt,
      endsAt,
      note: null,
      grantedBy: gift.giverUserId,
      createdAt: now,
      updatedAt: now,
    })
    await tx
      .update(gifts)
      .set({
        redeemedAt: now,
        recipientUserId: user.id,
        grantId,
        recipientEmail: null,
        // The address index too: the account holds the address now, and recipient_user_id finds the gift.
        recipientEmailIndex: null,
        giverEmail: null,
        message: null,
        updatedAt: now,
      })
      .where(eq(gifts.id, gift.id))
    if (waits) {
      await tx
        .insert(jobs)
        .values({
          id: randomId(),
          kind: 'gift_start',
          key: gift.id,
          state: 'queued',
          payload: { giftId: gift.id },
          progress: {},
          runAt: startsAt,
          createdAt: now,
          updatedAt: now,
        })
        .onConflictDoNothing()
    }
    const [tier] = gift.tierId ? await tx.select({ name: tiers.name }).from(tiers).where(eq(tiers.id, gift.tierId)) : []
    return {
      userId: user.id,
      startsAt,
      endsAt,
      waits,
      tierName: tier?.name ?? null,
      months: gift.months,
      giverEmail: waits ? giverEmail : null,
    }
  })
}

export interface GivenGift {
  id: string
  tierName: string | null
  months: number
  amount: number
  currency: string
  deliverAt: Date
  state: 'paid' | 'delivered' | 'redeemed' | 'refunded' | 'cancelled'
  createdAt: Date
}

/** The gifts a signed-in reader has given, newest first (no recipient: the page names nobody). */
export async function giftsGivenBy(db: Database, userId: string): Promise<GivenGift[]> {
  const rows = await db
    .select({
      id: gifts.id,
      tierName: tiers.name,
      months: gifts.months,
      amount: gifts.amount,
      currency: gifts.currency,
      deliverAt: gifts.deliverAt,
      deliveredAt: gifts.deliveredAt,
      redeemedAt: gifts.redeemedAt,
      createdAt: gifts.createdAt,
      // Refunded in full: the ledger's refunds of its payment (negative amounts) come to what was paid.
      refunded: sql<boolean>`coalesce((select -sum(p.amount) from payments p where p.kind = 'refund'
        and p.payment_intent_id = ${gifts.paymentIntentId}), 0) >= ${gifts.amount}`,
      // Not started and without a recipient any more: cancelled (the recipient's account was deleted).
      recipientKept: sql<boolean>`${gifts.recipientEmail} is not null`,
    })
    .from(gifts)
    .leftJoin(tiers, eq(tiers.id, gifts.tierId))
    .where(and(eq(gifts.giverUserId, userId), isNotNull(gifts.paidAt)))
    .orderBy(desc(gifts.createdAt), desc(gifts.id))
    .limit(50)
  return rows.map((r) => ({
    id: r.id,
    tierName: r.tierName,
    months: r.months,
    amount: r.amount,
    currency: r.currency,
    deliverAt: r.deliverAt,
    createdAt: r.createdAt,
    state: r.refunded
      ? 'refunded'
      : r.redeemedAt
        ? 'redeemed'
        : !r.recipientKept
          ? 'cancelled'
          : r.deliveredAt
            ? 'delivered'
            : 'paid', // only paid gifts are listed
  }))
}

/**
 * A gift whose payment was refunded in full, ended (the refund webhook's statement does the same:
 * webhooks/events/gifts.ts, giftRefundWrites): its personal data and link token erased, its grant
 * revoked. Run again after that statement, under the gift's lock, so that a redemption that
 * committed meanwhile is ended too. Idempotent.
 */
export async function endRefundedGift(db: Database, giftId: string, paymentIntentId: string | null, now: Date) {
  await db.transaction(async (tx) => {
    const [gift] = await tx.select().from(gifts).where(eq(gifts.id, giftId)).for('update')
    if (!gift || (gift.paymentIntentId !== null && gift.paymentIntentId !== paymentIntentId)) return
    if (gift.recipientEmail || gift.recipientEmailIndex || gift.giverEmail || gift.message || gift.tokenHash) {
      await tx
        .update(gifts)
        .set({
          recipientEmail: null,
          recipientEmailIndex: null,
          giverEmail: null,
          message: null,
          tokenHash: null,
          updatedAt: now,
        })
        .where(eq(gifts.id, giftId))
    }
    if (gift.grantId) {
      await tx
        .update(grants)
        .set({ revokedAt: now, updatedAt: now })
        .where(and(eq(grants.id, gift.grantId), isNull(grants.revokedAt)))
    }
  })
}

/** The gift with this id (the delivery and start jobs). */
export async function findGift(db: Database, id: string): Promise<Gift | undefined> {
  const [gift] = await db.select().from(gifts).where(eq(gifts.id, id))
  return gift
}
