import { and, eq } from 'drizzle-orm'
import {
  emptyPriceMapping,
  ownTierOf,
  STRIPE_PAGE,
  tierFor,
  type PriceMapping,
  type SoldPrice,
  type TierCatalogEntry,
} from '../billing/adopt'
import type { Stripe } from '../billing/stripe'
import type { Database } from '../db/client'
import { importBatches, importBatchParts, jobs } from '../db/schema'
import { AppError } from '../http/errors'
import { decrypt, encrypt } from '../privacy/cipher'
import type { Keyring } from '../privacy/keys'
import { CONTEXT } from '../privacy/people'
import { randomId } from '../util/random'
import type { GhostBatch, GhostRow, GhostVariant, RejectedRow } from './ghost-csv'
import { emptyGhostCounts, ghostTier, planGhostImport, type GhostCounts } from './ghost-import'
import { REJECTED_LISTED } from './patreon-import'
import { findPreview, sealedParts, type PreviewBatch } from './previews'

/**
 * A Ghost export's preview, stored as a Patreon one is (src/imports/previews.ts): in
 * import_batches, its rows a part at a time (about a thousand each), each part one encrypted JSON
 * document, in one transaction while the upload is read. The batch's variant says it is Ghost's
 * (`ghost` or `ghost-older`), so that neither import takes the other's preview.
 */

interface GhostDocument {
  rows: (Omit<GhostRow, 'createdAt'> & { createdAt: string | null })[]
  rejected: RejectedRow[]
  /** Members deleted in Ghost among the records of this part: counted, not imported. */
  deleted?: number
}

export const GHOST_VARIANTS = { current: 'ghost', older: 'ghost-older' } as const satisfies Record<GhostVariant, string>
const isGhost = (variant: string) => variant === 'ghost' || variant === 'ghost-older'

/** What was learnt while storing: comps' Ghost tier names and how many rows name a Stripe customer. */
export interface GhostUploadFacts {
  compTiers: string[]
  customers: number
}

/**
 * Stores an upload as a Ghost preview while `read` reads it, handing each batch of rows to the
 * sink, which seals and writes it as the next part. One transaction: a file found unreadable
 * half-way leaves nothing behind.
 */
export async function storeGhostPreview(
  db: Database,
  keyring: Keyring,
  now: Date,
  createdBy: string,
  read: (
    sink: (batch: GhostBatch) => Promise<void>,
  ) => Promise<{ variant: GhostVariant; total: number; deleted: number }>,
): Promise<{ batch: PreviewBatch; facts: GhostUploadFacts }> {
  const id = randomId()
  const compTiers = new Set<string>()
  let customers = 0
  return db.transaction(async (tx) => {
    await tx.insert(importBatches).values({ id, createdBy, createdAt: now, variant: GHOST_VARIANTS.current })
    let parts = 0
    let deletedStored = 0
    const write = async (document: GhostDocument) => {
      const sealed = await encrypt(keyring, JSON.stringify(document), CONTEXT.importRows)
      await tx.insert(importBatchParts).values({ batchId: id, part: parts, rows: sealed })
      parts += 1
    }
    const result = await read(async (batch) => {
      if (batch.rows.length === 0 && batch.rejected.length === 0) return
      for (const row of batch.rows) {
        if (row.comp) for (const tier of row.tiers) compTiers.add(tier)
        if (row.stripeCustomerId) customers += 1
      }
      deletedStored += batch.deleted
      await write({
        rows: batch.rows.map((r) => ({ ...r, createdAt: r.createdAt?.toISOString() ?? null })),
        rejected: batch.rejected,
        deleted: batch.deleted,
      })
    })
    if (result.deleted > deletedStored) await write({ rows: [], rejected: [], deleted: result.deleted - deletedStored })
    const variant = GHOST_VARIANTS[result.variant]
    await tx.update(importBatches).set({ variant, total: result.total, parts }).where(eq(importBatches.id, id))
    return {
      batch: { id, createdBy, createdAt: now, variant, total: result.total, parts },
      facts: { compTiers: [...compTiers].sort((a, b) => a.localeCompare(b)), customers },
    }
  })
}

/**
 * A Ghost preview still waiting. One already imported (or being imported) answers 409, as a second
 * confirmation of it should; one expired or never there, 404.
 */
export async function findGhostPreview(db: Database, now: Date, id: string): Promise<PreviewBatch> {
  try {
    const batch = await findPreview(db, now, id)
    if (!isGhost(batch.variant)) throw new AppError('not_found', 'No such Ghost preview. Upload the file again.')
    return batch
  } catch (error) {
    if (!(error instanceof AppError) || error.code !== 'not_found') throw error
    const [job] = await db
      .select({ id: jobs.id })
      .from(jobs)
      .where(and(eq(jobs.kind, 'ghost_import'), eq(jobs.key, id)))
      .limit(1)
    if (job) throw new AppError('conflict', 'This file was already imported; its import is on the Ghost import page.')
    throw error
  }
}

/** Parts `from` to `to` (excluded) of a Ghost preview, opened one at a time, in order. */
export async function* ghostPreviewParts(
  db: Database,
  keyring: Keyring,
  batchId: string,
  from = 0,
  to = 2 ** 31 - 1,
): AsyncGenerator<{ part: number; rows: GhostRow[]; rejected: RejectedRow[]; deleted: number }> {
  for await (const { part, sealed } of sealedParts(db, batchId, from, to)) {
    const document = await openGhostPart(keyring, sealed)
    yield {
      part,
      rejected: document.rejected,
      deleted: document.deleted ?? 0,
      rows: document.rows.map((r) => ({ ...r, createdAt: r.createdAt === null ? null : new Date(r.createdAt) })),
    }
  }
}

/** A part's document as stored (for tests and for reading it whole). */
export const openGhostPart = async (keyring: Keyring, stored: string) =>
  JSON.parse(await decrypt(keyring, stored, CONTEXT.importRows)) as GhostDocument

/** A Stripe price the account sells, as the preview's mapping shows it, with its tier under the mapping. */
export interface PreviewPrice {
  price: SoldPrice
  mappedTo: string | null
}

export interface GhostSummary {
  variant: string
  counts: GhostCounts
  /** The first REJECTED_LISTED rejected rows, in line order (the download has them all). */
  rejected: RejectedRow[]
  /** Comps' Ghost tiers, with how many rows use each and their tier under the mapping. */
  tiers: { name: string; rows: number; mappedTo: string | null }[]
  /** The account's recurring prices Masthead does not sell itself (empty without Stripe or customers). */
  prices: PreviewPrice[]
  /** Rows naming a Stripe customer: their live subscriptions are adopted after the members are in. */
  customers: number
}

/** The dry run of a stored Ghost preview with a mapping, a part at a time (`prices` left for `previewPrices`). */
export async function ghostSummary(
  db: Database,
  keyring: Keyring,
  batch: PreviewBatch,
  catalog: readonly TierCatalogEntry[],
  mapping: PriceMapping,
  now: Date,
): Promise<GhostSummary> {
  const counts = emptyGhostCounts()
  const rejected: RejectedRow[] = []
  const tierRows = new Map<string, number>()
  let customers = 0
  for await (const part of ghostPreviewParts(db, keyring, batch.id)) {
    const plan = await planGhostImport(db, keyring, catalog, part.rows, part.rejected, mapping, now, part.deleted)
    for (const key of Object.keys(counts) as (keyof GhostCounts)[]) counts[key] += plan.counts[key]
    for (const r of plan.rejected) if (rejected.length < REJECTED_LISTED) rejected.push(r)
    for (const t of plan.tiers) tierRows.set(t.name, (tierRows.get(t.name) ?? 0) + t.rows)
    customers += part.rows.filter((r) => r.stripeCustomerId !== null).length
  }
  return {
    variant: batch.variant,
    counts,
    rejected: rejected.map(({ line, reason }) => ({ line, reason })),
    tiers: [...tierRows]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, rows]) => ({ name, rows, mappedTo: ghostTier(mapping, name) })),
    prices: [],
    customers,
  }
}

/** The account's prices for the preview's mapping: those Masthead does not sell itself, each with its tier. */
export const previewPrices = (
  prices: readonly SoldPrice[],
  catalog: readonly TierCatalogEntry[],
  mapping: PriceMapping,
): PreviewPrice[] =>
  prices
    .filter((p) => ownTierOf(catalog, p.priceId) === null)
    .map((price) => ({ price, mappedTo: tierFor(price, catalog, mapping) }))

/**
 * The account's active recurring prices, with their products' names: what a Ghost member's
 * subscription can be to, for the mapping. Read a page of 100 at a time (a publication has a
 * handful: one or two requests each), never the subscriptions themselves, which the job reads.
 */
export async function accountPrices(
  stripe: Stripe,
): Promise<{ prices: SoldPrice[]; productNames: Record<string, string> }> {
  const productNames: Record<string, string> = Object.create(null) as Record<string, string>
  for (let after: string | undefined; ;) {
    const page = await stripe.products.list({ limit: STRIPE_PAGE, ...(after ? { starting_after: after } : {}) })
    for (const product of page.data) productNames[product.id] = product.name
    if (!page.has_more || page.data.length === 0) break
    after = page.data.at(-1)!.id
  }
  const prices: SoldPrice[] = []
  for (let after: string | undefined; ;) {
    const page = await stripe.prices.list({
      limit: STRIPE_PAGE,
      active: true,
      type: 'recurring',
      ...(after ? { starting_after: after } : {}),
    })
    for (const price of page.data) {
      const productId = typeof price.product === 'string' ? price.product : price.product.id
      const interval = price.recurring?.interval === 'year' ? 'year' : 'month'
      const amount = price.unit_amount ?? 0
      prices.push({
        priceId: price.id,
        productId,
        productName: productNames[productId] ?? null,
        currency: price.currency,
        interval,
        amount,
        monthly: interval === 'year' ? Math.round(amount / 12) : amount,
      })
    }
    if (!page.has_more || page.data.length === 0) break
    after = page.data.at(-1)!.id
  }
  return { prices, productNames }
}

/** Each comp tier's suggested Masthead tier: the one of the same name, whatever its case. */
export function suggestCompTiers(names: readonly string[], catalog: readonly TierCatalogEntry[]): PriceMapping {
  const mapping = emptyPriceMapping()
  for (const name of names) {
    const tier = catalog.find((t) => t.name.toLowerCase() === name.toLowerCase())
    if (tier) mapping[name] = tier.id
  }
  return mapping
}
