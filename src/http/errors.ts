import type { Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { AppEnv } from '../services'
import { ErrorPage } from '../ui/error-page'
import { homePath } from '../ui/paths'
import { ConfigError, isTestMode } from '../config'
import { isPgError } from '../db/pg-errors'
import { wantsJson } from './doors'
import { describeError, log } from './log'

/** Every error Masthead answers with, and its HTTP status. */
const STATUS = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  validation_failed: 422,
  invalid_token: 400,
  rate_limited: 429,
  internal_error: 500,
  misconfigured: 500,
  database_unavailable: 503,
  database_not_migrated: 503,
  mail_unavailable: 503,
  payments_unavailable: 503,
  origin_unavailable: 502,
  origin_timeout: 504,
} as const satisfies Record<string, ContentfulStatusCode>

export type ErrorCode = keyof typeof STATUS

/**
 * The one error type handlers throw; `onError` turns it into the response.
 * `field` names the form field it is about, so that a form shown again can
 * put the message beside that field (src/http/forms.ts).
 */
export class AppError extends Error {
  readonly status: ContentfulStatusCode
  readonly headers: Record<string, string>
  readonly field: string | undefined
  constructor(
    readonly code: ErrorCode,
    message: string,
    options: { headers?: Record<string, string>; field?: string; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause })
    this.name = 'AppError'
    this.status = STATUS[code]
    this.headers = options.headers ?? {}
    this.field = options.field
  }
}

const codeForStatus = (status: number): ErrorCode =>
  (Object.entries(STATUS).find(([, s]) => s === status)?.[0] as ErrorCode | undefined) ??
  (status >= 500 ? 'internal_error' : 'bad_request')

export function errorResponse(c: Context<AppEnv>, error: AppError): Response | Promise<Response> {
  const requestId = c.get('requestId')
  for (const [name, value] of Object.entries(error.headers)) c.header(name, value)
  if (wantsJson(c)) {
    return c.json({ error: { code: error.code, message: error.message, requestId } }, error.status)
  }
  // Services are missing when they could not be built (a misconfigured Worker).
  const config = c.get('services')?.config
  const page = ErrorPage({
    status: error.status,
    message: error.message,
    requestId,
    publication: config?.PUBLICATION_NAME,
    testMode: config ? isTestMode(config) : undefined,
    base: config?.MASTHEAD_PATH,
    home: config ? homePath(config) : undefined,
  })
  return c.html(page, error.status)
}

export function onError(err: Error, c: Context<AppEnv>): Response | Promise<Response> {
  if (err instanceof AppError) return errorResponse(c, err)
  if (err instanceof HTTPException && err.status < 500) {
    const status = err.status
    return errorResponse(c, new AppError(codeForStatus(status), err.message || 'The request could not be handled.'))
  }
  // A table or column the code reads is missing: the database is older than the code, deployed
  // before `npm run db:migrate` ran (the Worker never migrates). The operator's to fix, not a bug.
  const notMigrated = isPgError(err, 'undefinedTable') || isPgError(err, 'undefinedColumn')
  const event =
    err instanceof ConfigError ? 'config_invalid' : notMigrated ? 'database_not_migrated' : 'unhandled_error'
  log('error', event, { requestId: c.get('requestId'), method: c.req.method, path: c.req.path, ...describeError(err) })
  if (notMigrated) {
    return errorResponse(
      c,
      new AppError(
        'database_not_migrated',
        'The database is not set up for this version of the site yet. Its operator must run npm run db:migrate.',
        { headers: { 'Retry-After': '60' } },
      ),
    )
  }
  if (err instanceof ConfigError) {
    return errorResponse(
      c,
      new AppError('misconfigured', 'The server is not configured correctly. Its operators have been told.'),
    )
  }
  return errorResponse(
    c,
    new AppError('internal_error', 'Something went wrong on our side. If it keeps happening, quote the request id.'),
  )
}

export function notFound(c: Context<AppEnv>): Response | Promise<Response> {
  return errorResponse(c, new AppError('not_found', `There is nothing at ${c.req.path}.`))
}
