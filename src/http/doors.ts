import type { Context } from 'hono'
import { createMiddleware } from 'hono/factory'
import type { AppEnv } from '../services'

/**
 * Who the requests under a prefix are for, declared once per prefix in app.ts
 * (never by testing paths in shared middleware):
 * - `people`: pages; errors are pages too (the default for anything not mounted otherwise);
 * - `machines`: API clients, Stripe, monitors; errors in the JSON error shape;
 * - `either`: forms post here and API clients too; JSON only to a client that sends or asks for it.
 */
export type Audience = 'people' | 'machines' | 'either'

/**
 * Declares who the requests under a prefix are for. app.ts puts these first,
 * before anything that can fail (a body too large, a request from another
 * site), so that every answer, errors included, is in the kind they expect.
 */
export const answers = (who: Audience) =>
  createMiddleware<AppEnv>((c, next) => {
    c.set('audience', who)
    return next()
  })

/** Whether this request gets JSON (errors included) rather than a page. */
export function wantsJson(c: Context<AppEnv>): boolean {
  const who = c.var.audience ?? 'people'
  if (who !== 'either') return who === 'machines'
  const accept = c.req.header('accept') ?? ''
  const type = c.req.header('content-type') ?? ''
  return type.includes('application/json') || (accept.includes('application/json') && !accept.includes('text/html'))
}
