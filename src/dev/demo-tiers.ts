import { count } from 'drizzle-orm'
import type { NewTier } from '../billing/tiers/tiers'
import type { Database } from '../db/client'
import { tiers } from '../db/schema'

export const DEMO_TIERS: NewTier[] = [
  {
    id: 'reader',
    name: 'Reader',
    description: 'Read supporters-only articles, and never be asked for support again.',
    currency: 'usd',
    monthlyAmount: 500,
    yearlyAmount: 5000,
    position: 0,
    active: true,
    benefits: ['hideSupportPrompts', 'supportersOnlyContent'],
  },
  {
    id: 'patron',
    name: 'Patron',
    description: 'Everything a Reader gets, without ads, and articles before anyone else.',
    currency: 'usd',
    monthlyAmount: 1500,
    yearlyAmount: 15000,
    position: 1,
    active: true,
    benefits: ['adFree', 'hideSupportPrompts', 'supportersOnlyContent', 'earlyAccess'],
  },
]

/**
 * Gives a new installation something to sell: the demo tiers, only while
 * there are no tiers at all, so an admin's deletions and edits are never
 * undone. Returns how many were inserted.
 */
export async function seedDemoTiers(db: Database, now: Date): Promise<number> {
  const [existing] = await db.select({ n: count() }).from(tiers)
  if ((existing?.n ?? 0) > 0) return 0
  // Two servers starting at once both see an empty table; the conflict clause keeps that harmless.
  const rows = await db
    .insert(tiers)
    .values(DEMO_TIERS.map((tier) => ({ ...tier, createdAt: now, updatedAt: now })))
    .onConflictDoNothing({ target: tiers.id })
    .returning({ id: tiers.id })
  return rows.length
}
