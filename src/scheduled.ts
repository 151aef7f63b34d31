import { statementJobs } from './billing/statements/sending'
import { giftJobs } from './billing/gifts/jobs'
import { importJobs } from './imports/jobs'
import { runDueJobs, type JobHandlers, type RunReport } from './jobs/jobs'
import type { Services } from './services'

/**
 * The jobs Masthead runs off the request path (src/jobs/jobs.ts), for both entries: the Worker's
 * Cron Trigger (src/worker.ts `scheduled`) and the Node server's loop (src/node.ts) call
 * `runJobs`, so the same steps run the same way on both.
 */
export const JOB_HANDLERS: JobHandlers = { ...importJobs, ...statementJobs, ...giftJobs }

export function runJobs(services: Services, budgetMs: number): Promise<RunReport> {
  return runDueJobs(services, JOB_HANDLERS, { budgetMs })
}
