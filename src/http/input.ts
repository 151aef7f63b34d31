import type { Context } from 'hono'
import * as z from 'zod'
import { AppError } from './errors'

/**
 * Reads a request body sent as JSON or as an HTML form into a plain object.
 * Anything else is refused with 415, unreadable JSON with 400.
 */
export async function readBody(c: Context): Promise<Record<string, unknown>> {
  const type = c.req.header('content-type') ?? ''
  if (type.includes('application/json')) {
    const body: unknown = await c.req.json<unknown>().catch(() => {
      throw new AppError('bad_request', 'The request body is not valid JSON.')
    })
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new AppError('bad_request', 'The request body must be a JSON object.')
    }
    return body as Record<string, unknown>
  }
  if (type.includes('application/x-www-form-urlencoded') || type.includes('multipart/form-data')) {
    const form = await c.req.parseBody()
    return Object.fromEntries(Object.entries(form).filter(([, v]) => typeof v === 'string'))
  }
  throw new AppError('unsupported_media_type', 'Send the request as JSON or as a form.')
}

/** What a person typed into a text field, to show it again: JSON may carry anything, a form only strings. */
export const typed = (value: unknown): string => (typeof value === 'string' ? value : '')

/** Field errors by field name, for forms to show beside each input. */
export type FieldErrors = Record<string, string>

export function fieldErrors(error: z.ZodError): FieldErrors {
  const out: FieldErrors = {}
  for (const issue of error.issues) {
    const field = String(issue.path[0] ?? 'form')
    out[field] ??= issue.message
  }
  return out
}

/** The 422 for a JSON client: the first problem found, in words. (Forms show every field error instead.) */
export function validationError(errors: FieldErrors): AppError {
  const message = Object.values(errors)[0] ?? 'The request is not valid.'
  return new AppError('validation_failed', message)
}

/** An e-mail address from a form or JSON, as every address is stored: trimmed and lower-cased. */
export const emailField = z
  .string({ error: 'Enter your e-mail address.' })
  .trim()
  .toLowerCase()
  .min(1, 'Enter your e-mail address.')
  .max(254, 'That e-mail address is too long.')
  .pipe(z.email({ error: 'Enter a valid e-mail address, like name@example.org.' }))
