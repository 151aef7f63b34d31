import { sql } from 'drizzle-orm'
import type { Database } from '../db/client'
import { patreonTierMappings } from '../db/schema'
import { emptyMapping, type TierMapping } from './patreon-import'

/**
 * The Patreon tier → Masthead tier mapping webhooks use (src/imports/patreon-webhooks.ts). Each
 * confirmed import saves the entries it was confirmed with over the ones before; tiers an import
 * did not mention keep theirs, so a later export with fewer tiers unmaps nothing.
 */
export async function saveTierMapping(db: Database, mapping: TierMapping, now: Date): Promise<void> {
  const entries = Object.entries(mapping).filter(([, tierId]) => typeof tierId === 'string' && tierId !== '')
  if (entries.length === 0) return
  await db
    .insert(patreonTierMappings)
    .values(entries.map(([patreonTier, tierId]) => ({ patreonTier, tierId, savedAt: now })))
    .onConflictDoUpdate({
      target: patreonTierMappings.patreonTier,
      set: { tierId: sql`excluded.tier_id`, savedAt: sql`excluded.saved_at` },
    })
}

/** The saved mapping (empty when no import has been confirmed yet). */
export async function storedTierMapping(db: Database): Promise<TierMapping> {
  const mapping = emptyMapping()
  for (const row of await db.select().from(patreonTierMappings)) mapping[row.patreonTier] = row.tierId
  return mapping
}
