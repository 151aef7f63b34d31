import { Hono, type Context } from 'hono'
import { AppError } from '../http/errors'
import { requireRole } from '../http/guards'
import type { AppEnv } from '../services'
import { page } from '../ui/layout'
import { listAudit } from './audit'
import { AuditPage } from './pages'

/** The audit log, for admins: /admin/audit, newest first, a hundred entries a page. */
export const auditPages = new Hono<AppEnv>().use(requireRole('admin'))

/** The same for API clients: /api/admin/audit. */
export const auditApi = new Hono<AppEnv>().use(requireRole('admin'))

/** Personal data: never kept by any cache. */
const noStore = (c: Context<AppEnv>) => c.header('Cache-Control', 'private, no-store')

function beforeOf(c: Context<AppEnv>): number | undefined {
  const before = c.req.query('before')
  if (before === undefined || before === '') return undefined
  if (!/^\d{1,15}$/.test(before)) throw new AppError('validation_failed', '"before" must be an entry id.')
  return Number(before)
}

const AUDIT_PAGE = 100

auditPages.get('/', async (c) => {
  noStore(c)
  const entries = await listAudit(c.var.services.db, await c.var.services.keyring, beforeOf(c), AUDIT_PAGE)
  const next = entries.length === AUDIT_PAGE ? entries.at(-1)!.id : null
  return page(c, 'Audit log', <AuditPage entries={entries} nextBefore={next} />)
})

auditApi.get('/', async (c) => {
  noStore(c)
  const entries = await listAudit(c.var.services.db, await c.var.services.keyring, beforeOf(c), AUDIT_PAGE)
  return c.json({ entries, nextBefore: entries.length === AUDIT_PAGE ? entries.at(-1)!.id : null })
})
