import { statementJobs } from './billing/statements/sending'
import { giftJobs } from './billing/gifts/jobs'
import { importJobs } from './imports/jobs'
import { placeWaitingAccounts } from './accounts/name-order'
import { describeError, log } from './http/log'
import { runDueJobs, type JobHandlers, type RunReport } from './jobs/jobs'
import type { Services } from './services'

/**
 * The jobs Masthead runs off the request path (src/jobs/jobs.ts), for both entries: the Worker's
 * Cron Trigger (src/worker.ts `scheduled`) and the Node server's loop (src/node.ts) call
 * `runJobs`, so the same steps run the same way on both.
 */
export const JOB_HANDLERS: JobHandlers = { ...importJobs, ...statementJobs, ...giftJobs }

/**
 * First the accounts waiting for a place in the name order (a signed-out reader's paid checkout:
 * src/accounts/name-order.ts `placeWaitingAccounts`), then the due steps. A failure to place is
 * logged and the jobs still run; the next run places them.
 */
export async function runJobs(services: Services, budgetMs: number): Promise<RunReport> {
  try {
    await placeWaitingAccounts(services.db, await services.keyring)
  } catch (error) {
    log('error', 'name_order_placement_failed', describeError(error))
  }
  return runDueJobs(services, JOB_HANDLERS, { budgetMs })
}
