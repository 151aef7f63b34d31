import { Hono, type Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { AppError } from '../../http/errors'
import { submitForm } from '../../http/forms'
import { requireRole } from '../../http/guards'
import { readBody, typed } from '../../http/input'
import { pathTo } from '../../http/paths'
import { recentJobs, type Job } from '../../jobs/jobs'
import { openAccount } from '../../privacy/people'
import type { AppEnv } from '../../services'
import { page } from '../../ui/layout'
import { issuerOf, statementJson, statementOf, statementYears, yearFromPath } from './ledger'
import { StatementAdminPage, StatementList, StatementPage } from './pages'
import {
  describeStatementJob,
  startStatements,
  statementCounts,
  statementYearCounts,
  yearToSend,
  type StatementProgress,
} from './sending'

/**
 * Receipts and year-end statements. A donor's own statements, under /account/statements (and
 * /api/account/statements): the years with payments, and a year's printable statement. The year's
 * sending, for admins, under /admin/statements (and /api/admin/statements).
 */
export const statementPages = new Hono<AppEnv>().use(requireRole('reader'))
export const statementApi = new Hono<AppEnv>().use(requireRole('reader'))
export const statementAdminPages = new Hono<AppEnv>().use(requireRole('admin'))
export const statementAdminApi = new Hono<AppEnv>().use(requireRole('admin'))

// ---------------------------------------------------------------- a donor's own

/** The signed-in account's statement for the year in the path: 400 for a year that is no year, 404 for one without payments. */
async function ownStatement(c: Context<AppEnv>) {
  const { db, clock } = c.var.services
  const year = yearFromPath(c.req.param('year') ?? '', clock.now())
  const statement = await statementOf(db, c.var.user!.id, year)
  if (statement.lines.length === 0) {
    throw new AppError('not_found', `You made no payments in ${year}, so there is no statement for it.`)
  }
  // A page of personal data: kept by no cache.
  c.header('Cache-Control', 'private, no-store')
  return statement
}

statementPages.get('/', async (c) =>
  page(c, 'Your statements', <StatementList years={await statementYears(c.var.services.db, c.var.user!.id)} />),
)

statementPages.get('/:year', async (c) => {
  const statement = await ownStatement(c)
  const donor = await openAccount(await c.var.services.keyring, c.var.user!.stored)
  const issuer = issuerOf(c.var.services.config)
  return page(
    c,
    `Statement ${statement.year}`,
    <StatementPage statement={statement} issuer={issuer} donor={donor} issuedOn={c.var.services.clock.now()} />,
  )
})

statementApi.get('/', async (c) => c.json({ years: await statementYears(c.var.services.db, c.var.user!.id) }))

statementApi.get('/:year', async (c) =>
  c.json({ statement: statementJson(await ownStatement(c), issuerOf(c.var.services.config)) }),
)

// ---------------------------------------------------------------- admins: sending a year's statements

const JOB_KINDS = ['year_end_statements'] as const

const jobJson = (job: Job) => ({
  id: job.id,
  state: job.state,
  progress: job.progress as StatementProgress,
  error: job.lastError,
  description: describeStatementJob(job),
  createdAt: job.createdAt.toISOString(),
  finishedAt: job.finishedAt?.toISOString() ?? null,
})

async function adminPage(
  c: Context<AppEnv>,
  form: { year?: string; error?: string | undefined } = {},
  status: ContentfulStatusCode = 200,
) {
  const { db, config, clock } = c.var.services
  return page(
    c,
    'Year-end statements',
    <StatementAdminPage
      years={await statementYearCounts(db)}
      jobs={await recentJobs(db, JOB_KINDS)}
      batch={config.STATEMENTS_PER_BATCH}
      suggestedYear={clock.now().getUTCFullYear() - 1}
      notice={c.req.query('notice')}
      {...form}
    />,
    status,
  )
}

statementAdminPages.get('/', (c) => adminPage(c))

statementAdminPages.post('/', async (c) => {
  const body = await readBody(c)
  return submitForm(
    c,
    async () => {
      const { services } = c.var
      const year = await yearToSend(services.db, body.year, services.clock.now())
      const { created } = await startStatements(services, c.var.user!, year)
      const notice = created
        ? `The statements for ${year} are going out in the background; their progress is below.`
        : `The statements for ${year} are already going out; their progress is below.`
      return c.redirect(pathTo(c, `/admin/statements?${new URLSearchParams({ notice })}`), 303)
    },
    (errors, status) => adminPage(c, { year: typed(body.year), error: errors.year ?? errors.form }, status),
  )
})

/** GET /api/admin/statements: per year, donors and statements sent; the latest sending jobs. */
statementAdminApi.get('/', async (c) => {
  const { db } = c.var.services
  return c.json({ years: await statementYearCounts(db), jobs: (await recentJobs(db, JOB_KINDS)).map(jobJson) })
})

/** POST /api/admin/statements {"year": 2025}: starts sending (202), or finds it going (created: false). */
statementAdminApi.post('/', async (c) => {
  const { services } = c.var
  const body = await readBody(c)
  const year = await yearToSend(services.db, body.year, services.clock.now())
  const { job, created } = await startStatements(services, c.var.user!, year)
  return c.json({ created, job: jobJson(job) }, 202)
})

/** GET /api/admin/statements/:year: how far the year's statements have got, and its latest job. */
statementAdminApi.get('/:year', async (c) => {
  const { db, clock } = c.var.services
  const year = yearFromPath(c.req.param('year'), clock.now())
  const jobs = await recentJobs(db, JOB_KINDS, 50)
  const job = jobs.find((j) => (j.progress as StatementProgress).year === year)
  const setAside = job ? (job.progress as StatementProgress).setAside : []
  return c.json({ year, ...(await statementCounts(db, year, setAside)), job: job ? jobJson(job) : null })
})
