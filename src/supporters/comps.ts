import { addMonths } from '../util/dates'
import { and, eq, isNull } from 'drizzle-orm'
import * as z from 'zod'
import type { SessionUser } from '../accounts/sessions'
import { loadEntitlements } from '../entitlements/entitlements'
import type { Config } from '../config'
import type { Database } from '../db/client'
import { grants, tiers, users } from '../db/schema'
import { AppError } from '../http/errors'
import { randomId } from '../util/random'
import { audit } from '../audit/audit'

export type Grant = typeof grants.$inferSelect

const blankIsAbsent = (value: unknown) => (value === '' || value === null ? undefined : value)

/** A comp: a tier for N months, or until revoked when `months` is absent. */
export const compInput = z.object({
  tier: z.string({ error: 'Choose a tier.' }).trim().min(1, { error: 'Choose a tier.' }).max(64),
  months: z.preprocess(
    blankIsAbsent,
    z.coerce
      .number({ error: 'Months must be a number, or empty for no end.' })
      .int({ error: 'Months must be a whole number.' })
      .min(1, { error: 'A comp lasts at least 1 month.' })
      .max(120, { error: 'A comp lasts at most 120 months; leave it empty for no end.' })
      .optional(),
  ),
  note: z.preprocess(
    blankIsAbsent,
    z
      .string({ error: 'The note must be text.' })
      .trim()
      .max(500, { error: 'The note is at most 500 characters.' })
      .optional(),
  ),
})
export type CompInput = z.output<typeof compInput>

/** Grants a comp, in one transaction with its audit entry. */
export async function grantComp(
  db: Database,
  config: Config,
  now: Date,
  actor: SessionUser,
  userId: string,
  input: CompInput,
): Promise<Grant> {
  const [user] = await db.select({ id: users.id }).from(users).where(eq(users.id, userId))
  if (!user) throw new AppError('not_found', 'There is no supporter with that id.')
  const [tier] = await db.select({ id: tiers.id }).from(tiers).where(eq(tiers.id, input.tier))
  if (!tier) throw new AppError('validation_failed', `There is no tier called "${input.tier}".`)
  const { membership } = await loadEntitlements(db, userId, now, config)
  if (membership.source === 'stripe' && membership.entitled) {
    throw new AppError('conflict', 'This supporter already pays for a membership; a comp would change nothing.')
  }
  return db.transaction(async (tx) => {
    const [grant] = await tx
      .insert(grants)
      .values({
        id: randomId(),
        userId,
        source: 'comp',
        tierId: tier.id,
        startsAt: now,
        endsAt: input.months ? addMonths(now, input.months) : null,
        note: input.note ?? null,
        grantedBy: actor.id,
        createdAt: now,
        updatedAt: now,
      })
      .returning()
    await audit(tx, now, actor, 'comp.granted', userId, {
      grantId: grant!.id,
      tierId: tier.id,
      months: input.months ?? null,
    })
    return grant!
  })
}

/** Ends a comp now. Only a comp that is still running can be revoked. */
export async function revokeComp(db: Database, now: Date, actor: SessionUser, grantId: string): Promise<Grant> {
  const [grant] = await db
    .select()
    .from(grants)
    .where(and(eq(grants.id, grantId), eq(grants.source, 'comp')))
  if (!grant) throw new AppError('not_found', 'There is no comp with that id.')
  if (grant.revokedAt || (grant.endsAt && grant.endsAt <= now)) {
    throw new AppError('conflict', 'This comp has already ended.')
  }
  return db.transaction(async (tx) => {
    const [revoked] = await tx
      .update(grants)
      .set({ revokedAt: now, revokedBy: actor.id, updatedAt: now })
      .where(and(eq(grants.id, grantId), isNull(grants.revokedAt)))
      .returning()
    if (!revoked) throw new AppError('conflict', 'This comp has already ended.')
    await audit(tx, now, actor, 'comp.revoked', grant.userId, { grantId })
    return revoked
  })
}
