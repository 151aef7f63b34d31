import { asc } from 'drizzle-orm'
import { Hono, type Context } from 'hono'
import { tiers } from '../db/schema'
import { AppError } from '../http/errors'
import { submitForm } from '../http/forms'
import { requireRole } from '../http/guards'
import { fieldErrors, readBody, validationError } from '../http/input'
import { pathTo } from '../http/paths'
import type { AppEnv } from '../services'
import { page } from '../ui/layout'
import { MetricsPage, SupporterErased, SupporterPage, SupportersPage } from './pages'
import { audit } from '../audit/audit'
import { hashTerm } from '../audit/search-terms'
import { compInput, grantComp, revokeComp } from './comps'
import { eraseInput, eraseSupporter } from './erase'
import { csvStream, type CsvColumn } from './csv'
import { metricsAt } from './metrics'
import { supporterDetail } from './detail'
import { toMajorUnits } from '../util/money'
import {
  allSupporters,
  countSupporters,
  filterOf,
  ignoredWords,
  supporterPage,
  parseListQuery,
  stripeDashboardUrl,
  type ListQuery,
  type SupporterRow,
} from './list'
import { refreshSupporters } from '../db/supporter-figures'

/**
 * The editors' dashboard, pages under /admin: supporters (list, details with a
 * timeline), comps and metrics, and for admins the erasure of a supporter on
 * request. Every view of a supporter's details, every export and every
 * erasure is audited. Mounted at /admin (its routes are /supporters…, /comps…
 * and /metrics), so its editors-and-up guard covers the whole staff area, which
 * is for editors and up in any case; routers for admins add their own.
 */
export const supporterPages = new Hono<AppEnv>().use(requireRole('editor'))

/** The same for API clients under /api/admin, with the CSV export (/api/admin/supporters.csv). */
export const supporterApi = new Hono<AppEnv>().use(requireRole('editor'))

const tierChoices = (c: Context<AppEnv>) =>
  c.var.services.db.select({ id: tiers.id, name: tiers.name }).from(tiers).orderBy(asc(tiers.position))

/** Personal data: never kept by any cache. */
const noStore = (c: Context<AppEnv>) => c.header('Cache-Control', 'private, no-store')

// ---------------------------------------------------------------- the list

supporterPages.get('/supporters', async (c) => {
  const { db, clock } = c.var.services
  const keyring = await c.var.services.keyring
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
  const [list, tierList] = await Promise.all([supporterPage(db, keyring, query, now), tierChoices(c)])
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
      ignoredWords={error ? [] : ignoredWords(query.q)}
      error={error}
    />,
    error ? 422 : 200,
  )
})

supporterApi.get('/supporters', async (c) => {
  const { db, clock } = c.var.services
  const keyring = await c.var.services.keyring
  noStore(c)
  const query = parseListQuery(c.req.query())
  const now = clock.now()
  await refreshSupporters(db)
  const list = await supporterPage(db, keyring, query, now)
  return c.json({
    supporters: list.rows,
    count: list.count,
    nextCursor: list.nextCursor,
    // Words of the search too short to be searched for (src/supporters/list.ts, SEARCH_TOO_SHORT).
    ignoredWords: ignoredWords(query.q),
  })
})

/** An amount in its currency's major units, as a number a spreadsheet reads: 1250 usd → 12.5, 1000 jpy → 1000. */
const majorCell = (amount: number | null, currency: string | null) =>
  amount === null ? null : Number(toMajorUnits(amount, currency ?? 'usd'))

const CSV_COLUMNS: CsvColumn<SupporterRow>[] = [
  { header: 'email', value: (r) => r.email },
  { header: 'name', value: (r) => r.name },
  { header: 'status', value: (r) => r.status },
  { header: 'source', value: (r) => r.source },
  { header: 'tier', value: (r) => r.tierId },
  { header: 'interval', value: (r) => r.interval },
  { header: 'amount', value: (r) => majorCell(r.amount, r.currency) },
  { header: 'currency', value: (r) => r.currency },
  { header: 'supporter_since', value: (r) => r.since },
  { header: 'lifetime_amount', value: (r) => majorCell(r.lifetimeAmount, r.lifetimeCurrency ?? r.currency) },
  { header: 'lifetime_currency', value: (r) => r.lifetimeCurrency },
  { header: 'last_payment', value: (r) => r.lastPaymentAt },
  { header: 'patreon', value: (r) => (r.patreonStatus ? (r.movedFromPatreon ? 'moved' : r.patreonStatus) : null) },
]

/**
 * The filter as the audit log keeps it: what staff typed (the search, and a tier that is none
 * of the tiers) as a keyed hash, since it often names someone (src/audit/search-terms.ts);
 * chosen values (statuses, tier ids, dates, the sort) as they are.
 */
async function auditedFilter(c: Context<AppEnv>, query: ListQuery): Promise<Record<string, string>> {
  const secret = c.var.services.config.ENTITLEMENT_TOKEN_SECRET
  const filter = filterOf(query)
  if (filter.q !== undefined) filter.q = await hashTerm(secret, filter.q)
  if (filter.tier !== undefined && !(await tierChoices(c)).some((t) => t.id === filter.tier)) {
    filter.tier = await hashTerm(secret, filter.tier)
  }
  return filter
}

/**
 * The current filter as CSV, streamed a thousand rows at a time, each batch decrypted as the
 * next is read; audited with the filter and the row count.
 */
supporterApi.get('/supporters.csv', async (c) => {
  const { db, clock } = c.var.services
  const keyring = await c.var.services.keyring
  const query = parseListQuery(c.req.query())
  const now = clock.now()
  await refreshSupporters(db)
  const rows = await countSupporters(db, keyring, query, now)
  await audit(db, now, c.var.user, 'supporters.exported', null, { filter: await auditedFilter(c, query), rows })
  const stamp = now.toISOString().slice(0, 10)
  // Through c.body, not `new Response`: a Response of its own drops the headers set before the
  // handler ran (X-Request-Id, a renewed session's cookie).
  return c.body(csvStream(CSV_COLUMNS, allSupporters(db, keyring, { ...query, cursor: undefined }, now)), 200, {
    'Content-Type': 'text/csv; charset=utf-8',
    'Content-Disposition': `attachment; filename="supporters-${stamp}.csv"`,
    'Cache-Control': 'private, no-store',
  })
})

// ---------------------------------------------------------------- one supporter

async function detailFor(c: Context<AppEnv>) {
  const { db, config, clock } = c.var.services
  const id = c.req.param('id') ?? ''
  const detail = await supporterDetail(db, await c.var.services.keyring, config, id, clock.now())
  if (!detail) throw new AppError('not_found', 'There is no supporter with that id.')
  await audit(db, clock.now(), c.var.user, 'supporter.viewed', id)
  return detail
}

const NOTICES: Record<string, string> = { granted: 'Comp granted.', revoked: 'Comp revoked.' }

async function detailPage(
  c: Context<AppEnv>,
  error?: string,
  status: 200 | 404 | 409 | 422 = 200,
  eraseError?: string,
) {
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
      notice={error || eraseError ? undefined : NOTICES[c.req.query('notice') ?? '']}
      canErase={c.var.user?.role === 'admin'}
      eraseError={eraseError}
    />,
    status,
  )
}

supporterPages.get('/supporters/:id', (c) => detailPage(c))

supporterApi.get('/supporters/:id', async (c) => {
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

supporterPages.post('/supporters/:id/comps', async (c) => {
  const { db, config, clock } = c.var.services
  const id = c.req.param('id')
  return submitForm(
    c,
    async () => {
      await grantComp(db, config, clock.now(), c.var.user!, id, await readComp(c))
      return c.redirect(pathTo(c, `/admin/supporters/${id}?notice=granted`), 303)
    },
    (errors, status) => detailPage(c, Object.values(errors)[0], status as 409 | 422),
  )
})

supporterApi.post('/supporters/:id/comps', async (c) => {
  const { db, config, clock } = c.var.services
  const grant = await grantComp(db, config, clock.now(), c.var.user!, c.req.param('id'), await readComp(c))
  return c.json({ grant }, 201)
})

supporterPages.post('/comps/:id/revoke', async (c) => {
  const { db, clock } = c.var.services
  const grant = await revokeComp(db, clock.now(), c.var.user!, c.req.param('id'))
  return c.redirect(pathTo(c, `/admin/supporters/${grant.userId}?notice=revoked`), 303)
})

supporterApi.post('/comps/:id/revoke', async (c) => {
  const { db, clock } = c.var.services
  return c.json({ grant: await revokeComp(db, clock.now(), c.var.user!, c.req.param('id')) })
})

// ---------------------------------------------------------------- erasure on request (admins)

/** Erases a supporter at their request: the same removal as deleting one's own account, audited by id. */
supporterPages.post('/supporters/:id/erase', requireRole('admin'), async (c) => {
  const { db, clock } = c.var.services
  const id = c.req.param('id')
  return submitForm(
    c,
    async () => {
      const parsed = eraseInput.safeParse(await readBody(c))
      if (!parsed.success) throw validationError(fieldErrors(parsed.error))
      await eraseSupporter(db, await c.var.services.keyring, clock.now(), c.var.user!, id)
      return page(c, 'Supporter erased', <SupporterErased />)
    },
    (errors, status) => detailPage(c, undefined, status as 409 | 422, errors.confirm ?? errors.form),
  )
})

supporterApi.delete('/supporters/:id', requireRole('admin'), async (c) => {
  const { db, clock } = c.var.services
  const id = c.req.param('id')
  await eraseSupporter(db, await c.var.services.keyring, clock.now(), c.var.user!, id)
  return c.json({ ok: true, erased: id })
})

// ---------------------------------------------------------------- metrics

supporterPages.get('/metrics', async (c) => {
  noStore(c)
  const { db, clock } = c.var.services
  return page(c, 'Metrics', <MetricsPage metrics={await metricsAt(db, clock.now())} />)
})

supporterApi.get('/metrics', async (c) => {
  noStore(c)
  const { db, clock } = c.var.services
  return c.json(await metricsAt(db, clock.now()))
})
