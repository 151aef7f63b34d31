import { and, eq, isNull } from 'drizzle-orm'
import { gifts, grants, tiers } from '../../db/schema'
import { loadEntitlements } from '../../entitlements/entitlements'
import { absoluteUrl } from '../../http/paths'
import { decrypt } from '../../privacy/cipher'
import type { Services } from '../../services'
import { randomToken, sha256Hex } from '../../util/random'
import type { Job, JobHandler, JobHandlers, StepResult } from '../../jobs/jobs'
import { addMonths } from '../../util/dates'
import { findGift, GIFT_CONTEXT, openMessage } from './gifts'
import { giftDeliveryMessage } from './mails'

type GiftPayload = { giftId: string }
type Done = StepResult<Record<string, never>>

const DONE: Done = { progress: {}, done: true }
const HOUR_MS = 3_600_000
/** How long a gift that waits keeps waiting for a renewal Stripe has not told us about yet. */
const RENEWAL_PATIENCE_MS = 3 * 24 * HOUR_MS

/**
 * The gift_delivery job, queued by the webhook that marks a gift paid, due at the start of its
 * delivery day. It e-mails the recipient once: the link's token is stored (as its hash) before the
 * mail is handed over, and the gift is marked delivered, its message erased, after. A step run
 * again (a second runner, a retry) finds it delivered and sends nothing; a mail the provider
 * refused is tried again by the job's retries, with a new link.
 */
async function deliverGift(services: Services, job: Job<GiftPayload>): Promise<Done> {
  const { db, clock, config } = services
  const gift = await findGift(db, job.payload.giftId)
  if (!gift || !gift.paidAt || gift.deliveredAt || gift.redeemedAt || !gift.recipientEmail) return DONE
  const now = clock.now()
  if (gift.deliverAt > now) return { progress: {}, done: false, waitMs: gift.deliverAt.getTime() - now.getTime() }
  const keyring = await services.keyring
  const token = randomToken()
  const tokenHash = sha256Hex(token)
  const claimed = await db
    .update(gifts)
    .set({ tokenHash, updatedAt: now })
    .where(and(eq(gifts.id, gift.id), isNull(gifts.deliveredAt)))
    .returning({ id: gifts.id })
  if (claimed.length === 0) return DONE
  const [to, opened, tier] = await Promise.all([
    decrypt(keyring, gift.recipientEmail, GIFT_CONTEXT.recipient),
    openMessage(keyring, gift.message),
    gift.tierId ? db.select({ name: tiers.name }).from(tiers).where(eq(tiers.id, gift.tierId)) : [],
  ])
  const link = absoluteUrl(config, `/gift/redeem?${new URLSearchParams({ token })}`)
  await services.mailer.send(
    giftDeliveryMessage(to, config.PUBLICATION_NAME, {
      tierName: tier[0]?.name ?? null,
      months: gift.months,
      from: opened.from,
      message: opened.message,
      link,
    }),
  )
  await db
    .update(gifts)
    .set({ deliveredAt: clock.now(), message: null, updatedAt: clock.now() })
    .where(and(eq(gifts.id, gift.id), eq(gifts.tokenHash, tokenHash)))
  return DONE
}

/**
 * The gift_start job, queued when a recipient who already pays redeems a gift: the gift's grant
 * starts when the paid period ends. Due then, it looks again: a membership that has been renewed
 * (its period now ends later) moves the gift to the new end, and the job waits for that; one that
 * ended leaves the gift running from where it starts. A renewal Stripe has not told us about yet
 * (still paid up, period end not moved) is waited for, an hour at a time, for up to three days;
 * meanwhile the paid membership's benefits win anyway.
 */
async function startGift(services: Services, job: Job<GiftPayload>): Promise<Done> {
  const { db, clock, config } = services
  const gift = await findGift(db, job.payload.giftId)
  if (!gift?.grantId) return DONE
  const [grant] = await db.select().from(grants).where(eq(grants.id, gift.grantId))
  if (!grant || grant.revokedAt) return DONE
  const now = clock.now()
  if (grant.startsAt > now) return { progress: {}, done: false, waitMs: grant.startsAt.getTime() - now.getTime() }
  const { paid } = await loadEntitlements(db, grant.userId, now, config)
  if (!paid.entitled) return DONE
  if (paid.until && paid.until > grant.startsAt) {
    await db
      .update(grants)
      .set({ startsAt: paid.until, endsAt: addMonths(paid.until, gift.months), updatedAt: now })
      .where(eq(grants.id, grant.id))
    return { progress: {}, done: false, waitMs: Math.max(0, paid.until.getTime() - now.getTime()) }
  }
  if (now.getTime() - grant.startsAt.getTime() > RENEWAL_PATIENCE_MS) return DONE
  return { progress: {}, done: false, waitMs: HOUR_MS }
}

/** Gift jobs, by kind (src/scheduled.ts lists them). A delivery step sends one e-mail. */
const giftDelivery: JobHandler<GiftPayload, Record<string, never>> = { step: deliverGift, stepsPerRun: 40 }
const giftStart: JobHandler<GiftPayload, Record<string, never>> = { step: startGift }

export const giftJobs: JobHandlers = {
  gift_delivery: giftDelivery as JobHandler<never, never>,
  gift_start: giftStart as JobHandler<never, never>,
}
