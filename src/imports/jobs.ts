import { audit } from '../audit/audit'
import { AppError } from '../http/errors'
import { absoluteUrl } from '../http/paths'
import type { JobHandler, JobHandlers } from '../jobs/jobs'
import { INVITATION_INTERVAL_MS, sendInvitations, UNSUBSCRIBE_PATH } from './invitations'
import { commitImport, planImport, type ImportPlan, type TierMapping } from './patreon-import'
import { ghostImport } from './ghost-jobs'
import { dropPreview, previewParts } from './previews'
import { saveTierMapping } from './tier-mapping'

/**
 * The Patreon move's long work, as jobs (src/jobs/jobs.ts): importing a previewed file, and
 * sending the invitations to continue through Stripe.
 */

export interface ImportPayload {
  batchId: string
  mapping: TierMapping
  /** The preview's part count when the import was confirmed. */
  parts: number
  /** The admin chose to import the valid rows and leave the rejected ones out. */
  skipRejected?: boolean
}

export interface ImportProgress {
  /** The next part to import; `parts` when all are in. */
  part: number
  counts: ImportPlan['counts']
}

/** Parts one step imports: about 5,000 rows, one transaction. */
export const PARTS_PER_STEP = 5

/**
 * One step imports the next few parts of the preview in one transaction, planned again with the
 * confirmed mapping against the accounts as they are now. Run again after a lost lease, a step
 * finds its rows written and counts them unchanged. A part whose rows no longer plan cleanly (a
 * tier deleted meanwhile) stops the import there, saying so; what came before stays imported.
 * The last step writes the audit entry and drops the preview.
 */
const patreonImport: JobHandler<ImportPayload, ImportProgress> = {
  async step(services, job) {
    const { db, config, clock } = services
    const keyring = await services.keyring
    const { batchId, mapping, parts } = job.payload
    const from = job.progress.part
    const to = Math.min(parts, from + PARTS_PER_STEP)
    const now = clock.now()
    const rows = []
    const rejected = []
    for await (const part of previewParts(db, keyring, batchId, from, to)) {
      rows.push(...part.rows)
      rejected.push(...part.rejected)
    }
    const counts = { ...job.progress.counts }
    if (rows.length > 0 || rejected.length > 0) {
      const plan = await planImport(db, keyring, config, rows, rejected, mapping, now)
      const skipRejected = job.payload.skipRejected === true
      counts.rejected += plan.counts.rejected
      if (plan.counts.rejected > 0 && !skipRejected) {
        const first = plan.rejected[0]!
        throw new AppError(
          'validation_failed',
          `The import stopped after ${imported(counts)} rows: line ${first.line} can no longer be imported (${first.reason}). ` +
            'Upload the file again to import the rest.',
        )
      }
      const written = await commitImport(db, keyring, plan, now, null, config.ADMIN_EMAILS, {
        audit: false,
        skipRejected,
      })
      for (const kind of ['new', 'updated', 'unchanged'] as const) counts[kind] += written[kind]
    }
    if (to < parts) return { progress: { part: to, counts }, done: false }
    const actor = job.createdBy ? { id: job.createdBy } : null
    await audit(db, now, actor, 'patreon.imported', null, {
      counts,
      rows: imported(counts),
      ...(counts.rejected > 0 ? { skipped: counts.rejected } : {}),
    })
    await saveTierMapping(db, mapping, now) // what Patreon's webhooks map tiers with from now on
    await dropPreview(db, batchId, now)
    return { progress: { part: to, counts }, done: true }
  },
}

const imported = (counts: ImportPlan['counts']) => counts.new + counts.updated + counts.unchanged

export interface InvitationProgress {
  sent: number
  failed: number
  /** Of `sent`, the reminders. */
  reminded?: number
  remaining: number | null
}

/**
 * One step sends one batch (INVITATIONS_PER_BATCH, one mail API call each, so one step per run:
 * a Worker invocation may make 50 subrequests on the free plan), then waits a minute; once all are
 * invited, the job waits for the reminders (PATREON_REMINDER_DAYS later, once) and ends when none is
 * pending. Each address is marked before its mail goes out, so a step run again never sends one twice.
 */
const patreonInvitations: JobHandler<Record<string, never>, InvitationProgress> = {
  stepsPerRun: 1,
  async step(services, job) {
    const { db, mailer, config, clock } = services
    try {
      const result = await sendInvitations(db, await services.keyring, mailer, {
        now: clock.now(),
        publication: config.PUBLICATION_NAME,
        joinUrl: absoluteUrl(config, '/join'),
        unsubscribeUrl: absoluteUrl(config, UNSUBSCRIBE_PATH),
        reminderDays: config.PATREON_REMINDER_DAYS,
        limit: config.INVITATIONS_PER_BATCH,
      })
      const progress = {
        sent: job.progress.sent + result.sent,
        failed: job.progress.failed + result.failed,
        reminded: (job.progress.reminded ?? 0) + result.reminded,
        remaining: result.remaining,
      }
      // Done once everyone is invited and no reminder is pending; until the next reminder falls due, it waits.
      if (result.remaining > 0) return { progress, done: false, waitMs: INVITATION_INTERVAL_MS }
      if (!result.nextReminderAt) return { progress, done: true }
      const untilReminder = result.nextReminderAt.getTime() - clock.now().getTime()
      return { progress, done: false, waitMs: Math.max(untilReminder, INVITATION_INTERVAL_MS) }
    } catch (error) {
      // A batch went out less than a minute ago (sent by hand from the command line): wait for it.
      if (error instanceof AppError && error.code === 'rate_limited') {
        return { progress: job.progress, done: false, waitMs: INVITATION_INTERVAL_MS }
      }
      throw error
    }
  },
}

export const importJobs: JobHandlers = {
  patreon_import: patreonImport as JobHandler<never, never>,
  patreon_invitations: patreonInvitations as JobHandler<never, never>,
  ghost_import: ghostImport as JobHandler<never, never>,
}
