import { asc } from 'drizzle-orm'
import { Hono, type Context } from 'hono'
import { requireRole } from '../accounts/session'
import { tiers } from '../db/schema'
import { AppError } from '../http/errors'
import { fieldErrors, readBody, validationError } from '../http/input'
import type { AppEnv } from '../services'
import { page } from '../ui/layout'
import { AuditPage, MetricsPage, SupporterPage, SupportersPage } from './pages'
import { audit, listAudit } from '../audit/audit'
import { compInput, grantComp, revokeComp } from './comps'
import { csvStream, type CsvColumn } from './csv'
import { metricsAt } from './metrics'
import { supporterDetail } from './detail'
import {
  allSupporters,
  countSupporters,
  filterOf,
  supporterPage,
  parseListQuery,
  refreshSupporters,
  stripeDashboardUrl,
  type SupporterRow,
} from './list'

/**
 * The editors' dashboard: supporters (list, JSON, CSV, details with a
 * timeline), comps, metrics; the audit log for admins. Every view of a
 * supporter's details and every export is audited.
 */
export const supporters = new Hono<AppEnv>()
for (const path of [
  '/admin/supporters',
  '/admin/supporters/*',
  '/api/admin/supporters',
  '/api/admin/supporters/*',
  '/api/admin/supporters.csv',
  '/admin/comps/*',
  '/api/admin/comps/*',
  '/admin/metrics',
  '/api/admin/metrics',
]) {
  supporters.use(path, requireRole('editor'))
}
supporters.use('/admin/audit', requireRole('admin'))
supporters.use('/api/admin/audit', requireRole('admin'))

const tierChoices = (c: Context<AppEnv>) =>
  c.var.services.db.select({ id: tiers.id, name: tiers.name }).from(tiers).orderBy(asc(tiers.position))

/** Personal data: never kept by any cache. */
const noStore = (c: Context<AppEnv>) => c.header('Cache-Control', 'private, no-store')

// ---------------------------------------------------------------- the list

supporters.get('/admin/supporters', async (c) => {
  const { db, clock } = c.var.services
  noStore(c)
  const raw = c.req.query()
  let error: string | undefined
  let query
  try {
    query = parseListQuery(raw)
  } catch (e) {
    if (!(e instanceof AppError)) throw e
    error = e.message
    query = parseListQuery({})
  }
  const now = clock.now()
  await refreshSupporters(db)
  const [list, tierList] = await Promise.all([supporterPage(db, query, now), tierChoices(c)])
  const count = list.count
  return page(
    c,
    'Supporters',
    <SupportersPage
      rows={list.rows}
      count={count}
      filter={error ? {} : filterOf(query)}
      tiers={tierList}
      nextCursor={list.nextCursor}
      error={error}
    />,
    error ? 422 : 200,
  )
})

supporters.get('/api/admin/supporters', async (c) => {
  const { db, clock } = c.var.services
  noStore(c)
  const query = parseListQuery(c.req.query())
  const now = clock.now()
  await refreshSupporters(db)
  const list = await supporterPage(db, query, now)
  return c.json({ supporters: list.rows, count: list.count, nextCursor: list.nextCursor })
})

const CSV_COLUMNS: CsvColumn<SupporterRow>[] = [
  { header: 'email', value: (r) => r.email },
  { header: 'name', value: (r) => r.name },
  { header: 'status', value: (r) => r.status },
  { header: 'source', value: (r) => r.source },
  { header: 'tier', value: (r) => r.tierId },
  { header: 'interval', value: (r) => r.interval },
  { header: 'amount', value: (r) => (r.amount === null ? null : r.amount / 100) },
  { header: 'currency', value: (r) => r.currency },
  { header: 'supporter_since', value: (r) => r.since },
  { header: 'lifetime_amount', value: (r) => r.lifetimeAmount / 100 },
  { header: 'lifetime_currency', value: (r) => r.lifetimeCurrency },
  { header: 'last_payment', value: (r) => r.lastPaymentAt },
  { header: 'patreon', value: (r) => (r.patreonStatus ? (r.movedFromPatreon ? 'moved' : r.patreonStatus) : null) },
]

/** The current filter as CSV, streamed a thousand rows at a time; audited with the filter and the row count. */
supporters.get('/api/admin/supporters.csv', async (c) => {
  const { db, clock } = c.var.services
  const query = parseListQuery(c.req.query())
  const now = clock.now()
  await refreshSupporters(db)
  const rows = await countSupporters(db, query, now)
  await audit(db, now, c.var.user, 'supporters.exported', null, { filter: filterOf(query), rows })
  const stamp = now.toISOString().slice(0, 10)
  return new Response(csvStream(CSV_COLUMNS, allSupporters(db, { ...query, cursor: undefined }, now)), {
    headers: {
      'Content-Type': 'text/csv; charset=utf-8',
      'Content-Disposition': `attachment; filename="supporters-${stamp}.csv"`,
      'Cache-Control': 'private, no-store',
    },
  })
})

// ---------------------------------------------------------------- one supporter

async function detailFor(c: Context<AppEnv>) {
  const { db, config, clock } = c.var.services
  const id = c.req.param('id') ?? ''
  const detail = await supporterDetail(db, config, id, clock.now())
  if (!detail) throw new AppError('not_found', 'There is no supporter with that id.')
  await audit(db, clock.now(), c.var.user, 'supporter.viewed', id)
  return detail
}

const NOTICES: Record<string, string> = { granted: 'Comp granted.', revoked: 'Comp revoked.' }

async function detailPage(c: Context<AppEnv>, error?: string, status: 200 | 404 | 409 | 422 = 200) {
  noStore(c)
  const detail = await detailFor(c)
  const { config, clock } = c.var.services
  return page(
    c,
    detail.user.email,
    <SupporterPage
      detail={detail}
      stripeLinks={detail.customerIds.map((id) => ({ id, url: stripeDashboardUrl(config, id) }))}
      tiers={await tierChoices(c)}
      now={clock.now()}
      error={error}
      notice={error ? undefined : NOTICES[c.req.query('notice') ?? '']}
    />,
    status,
  )
}

supporters.get('/admin/supporters/:id', (c) => detailPage(c))

supporters.get('/api/admin/supporters/:id', async (c) => {
  noStore(c)
  const detail = await detailFor(c)
  const { config } = c.var.services
  return c.json({
    ...detail,
    stripeCustomers: detail.customerIds.map((id) => ({ id, dashboardUrl: stripeDashboardUrl(config, id) })),
  })
})

// ---------------------------------------------------------------- comps

async function readComp(c: Context<AppEnv>) {
  const parsed = compInput.safeParse(await readBody(c))
  if (!parsed.success) throw validationError(fieldErrors(parsed.error))
  return parsed.data
}

supporters.post('/admin/supporters/:id/comps', async (c) => {
  const { db, config, clock } = c.var.services
  const id = c.req.param('id')
  try {
    await grantComp(db, config, clock.now(), c.var.user!, id, await readComp(c))
  } catch (error) {
    if (!(error instanceof AppError) || error.status === 404 || error.status >= 500) throw error
    return detailPage(c, error.message, error.status as 409 | 422)
  }
  return c.redirect(`/admin/supporters/${id}?notice=granted`, 303)
})

supporters.post('/api/admin/supporters/:id/comps', async (c) => {
  const { db, config, clock } = c.var.services
  const grant = await grantComp(db, config, clock.now(), c.var.user!, c.req.param('id'), await readComp(c))
  return c.json({ grant }, 201)
})

supporters.post('/admin/comps/:id/revoke', async (c) => {
  const { db, clock } = c.var.services
  const grant = await revokeComp(db, clock.now(), c.var.user!, c.req.param('id'))
  return c.redirect(`/admin/supporters/${grant.userId}?notice=revoked`, 303)
})

supporters.post('/api/admin/comps/:id/revoke', async (c) => {
  const { db, clock } = c.var.services
  return c.json({ grant: await revokeComp(db, clock.now(), c.var.user!, c.req.param('id')) })
})

// ---------------------------------------------------------------- metrics and audit

supporters.get('/admin/metrics', async (c) => {
  noStore(c)
  const { db, clock } = c.var.services
  return page(c, 'Metrics', <MetricsPage metrics={await metricsAt(db, clock.now())} />)
})

supporters.get('/api/admin/metrics', async (c) => {
  noStore(c)
  const { db, clock } = c.var.services
  return c.json(await metricsAt(db, clock.now()))
})

function beforeOf(c: Context<AppEnv>): number | undefined {
  const before = c.req.query('before')
  if (before === undefined || before === '') return undefined
  if (!/^\d{1,15}$/.test(before)) throw new AppError('validation_failed', '"before" must be an entry id.')
  return Number(before)
}

const AUDIT_PAGE = 100

supporters.get('/admin/audit', async (c) => {
  noStore(c)
  const entries = await listAudit(c.var.services.db, beforeOf(c), AUDIT_PAGE)
  const next = entries.length === AUDIT_PAGE ? entries.at(-1)!.id : null
  return page(c, 'Audit log', <AuditPage entries={entries} nextBefore={next} />)
})

supporters.get('/api/admin/audit', async (c) => {
  noStore(c)
  const entries = await listAudit(c.var.services.db, beforeOf(c), AUDIT_PAGE)
  return c.json({ entries, nextBefore: entries.length === AUDIT_PAGE ? entries.at(-1)!.id : null })
})
