import { audit } from '../audit/audit'
import { isMarked, storeAdopted, subscriptionsPage, tierCatalog, type PriceMapping } from '../billing/adopt'
import { MASTHEAD_METADATA } from '../billing/stripe'
import { AppError } from '../http/errors'
import type { JobHandler } from '../jobs/jobs'
import { commitGhostImport, planGhostImport, adoptionsFor } from './ghost-import'
import { ghostPreviewParts } from './ghost-previews'
import { dropPreview } from './previews'

/**
 * A confirmed Ghost import, as a job (src/jobs/jobs.ts), in three phases:
 *
 * 1. `members`: each step imports the next few parts of the preview (about 5,000 rows) in one
 *    transaction, planned again against the accounts as they are now; run again after a lost
 *    lease, a step finds its rows written and counts them unchanged. Then the preview is dropped.
 * 2. `subscriptions` (when rows named Stripe customers): each step reads one page of 100 of the
 *    account's subscriptions (one Stripe request) and, in one transaction, stores as Masthead's
 *    own those of customers linked to an account here whose price the confirmed mapping maps
 *    (src/billing/adopt.ts); the ones still to be marked in Stripe are kept in the progress.
 * 3. Marking: each step marks at most MARKS_PER_STEP of them (one request each).
 *
 * So no step makes more than MARKS_PER_STEP Stripe requests, and one run at most
 * STEPS_PER_RUN × that: within the 50 subrequests of a Worker invocation on the free plan. Storing
 * and marking are idempotent (insert if absent; the same metadata again), so any step may run twice.
 */

export interface GhostImportPayload {
  batchId: string
  mapping: PriceMapping
  parts: number
  skipRejected: boolean
  /** Rows named Stripe customers: the subscriptions are read and adopted after the members. */
  adopt: boolean
  /** The account's product names when confirmed (for a mapping by product name). */
  productNames: Record<string, string>
}

/** A subscription stored as Masthead's, still to be marked in Stripe: ids only. */
interface PendingMark {
  id: string
  tierId: string
  userId: string
}

export interface GhostImportProgress {
  phase: 'members' | 'subscriptions' | 'done'
  /** The next part to import. */
  part: number
  counts: { new: number; updated: number; unchanged: number; rejected: number }
  /** The last subscription read, for the next page; null before the first. */
  after: string | null
  /** No page is left to read. */
  listed: boolean
  adopted: number
  marked: number
  /** Paying subscriptions of linked customers whose price no tier maps: left alone. */
  unmapped: number
  pending: PendingMark[]
}

export const emptyGhostProgress = (): GhostImportProgress => ({
  phase: 'members',
  part: 0,
  counts: { new: 0, updated: 0, unchanged: 0, rejected: 0 },
  after: null,
  listed: false,
  adopted: 0,
  marked: 0,
  unmapped: 0,
  pending: [],
})

/** Parts one step imports: about 5,000 rows, one transaction. */
export const GHOST_PARTS_PER_STEP = 5
/** Stripe requests a marking step makes at most. */
export const MARKS_PER_STEP = 5
/** Steps one run takes: STEPS_PER_RUN × MARKS_PER_STEP stays under a Worker's 50 subrequests. */
export const STEPS_PER_RUN = 8

const imported = (c: GhostImportProgress['counts']) => c.new + c.updated + c.unchanged

export const ghostImport: JobHandler<GhostImportPayload, GhostImportProgress> = {
  stepsPerRun: STEPS_PER_RUN,
  async step(services, job) {
    const { db, config, clock } = services
    const keyring = await services.keyring
    const now = clock.now()
    const { batchId, mapping, parts } = job.payload
    const progress: GhostImportProgress = { ...emptyGhostProgress(), ...job.progress }
    const catalog = await tierCatalog(db)

    if (progress.phase === 'members') {
      const to = Math.min(parts, progress.part + GHOST_PARTS_PER_STEP)
      const rows = []
      const rejected = []
      let deleted = 0
      for await (const part of ghostPreviewParts(db, keyring, batchId, progress.part, to)) {
        rows.push(...part.rows)
        rejected.push(...part.rejected)
        deleted += part.deleted
      }
      const counts = { ...progress.counts }
      if (rows.length > 0 || rejected.length > 0) {
        const plan = await planGhostImport(db, keyring, catalog, rows, rejected, mapping, now, deleted)
        counts.rejected += plan.counts.rejected
        if (plan.counts.rejected > 0 && !job.payload.skipRejected) {
          const first = plan.rejected[0]!
          throw new AppError(
            'validation_failed',
            `The import stopped after ${imported(counts)} rows: line ${first.line} can no longer be imported (${first.reason}). ` +
              'Upload the file again to import the rest.',
          )
        }
        const written = await commitGhostImport(db, keyring, plan, now, null, config.ADMIN_EMAILS, {
          audit: false,
          skipRejected: job.payload.skipRejected,
        })
        for (const kind of ['new', 'updated', 'unchanged'] as const) counts[kind] += written[kind]
      }
      if (to < parts) return { progress: { ...progress, part: to, counts }, done: false }
      await dropPreview(db, batchId, now) // every row is in: the sealed rows are no longer kept
      const next = { ...progress, part: to, counts, phase: job.payload.adopt ? 'subscriptions' : 'done' } as const
      if (next.phase === 'done') return finish(next)
      return { progress: next, done: false }
    }

    const stripe = services.stripe
    if (!stripe) {
      throw new AppError(
        'payments_unavailable',
        'The members are imported, but their Stripe subscriptions cannot be adopted without STRIPE_SECRET_KEY.',
      )
    }
    if (progress.pending.length > 0) {
      const marking = progress.pending.slice(0, MARKS_PER_STEP)
      for (const p of marking) {
        await stripe.subscriptions.update(p.id, {
          metadata: { ...MASTHEAD_METADATA, tier_id: p.tierId, user_id: p.userId },
        })
      }
      return next({
        ...progress,
        pending: progress.pending.slice(marking.length),
        marked: progress.marked + marking.length,
      })
    }
    if (!progress.listed) {
      const page = await subscriptionsPage(stripe, progress.after)
      const names = new Map(Object.entries(job.payload.productNames))
      const found = await db.transaction(async (tx) => {
        const { adoptions, unmapped } = await adoptionsFor(tx, page.data, catalog, mapping, names)
        const stored = await storeAdopted(tx, adoptions, now)
        return { adoptions, unmapped, stored }
      })
      return next({
        ...progress,
        after: page.data.at(-1)?.id ?? progress.after,
        listed: !page.hasMore || page.data.length === 0,
        adopted: progress.adopted + found.stored,
        unmapped: progress.unmapped + found.unmapped.length,
        pending: found.adoptions
          .filter((a) => !isMarked(a))
          .map((a) => ({ id: a.subscription.id, tierId: a.tierId, userId: a.userId })),
      })
    }
    return finish(progress)

    function next(p: GhostImportProgress) {
      return p.listed && p.pending.length === 0 ? finish(p) : Promise.resolve({ progress: p, done: false })
    }
    async function finish(p: GhostImportProgress) {
      const done = { ...p, phase: 'done' as const }
      await audit(db, now, job.createdBy ? { id: job.createdBy } : null, 'ghost.imported', null, {
        counts: p.counts,
        rows: imported(p.counts),
        ...(p.counts.rejected > 0 ? { skipped: p.counts.rejected } : {}),
        ...(job.payload.adopt ? { adopted: p.adopted, marked: p.marked, unmapped: p.unmapped } : {}),
      })
      return { progress: done, done: true }
    }
  },
}
