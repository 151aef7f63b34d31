import type { Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { AppEnv } from '../services'
import { wantsJson } from './doors'
import { AppError } from './errors'
import { validationError, type FieldErrors } from './input'

/** Draws a form again with its errors (by field; `form` for one about the whole form), answered with `status`. */
export type RenderForm = (errors: FieldErrors, status: ContentfulStatusCode) => Response | Promise<Response>

/**
 * The one way a form's mistake is answered: people get the page again with
 * the messages beside their fields and a 4xx (422, or 409 for a conflict);
 * API clients get the JSON error shape. Bad input changes nothing.
 */
export async function answerFormError(
  c: Context<AppEnv>,
  problem: AppError | FieldErrors,
  render: RenderForm,
): Promise<Response> {
  const error = problem instanceof AppError ? problem : validationError(problem)
  if (wantsJson(c)) throw error
  const errors = problem instanceof AppError ? { [problem.field ?? 'form']: problem.message } : problem
  return render(errors, error.status)
}

/**
 * Runs what a form asks for. A mistake it reports (an AppError under 500) is
 * answered as a form error; anything else goes on to onError.
 */
export async function submitForm(
  c: Context<AppEnv>,
  action: () => Promise<Response>,
  render: RenderForm,
): Promise<Response> {
  try {
    return await action()
  } catch (error) {
    if (!(error instanceof AppError) || error.status >= 500) throw error
    return answerFormError(c, error, render)
  }
}

/** A form's checkbox ("on", as browsers send it) or an API client's boolean: ticked or not. */
export const ticked = (value: unknown): boolean =>
  value === true || (typeof value === 'string' && ['on', '1', 'true', 'yes'].includes(value.trim().toLowerCase()))
