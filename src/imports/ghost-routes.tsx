import { Hono, type Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { audit } from '../audit/audit'
import { emptyPriceMapping, productNames, suggestPriceMapping, tierCatalog, type PriceMapping } from '../billing/adopt'
import { AppError } from '../http/errors'
import { submitForm } from '../http/forms'
import { requireRole } from '../http/guards'
import { limitedBody, readForm, refuseNul } from '../http/input'
import { bodyLimit } from '../http/middleware'
import { MultipartError, readMultipart } from '../http/multipart'
import { pathTo } from '../http/paths'
import { enqueueJob, recentJobs, type Job } from '../jobs/jobs'
import type { AppEnv } from '../services'
import { page } from '../ui/layout'
import { GhostCsvError, readGhostStream } from './ghost-csv'
import { emptyGhostProgress, type GhostImportPayload, type GhostImportProgress } from './ghost-jobs'
import { describeGhostJob, GhostPreviewPage, GhostUploadPage } from './ghost-pages'
import {
  accountPrices,
  findGhostPreview,
  ghostSummary,
  previewPrices,
  storeGhostPreview,
  suggestCompTiers,
  type GhostSummary,
  type GhostUploadFacts,
} from './ghost-previews'
import { dropPreview, type PreviewBatch } from './previews'
import { ghostRejectedCsv, ghostRejectedLines } from './rejected-csv'

/**
 * Moving from Ghost, for admins: /admin/imports/ghost (upload → preview with the tier mapping →
 * import as a job, src/imports/ghost-jobs.ts) and /api/admin/imports/ghost, as the Patreon import
 * (src/imports/routes.tsx): the upload read as it arrives, with its own size limit and a streaming
 * 413, stored sealed a part at a time, nothing kept of a file that cannot be read.
 */
export const ghostPages = new Hono<AppEnv>().use(requireRole('admin'))
export const ghostApi = new Hono<AppEnv>().use(requireRole('admin'))

/** Ghost's reader refuses files over 20 MiB with its own message; this bounds the request. */
const UPLOAD_MAX_BYTES = 21 * 1024 * 1024

const emptyUpload = () =>
  new AppError('validation_failed', 'Choose the members CSV exported from Ghost; the upload was empty.')

/** Reads the uploaded file (multipart/form-data, field "file") into a new preview as it arrives. */
async function storeUpload(c: Context<AppEnv>): Promise<{
  batch: PreviewBatch
  facts: GhostUploadFacts
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
    const stored = await storeGhostPreview(db, keyring, clock.now(), c.var.user!.id, async (sink) => {
      let read: Awaited<ReturnType<typeof readGhostStream>> | undefined
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
          read = await readGhostStream(counted, sink, undefined, { keepRejectedCells: true })
        } catch (error) {
          if (bytes === 0 && error instanceof GhostCsvError) throw emptyUpload()
          throw error
        }
      })
      refuseNul(fields)
      if (!read) throw emptyUpload()
      return read
    })
    return { ...stored, fields }
  } catch (error) {
    if (error instanceof GhostCsvError) throw new AppError('validation_failed', error.message)
    if (error instanceof MultipartError) throw new AppError('bad_request', error.message)
    throw error
  }
}

const list = (v: unknown) =>
  (Array.isArray(v) ? v : v === undefined ? [] : [v]).filter((x): x is string => typeof x === 'string')

/** A mapping from the preview form: pairs of ghost_key (a Ghost tier name or a Stripe price id) and masthead_tier. */
function mappingFromForm(body: Record<string, unknown>): PriceMapping {
  const keys = list(body.ghost_key)
  const targets = list(body.masthead_tier)
  const mapping = emptyPriceMapping()
  keys.forEach((key, i) => {
    if (targets[i]) mapping[key] = targets[i]!
  })
  return mapping
}

function mappingFromJson(value: unknown): PriceMapping {
  const mapping = emptyPriceMapping()
  if (value === undefined || value === '') return mapping
  const refuse = () =>
    new AppError(
      'validation_failed',
      'The mapping must be a JSON object of Ghost tier names and Stripe price ids, product ids or product names to tier ids.',
    )
  let parsed: unknown
  try {
    parsed = JSON.parse(typeof value === 'string' ? value : '')
  } catch {
    throw refuse()
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw refuse()
  for (const [k, v] of Object.entries(parsed)) {
    if (typeof v !== 'string') throw new AppError('validation_failed', `The mapping for "${k}" must be a tier id.`)
    mapping[k] = v
  }
  return mapping
}

/**
 * The dry run of a preview with a mapping, and the account's prices when its rows name Stripe
 * customers (a handful of Stripe requests: products and prices, never the subscriptions).
 */
async function summaryOf(c: Context<AppEnv>, batch: PreviewBatch, mapping: PriceMapping) {
  const { db, clock } = c.var.services
  const catalog = await tierCatalog(db)
  const summary = await ghostSummary(db, await c.var.services.keyring, batch, catalog, mapping, clock.now())
  const stripe = summary.customers > 0 ? c.var.services.stripe : null
  if (stripe) summary.prices = previewPrices((await accountPrices(stripe)).prices, catalog, mapping)
  return { summary, stripeMissing: summary.customers > 0 && !c.var.services.stripe }
}

/** The mapping suggested for a new preview: comps' tiers by name, Stripe prices by product name or nearest price. */
async function suggestedMapping(c: Context<AppEnv>, facts: GhostUploadFacts): Promise<PriceMapping> {
  const catalog = await tierCatalog(c.var.services.db)
  const mapping = suggestCompTiers(facts.compTiers, catalog)
  const stripe = facts.customers > 0 ? c.var.services.stripe : null
  if (stripe) Object.assign(mapping, suggestPriceMapping((await accountPrices(stripe)).prices, catalog))
  return mapping
}

/** Queues the import of a preview once its dry run allows it; a preview already being imported answers 409. */
async function startImport(
  c: Context<AppEnv>,
  batch: PreviewBatch,
  mapping: PriceMapping,
  summary: GhostSummary,
  skipRejected: boolean,
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
  const stripe = c.var.services.stripe
  const adopt = summary.customers > 0
  if (adopt && !stripe) {
    throw new AppError(
      'payments_unavailable',
      `${summary.customers} members have a Stripe customer: set STRIPE_SECRET_KEY (the Stripe account Ghost used) so that their subscriptions can be kept. Nothing was imported.`,
    )
  }
  const names = adopt && stripe ? Object.fromEntries(await productNames(stripe)) : {}
  const { db, clock } = c.var.services
  const { job, created } = await enqueueJob<GhostImportPayload, GhostImportProgress>(db, clock.now(), {
    kind: 'ghost_import',
    key: batch.id,
    payload: { batchId: batch.id, mapping, parts: batch.parts, skipRejected, adopt, productNames: names },
    progress: emptyGhostProgress(),
    createdBy: c.var.user!.id,
  })
  if (!created)
    throw new AppError('conflict', 'This file is already being imported; its progress is on the import page.')
  c.var.services.kickJobs?.()
  return job
}

const jobJson = (job: Job) => ({
  id: job.id,
  kind: job.kind,
  state: job.state,
  progress: job.progress,
  error: job.lastError,
  description: describeGhostJob(job),
  createdAt: job.createdAt.toISOString(),
  finishedAt: job.finishedAt?.toISOString() ?? null,
})

const summaryJson = (summary: GhostSummary) => ({
  variant: summary.variant,
  counts: summary.counts,
  rejected: summary.rejected,
  tiers: summary.tiers,
  customers: summary.customers,
  prices: summary.prices.map((p) => ({
    priceId: p.price.priceId,
    productId: p.price.productId,
    productName: p.price.productName,
    mappedTo: p.mappedTo,
  })),
})

const tierChoices = async (c: Context<AppEnv>) =>
  (await tierCatalog(c.var.services.db)).map((t) => ({ id: t.id, name: t.name }))

// ---------------------------------------------------------------- pages

ghostPages.get('/', async (c) =>
  page(
    c,
    'Import from Ghost',
    <GhostUploadPage notice={c.req.query('notice')} jobs={await recentJobs(c.var.services.db, ['ghost_import'])} />,
  ),
)

async function previewPage(
  c: Context<AppEnv>,
  batch: PreviewBatch,
  mapping: PriceMapping,
  error?: string,
  status: ContentfulStatusCode = 200,
) {
  const { summary, stripeMissing } = await summaryOf(c, batch, mapping)
  return page(
    c,
    'Preview: Ghost import',
    <GhostPreviewPage
      batchId={batch.id}
      plan={summary}
      tiers={await tierChoices(c)}
      error={error}
      stripeMissing={stripeMissing}
    />,
    status,
  )
}

ghostPages.post('/', async (c) =>
  submitForm(
    c,
    async () => {
      const { batch, facts } = await storeUpload(c)
      return previewPage(c, batch, await suggestedMapping(c, facts))
    },
    (errors, status) => page(c, 'Import from Ghost', <GhostUploadPage error={Object.values(errors)[0]} />, status),
  ),
)

/**
 * GET /admin/imports/ghost/:batch/rejected.csv?ghost_key=…&masthead_tier=…: the preview's rejected
 * rows under that mapping, as a CSV to fix and upload again. Donor data: audited
 * (`ghost.rejected_exported`, the preview's id and the row count), never cached.
 */
ghostPages.get('/:batch/rejected.csv', async (c) => {
  const { db, clock } = c.var.services
  const now = clock.now()
  const batch = await findGhostPreview(db, now, c.req.param('batch'))
  const mapping = mappingFromForm({
    ghost_key: c.req.queries('ghost_key') ?? [],
    masthead_tier: c.req.queries('masthead_tier') ?? [],
  })
  const catalog = await tierCatalog(db)
  const lines = await ghostRejectedLines(db, await c.var.services.keyring, batch.id, catalog, mapping, now)
  await audit(db, now, c.var.user, 'ghost.rejected_exported', null, { batch: batch.id, rows: lines.length })
  return c.body(ghostRejectedCsv(lines), 200, {
    'Content-Type': 'text/csv; charset=utf-8',
    'Content-Disposition': `attachment; filename="ghost-rejected-${now.toISOString().slice(0, 10)}.csv"`,
    'Cache-Control': 'private, no-store',
  })
})

ghostPages.post('/:batch', bodyLimit(), async (c) => {
  const { db, clock } = c.var.services
  const body = await readForm(c, { all: true })
  const mapping = mappingFromForm(body)
  const batch = await findGhostPreview(db, clock.now(), c.req.param('batch'))
  if (body.action !== 'commit' && body.action !== 'commit-valid') return previewPage(c, batch, mapping)
  return submitForm(
    c,
    async () => {
      const { summary } = await summaryOf(c, batch, mapping)
      await startImport(c, batch, mapping, summary, body.action === 'commit-valid')
      const notice = 'The import has started. It runs in the background; its progress is below.'
      return c.redirect(pathTo(c, `/admin/imports/ghost?${new URLSearchParams({ notice })}`), 303)
    },
    (errors, status) => previewPage(c, batch, mapping, Object.values(errors)[0], status),
  )
})

// ---------------------------------------------------------------- API

/**
 * POST /api/admin/imports/ghost, multipart: `file`, optional `mapping` (JSON: Ghost tier names and
 * Stripe price ids, product ids or product names to tier ids), optional `dry_run` ("true": only
 * preview), optional `skip_rejected` ("true": import the valid rows, leave the rejected ones out).
 * Answers the plan; an import with any rejected row writes nothing (422) unless skip_rejected.
 * Otherwise 202 with the job, whose progress GET /api/admin/imports/jobs/:id gives.
 */
ghostApi.post('/', async (c) => {
  const { db, clock } = c.var.services
  const { batch, fields } = await storeUpload(c)
  try {
    const mapping = mappingFromJson(fields.mapping)
    const { summary } = await summaryOf(c, batch, mapping)
    if (fields.dry_run === 'true' || fields.dry_run === '1') {
      await dropPreview(db, batch.id, clock.now())
      return c.json({ dryRun: true, ...summaryJson(summary) })
    }
    const skip = fields.skip_rejected === 'true' || fields.skip_rejected === '1'
    const job = await startImport(c, batch, mapping, summary, skip)
    return c.json({ dryRun: false, ...summaryJson(summary), job: jobJson(job) }, 202)
  } catch (error) {
    await dropPreview(db, batch.id, clock.now())
    throw error
  }
})
