import { asc } from 'drizzle-orm'
import { Hono, type Context } from 'hono'
import { submitForm } from '../http/forms'
import { requireRole } from '../http/guards'
import { bodyLimit } from '../http/middleware'
import { tiers } from '../db/schema'
import { AppError } from '../http/errors'
import { readForm } from '../http/input'
import { absoluteUrl, pathTo } from '../http/paths'
import type { AppEnv } from '../services'
import { PatreonPreviewPage, PatreonUploadPage } from './pages'
import { page } from '../ui/layout'
import { sendInvitations } from './invitations'
import { PatreonCsvError, parsePatreonCsv, type PatreonParseResult } from './patreon-csv'
import { commitImport, emptyMapping, planImport, type TierMapping } from './patreon-import'
import { dropPreview, loadPreview, savePreview } from './previews'

/**
 * A Patreon export can run to megabytes: the parser refuses files over 20 MiB
 * with its own message, and this bounds the request.
 */
const UPLOAD_MAX_BYTES = 21 * 1024 * 1024

/**
 * Moving from Patreon, for admins, /admin/imports: upload → preview (dry run,
 * tier mapping) → import; and the invitations to continue via Stripe. Its body
 * limit is the upload's, so app.ts mounts it before the default limit.
 */
export const importPages = new Hono<AppEnv>().use(requireRole('admin'), bodyLimit(UPLOAD_MAX_BYTES))

/** The same for API clients: /api/admin/imports. */
export const importApi = new Hono<AppEnv>().use(requireRole('admin'), bodyLimit(UPLOAD_MAX_BYTES))

const tierChoices = (c: Context<AppEnv>) =>
  c.var.services.db.select({ id: tiers.id, name: tiers.name }).from(tiers).orderBy(asc(tiers.position))

/** The uploaded file, read as bytes (the parser checks it is UTF-8 and a Patreon export). */
async function readUpload(
  c: Context<AppEnv>,
): Promise<{ parsed: PatreonParseResult; fields: Record<string, unknown> }> {
  const type = c.req.header('content-type') ?? ''
  if (!type.includes('multipart/form-data')) {
    throw new AppError('unsupported_media_type', 'Upload the CSV as multipart/form-data, in a field named "file".')
  }
  const form = await readForm(c)
  const file = form.file
  if (!(file instanceof File) || file.size === 0) {
    throw new AppError('validation_failed', 'Choose the CSV file exported from Patreon; the upload was empty.')
  }
  try {
    return { parsed: parsePatreonCsv(new Uint8Array(await file.arrayBuffer())), fields: form }
  } catch (error) {
    if (error instanceof PatreonCsvError) throw new AppError('validation_failed', error.message)
    throw error
  }
}

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

/** Preselects a Masthead tier whose name is the Patreon tier's, for the admin to confirm or change. */
async function suggestedMapping(c: Context<AppEnv>, parsed: PatreonParseResult): Promise<TierMapping> {
  const choices = await tierChoices(c)
  const mapping = emptyMapping()
  for (const row of parsed.rows) {
    if (!row.tier || Object.hasOwn(mapping, row.tier)) continue
    const same = choices.find((t) => t.name.toLowerCase() === row.tier!.toLowerCase())
    if (same) mapping[row.tier] = same.id
  }
  return mapping
}

// ---------------------------------------------------------------- pages

importPages.get('/patreon', (c) => page(c, 'Import from Patreon', <PatreonUploadPage notice={c.req.query('notice')} />))

async function previewPage(
  c: Context<AppEnv>,
  batchId: string,
  mapping: TierMapping,
  error?: string,
  status: 200 | 422 = 200,
) {
  const { db, config, clock } = c.var.services
  const keyring = await c.var.services.keyring
  const stored = await loadPreview(db, keyring, clock.now(), batchId)
  const plan = await planImport(db, keyring, config, stored.rows, stored.rejected, mapping, clock.now())
  return page(
    c,
    'Preview: Patreon import',
    <PatreonPreviewPage batchId={batchId} plan={plan} tiers={await tierChoices(c)} error={error} />,
    status,
  )
}

importPages.post('/patreon', async (c) => {
  const { db, clock } = c.var.services
  return submitForm(
    c,
    async () => {
      const { parsed } = await readUpload(c)
      const batchId = await savePreview(db, await c.var.services.keyring, clock.now(), c.var.user!.id, parsed)
      return previewPage(c, batchId, await suggestedMapping(c, parsed))
    },
    (errors, status) => page(c, 'Import from Patreon', <PatreonUploadPage error={Object.values(errors)[0]} />, status),
  )
})

importPages.post('/patreon/:batch', async (c) => {
  const { db, config, clock } = c.var.services
  const body = await readForm(c, { all: true })
  const mapping = mappingFromForm(body)
  const batchId = c.req.param('batch')
  if (body.action !== 'commit') return previewPage(c, batchId, mapping)
  const keyring = await c.var.services.keyring
  const stored = await loadPreview(db, keyring, clock.now(), batchId)
  const plan = await planImport(db, keyring, config, stored.rows, stored.rejected, mapping, clock.now())
  return submitForm(
    c,
    async () => {
      const counts = await commitImport(db, keyring, plan, clock.now(), c.var.user, config.ADMIN_EMAILS)
      await dropPreview(db, batchId, clock.now())
      const notice = `Imported: ${counts.new} new, ${counts.updated} updated, ${counts.unchanged} unchanged.`
      return c.redirect(pathTo(c, `/admin/imports/patreon?${new URLSearchParams({ notice })}`), 303)
    },
    (errors) => previewPage(c, batchId, mapping, Object.values(errors)[0], 422),
  )
})

importPages.post('/patreon-invitations', async (c) => {
  const result = await invite(c)
  const notice = `Sent ${result.sent} invitations${result.failed ? `, ${result.failed} failed` : ''}; ${result.remaining} to go.`
  return c.redirect(pathTo(c, `/admin/imports/patreon?${new URLSearchParams({ notice })}`), 303)
})

// ---------------------------------------------------------------- API

/**
 * POST /api/admin/imports/patreon, multipart: `file`, optional `mapping`
 * (JSON), optional `dry_run` ("true" to only preview). Answers the plan's
 * counts and rejected rows; an import with any rejected row writes nothing.
 */
importApi.post('/patreon', async (c) => {
  const { db, config, clock } = c.var.services
  const keyring = await c.var.services.keyring
  const { parsed, fields } = await readUpload(c)
  const mapping = mappingFromJson(fields.mapping)
  const plan = await planImport(db, keyring, config, parsed.rows, parsed.rejected, mapping, clock.now())
  const summary = { variant: parsed.variant, counts: plan.counts, rejected: plan.rejected, tiers: plan.tiers }
  if (fields.dry_run === 'true' || fields.dry_run === '1') return c.json({ dryRun: true, ...summary })
  await commitImport(db, keyring, plan, clock.now(), c.var.user, config.ADMIN_EMAILS)
  return c.json({ dryRun: false, ...summary })
})

importApi.post('/patreon-invitations', async (c) => c.json(await invite(c)))

async function invite(c: Context<AppEnv>) {
  const { db, mailer, config, clock } = c.var.services
  return sendInvitations(db, await c.var.services.keyring, mailer, {
    now: clock.now(),
    publication: config.PUBLICATION_NAME,
    joinUrl: absoluteUrl(config, '/join'),
    limit: config.INVITATIONS_PER_BATCH,
  })
}
