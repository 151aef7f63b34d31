import { asc } from 'drizzle-orm'
import { Hono, type Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { submitForm } from '../http/forms'
import { requireRole } from '../http/guards'
import { bodyLimit } from '../http/middleware'
import { tiers } from '../db/schema'
import { AppError } from '../http/errors'
import { limitedBody, readForm, refuseNul } from '../http/input'
import { MultipartError, readMultipart } from '../http/multipart'
import { enqueueJob, findJob, recentJobs, type Job } from '../jobs/jobs'
import { pathTo } from '../http/paths'
import type { AppEnv } from '../services'
import type { ImportPayload, ImportProgress, InvitationProgress } from './jobs'
import { moveStatus } from './move-status'
import { webhookStatus } from './patreon-webhooks'
import { rejectedCsv, rejectedLines } from './rejected-csv'
import { audit } from '../audit/audit'
import { describeJob, PatreonPreviewPage, PatreonUploadPage } from './pages'
import { page } from '../ui/layout'
import { PatreonCsvError, readPatreonStream } from './patreon-csv'
import {
  emptyMapping,
  planPreview,
  suggestMapping,
  type ImportSummary,
  type PatreonTierPrice,
  type TierMapping,
} from './patreon-import'
import { dropPreview, findPatreonPreview, previewParts, storePreview, type PreviewBatch } from './previews'
import { ghostApi, ghostPages } from './ghost-routes'

/**
 * A Patreon export can run to megabytes: the reader refuses files over 20 MiB with its own
 * message, and this bounds the request (the form around the file included).
 */
const UPLOAD_MAX_BYTES = 21 * 1024 * 1024

/**
 * Moving from Patreon, for admins, /admin/imports: upload → preview (dry run, tier mapping) →
 * import, which runs in the background as a job (src/imports/jobs.ts); and the invitations to
 * continue via Stripe, a job too. The upload is read as it arrives, never held whole (a Worker
 * has 128 MB), with its own size limit; the other forms have the default one.
 */
export const importPages = new Hono<AppEnv>().use(requireRole('admin'))

/** The same for API clients: /api/admin/imports. */
export const importApi = new Hono<AppEnv>().use(requireRole('admin'))

const tierChoices = (c: Context<AppEnv>) =>
  c.var.services.db
    .select({ id: tiers.id, name: tiers.name, monthlyAmount: tiers.monthlyAmount, currency: tiers.currency })
    .from(tiers)
    .orderBy(asc(tiers.position))

/**
 * Reads the uploaded file (multipart/form-data, field "file") into a new preview as it arrives:
 * the form is read as a stream, the file's rows parsed as its bytes come and stored a part at a
 * time (src/imports/previews.ts). The other fields of the form come back too.
 */
async function storeUpload(c: Context<AppEnv>): Promise<{
  batch: PreviewBatch
  tiers: [string, PatreonTierPrice[]][]
  fields: Record<string, string | string[]>
}> {
  const type = c.req.header('content-type') ?? ''
  if (!type.includes('multipart/form-data')) {
    throw new AppError('unsupported_media_type', 'Upload the CSV as multipart/form-data, in a field named "file".')
  }
  const body = limitedBody(c, UPLOAD_MAX_BYTES)
  const { db, clock } = c.var.services
  const keyring = await c.var.services.keyring
  let fields: Record<string, string | string[]> = {}
  try {
    const stored = await storePreview(db, keyring, clock.now(), c.var.user!.id, async (sink) => {
      let read: { variant: string; total: number } | undefined
      fields = await readMultipart(body, type, async (file) => {
        if (file.name !== 'file' || read) return file.stream.cancel()
        let bytes = 0
        const counted = file.stream.pipeThrough(
          new TransformStream<Uint8Array, Uint8Array>({
            transform(chunk, controller) {
              bytes += chunk.byteLength
              controller.enqueue(chunk)
            },
          }),
        )
        try {
          read = await readPatreonStream(counted, sink, undefined, { keepRejectedCells: true })
        } catch (error) {
          if (bytes === 0 && error instanceof PatreonCsvError) throw emptyUpload()
          throw error
        }
      })
      refuseNul(fields)
      if (!read) throw emptyUpload()
      return read
    })
    return { ...stored, fields }
  } catch (error) {
    if (error instanceof PatreonCsvError) throw new AppError('validation_failed', error.message)
    if (error instanceof MultipartError) throw new AppError('bad_request', error.message)
    throw error
  }
}

const emptyUpload = () =>
  new AppError('validation_failed', 'Choose the CSV file exported from Patreon; the upload was empty.')

/** A mapping from the preview form (pairs of patreon_tier and masthead_tier) or from JSON. */
function mappingFromForm(body: Record<string, string | File | (string | File)[]>): TierMapping {
  const list = (v: unknown) =>
    (Array.isArray(v) ? v : v === undefined ? [] : [v]).filter((x): x is string => typeof x === 'string')
  const names = list(body.patreon_tier)
  const targets = list(body.masthead_tier)
  const mapping = emptyMapping()
  names.forEach((name, i) => {
    if (targets[i]) mapping[name] = targets[i]!
  })
  return mapping
}

function mappingFromJson(value: unknown): TierMapping {
  if (value === undefined || value === '') return emptyMapping()
  let parsed: unknown = value
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value)
    } catch {
      throw new AppError('validation_failed', 'The mapping must be a JSON object of Patreon tier names to tier ids.')
    }
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new AppError('validation_failed', 'The mapping must be a JSON object of Patreon tier names to tier ids.')
  }
  const mapping = emptyMapping()
  for (const [k, v] of Object.entries(parsed)) {
    if (typeof v !== 'string') throw new AppError('validation_failed', `The mapping for "${k}" must be a tier id.`)
    mapping[k] = v
  }
  return mapping
}

/** Preselects a Masthead tier for each Patreon tier (`suggestMapping`), for the admin to confirm or change. */
async function suggestedMapping(c: Context<AppEnv>, patreonTiers: [string, PatreonTierPrice[]][]) {
  return suggestMapping(patreonTiers, await tierChoices(c))
}

/** The dry run of a stored preview with a mapping: its counts, rejected rows and tiers. */
async function summaryOf(c: Context<AppEnv>, batchId: string, mapping: TierMapping): Promise<ImportSummary> {
  const { db, config, clock } = c.var.services
  const keyring = await c.var.services.keyring
  return planPreview(db, keyring, config, previewParts(db, keyring, batchId), mapping, clock.now())
}

/**
 * Queues the import of a preview with its mapping, once its dry run rejects nothing; a preview
 * already being imported is refused.
 */
async function startImport(
  c: Context<AppEnv>,
  batch: PreviewBatch,
  mapping: TierMapping,
  summary: ImportSummary,
  skipRejected = false,
) {
  const valid = summary.counts.new + summary.counts.updated + summary.counts.unchanged
  if (skipRejected && valid === 0) {
    throw new AppError(
      'validation_failed',
      'Nothing to import: every row was rejected. Fix the file and upload it again.',
    )
  }
  if (summary.counts.rejected > 0 && !skipRejected) {
    const first = summary.rejected[0]!
    const n = summary.counts.rejected
    throw new AppError(
      'validation_failed',
      `Nothing was imported: ${n} ${n === 1 ? 'row was' : 'rows were'} rejected (first: line ${first.line}, ${first.reason}). Fix the file or the tier mapping and try again.`,
    )
  }
  const { job, created } = await queue<ImportPayload, ImportProgress>(c, {
    kind: 'patreon_import',
    key: batch.id,
    payload: { batchId: batch.id, mapping, parts: batch.parts, skipRejected },
    progress: { part: 0, counts: { new: 0, updated: 0, unchanged: 0, rejected: 0 } },
    createdBy: c.var.user!.id,
  })
  if (!created)
    throw new AppError('conflict', 'This file is already being imported; its progress is on the import page.')
  return job
}

/** Queues a job, and wakes the Node server's job loop for it (on Workers the next Cron Trigger takes it). */
async function queue<P, G>(c: Context<AppEnv>, job: Parameters<typeof enqueueJob<P, G>>[2]) {
  const queued = await enqueueJob<P, G>(c.var.services.db, c.var.services.clock.now(), job)
  c.var.services.kickJobs?.()
  return queued
}

/** Queues the invitations, or finds them already going out. */
function startInvitations(c: Context<AppEnv>) {
  return queue<Record<string, never>, InvitationProgress>(c, {
    kind: 'patreon_invitations',
    key: 'all',
    payload: {},
    progress: { sent: 0, failed: 0, remaining: null },
    createdBy: c.var.user!.id,
  })
}

/** A job as the API shows it. */
const jobJson = (job: Job) => ({
  id: job.id,
  kind: job.kind,
  state: job.state,
  progress: job.progress,
  error: job.lastError,
  description: describeJob(job),
  createdAt: job.createdAt.toISOString(),
  finishedAt: job.finishedAt?.toISOString() ?? null,
})

const IMPORT_JOBS = ['patreon_import', 'patreon_invitations', 'ghost_import'] as const

// ---------------------------------------------------------------- pages

// Moving from Ghost: /admin/imports/ghost and /api/admin/imports/ghost (src/imports/ghost-routes.tsx).
importPages.route('/ghost', ghostPages)
importApi.route('/ghost', ghostApi)

importPages.get('/patreon', async (c) =>
  page(
    c,
    'Import from Patreon',
    <PatreonUploadPage
      notice={c.req.query('notice')}
      jobs={await recentJobs(c.var.services.db, IMPORT_JOBS)}
      status={await moveStatus(c.var.services.db)}
      webhooks={await webhookStatus(c.var.services.db, c.var.services.config)}
    />,
  ),
)

async function previewPage(
  c: Context<AppEnv>,
  batchId: string,
  mapping: TierMapping,
  error?: string,
  status: ContentfulStatusCode = 200,
) {
  await findPatreonPreview(c.var.services.db, c.var.services.clock.now(), batchId)
  const plan = await summaryOf(c, batchId, mapping)
  return page(
    c,
    'Preview: Patreon import',
    <PatreonPreviewPage batchId={batchId} plan={plan} tiers={await tierChoices(c)} error={error} />,
    status,
  )
}

importPages.post('/patreon', async (c) =>
  submitForm(
    c,
    async () => {
      const { batch, tiers: patreonTiers } = await storeUpload(c)
      return previewPage(c, batch.id, await suggestedMapping(c, patreonTiers))
    },
    (errors, status) => page(c, 'Import from Patreon', <PatreonUploadPage error={Object.values(errors)[0]} />, status),
  ),
)

/**
 * GET /admin/imports/patreon/:batch/rejected.csv?patreon_tier=…&masthead_tier=…: the preview's
 * rejected rows under that mapping, as a CSV to fix and upload again (src/imports/rejected-csv.ts).
 * Donor data: audited (`patreon.rejected_exported`, the preview's id and the row count), never cached.
 */
importPages.get('/patreon/:batch/rejected.csv', async (c) => {
  const { db, clock, config } = c.var.services
  const now = clock.now()
  const batch = await findPatreonPreview(db, now, c.req.param('batch'))
  const mapping = mappingFromForm({
    patreon_tier: c.req.queries('patreon_tier') ?? [],
    masthead_tier: c.req.queries('masthead_tier') ?? [],
  })
  const lines = await rejectedLines(db, await c.var.services.keyring, config, batch.id, mapping, now)
  await audit(db, now, c.var.user, 'patreon.rejected_exported', null, { batch: batch.id, rows: lines.length })
  return c.body(rejectedCsv(lines), 200, {
    'Content-Type': 'text/csv; charset=utf-8',
    'Content-Disposition': `attachment; filename="patreon-rejected-${now.toISOString().slice(0, 10)}.csv"`,
    'Cache-Control': 'private, no-store',
  })
})

importPages.post('/patreon/:batch', bodyLimit(), async (c) => {
  const { db, clock } = c.var.services
  const body = await readForm(c, { all: true })
  const mapping = mappingFromForm(body)
  const batch = await findPatreonPreview(db, clock.now(), c.req.param('batch'))
  if (body.action !== 'commit' && body.action !== 'commit-valid') return previewPage(c, batch.id, mapping)
  return submitForm(
    c,
    async () => {
      await startImport(c, batch, mapping, await summaryOf(c, batch.id, mapping), body.action === 'commit-valid')
      const notice = 'The import has started. It runs in the background; its progress is below.'
      return c.redirect(pathTo(c, `/admin/imports/patreon?${new URLSearchParams({ notice })}`), 303)
    },
    (errors, status) => previewPage(c, batch.id, mapping, Object.values(errors)[0], status),
  )
})

importPages.post('/patreon-invitations', bodyLimit(), async (c) => {
  const { created } = await startInvitations(c)
  const notice = created
    ? 'The invitations are going out in the background, a batch a minute; their progress is below.'
    : 'The invitations are already going out; their progress is below.'
  return c.redirect(pathTo(c, `/admin/imports/patreon?${new URLSearchParams({ notice })}`), 303)
})

// ---------------------------------------------------------------- API

/**
 * POST /api/admin/imports/patreon, multipart: `file`, optional `mapping` (JSON), optional
 * `dry_run` ("true" to only preview), optional `skip_rejected` ("true": import the valid rows and
 * leave the rejected ones out). Answers the plan's counts and rejected rows; an import with any
 * rejected row writes nothing (422) unless skip_rejected. Otherwise the import runs in the
 * background: 202 with the job, whose progress GET /api/admin/imports/jobs/:id gives.
 */
importApi.post('/patreon', async (c) => {
  const { db, clock } = c.var.services
  const { batch, fields } = await storeUpload(c)
  try {
    const mapping = mappingFromJson(fields.mapping)
    const plan = await summaryOf(c, batch.id, mapping)
    const summary = { variant: batch.variant, counts: plan.counts, rejected: plan.rejected, tiers: plan.tiers }
    if (fields.dry_run === 'true' || fields.dry_run === '1') {
      await dropPreview(db, batch.id, clock.now())
      return c.json({ dryRun: true, ...summary })
    }
    const skip = fields.skip_rejected === 'true' || fields.skip_rejected === '1'
    const job = await startImport(c, batch, mapping, plan, skip)
    return c.json({ dryRun: false, ...summary, job: jobJson(job) }, 202)
  } catch (error) {
    await dropPreview(db, batch.id, clock.now())
    throw error
  }
})

importApi.post('/patreon-invitations', bodyLimit(), async (c) => {
  const { job, created } = await startInvitations(c)
  return c.json({ created, job: jobJson(job) }, 202)
})

/** GET /api/admin/imports/patreon/status: how the move stands (`moveStatus`), counts and sums only. */
importApi.get('/patreon/status', async (c) => c.json(await moveStatus(c.var.services.db)))

/** GET /api/admin/imports/patreon/webhooks: whether Patreon's webhooks arrive and what became of them, counts only. */
importApi.get('/patreon/webhooks', async (c) => c.json(await webhookStatus(c.var.services.db, c.var.services.config)))

importApi.get('/jobs/:id', async (c) => {
  const job = await findJob(c.var.services.db, c.req.param('id'))
  if (!job || !(IMPORT_JOBS as readonly string[]).includes(job.kind)) throw new AppError('not_found', 'No such job.')
  return c.json({ job: jobJson(job) })
})
