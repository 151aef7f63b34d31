import { AppError } from '../http/errors'
import { describeError, log } from '../http/log'
import { absoluteUrl } from '../http/paths'
import type { MailMessage } from '../mail/mailer'
import type { Services } from '../services'
import { discardEmailToken, issueEmailToken, type EmailTokenPurpose } from './email-tokens'

/**
 * Where to go after signing in: a path on this site, never another site. The one function every
 * `next` goes through (the sign-in form, the stored link, the redirect), so its result is what is
 * checked: the path the URL parser makes of `next` (dot segments resolved, so `/.//evil.example`
 * becomes `//evil.example`), which must still start with exactly one slash. Anything else
 * (//evil.example, https://…, /\evil, control characters, over 512 characters) falls back to
 * `fallback`, which callers give with the base path (`pathTo(c, '/account')`). `next` is a whole
 * path as the browser sees it, base path included, so it may also be one of the publication's
 * own pages in gateway mode. The result given again gives itself (tests/accounts/links.test.ts).
 */
export function safeNextPath(next: unknown, fallback: string): string {
  if (typeof next !== 'string' || next.length > 512) return fallback
  // eslint-disable-next-line no-control-regex -- control characters are what this refuses
  if (!next.startsWith('/') || next.startsWith('//') || /[\\\u0000-\u001f\u007f]/.test(next)) return fallback
  const base = 'http://masthead.invalid'
  let url: URL
  try {
    url = new URL(next, base)
  } catch {
    return fallback // a path after a single slash always parses; should one not, it is no 500
  }
  const path = `${url.pathname}${url.search}${url.hash}`
  // A browser reads a Location of //host or /\host as another site.
  if (url.origin !== base || !path.startsWith('/') || path.startsWith('//') || path.startsWith('/\\')) return fallback
  return path.length > 512 ? fallback : path // percent-encoding may have lengthened it
}

/**
 * Stores a single-use token and e-mails its link. If the mail cannot be sent
 * the token is removed again and the person is asked to retry.
 */
export async function sendEmailLink(
  services: Services,
  requestId: string,
  fields: { purpose: EmailTokenPurpose; email: string; userId?: string; nextPath?: string },
  compose: (link: string) => MailMessage,
): Promise<void> {
  const { db, clock, mailer, config } = services
  const { token, tokenHash } = await issueEmailToken(db, await services.keyring, clock.now(), fields)
  const link = absoluteUrl(config, `/auth/verify?token=${encodeURIComponent(token)}`)
  try {
    await mailer.send(compose(link))
  } catch (error) {
    await discardEmailToken(db, tokenHash)
    log('warn', 'mail_send_failed', { requestId, purpose: fields.purpose, ...describeError(error) })
    throw new AppError('mail_unavailable', 'We could not send the e-mail just now. Please try again in a few minutes.')
  }
}
