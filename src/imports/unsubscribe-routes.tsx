import { sql } from 'drizzle-orm'
import { Hono, type Context } from 'hono'
import { rowsOf } from '../db/client'
import { AppError } from '../http/errors'
import { bodyLimit } from '../http/middleware'
import { pathTo } from '../http/paths'
import type { AppEnv } from '../services'
import { page } from '../ui/layout'
import { sha256Hex } from '../util/random'

/**
 * The invitations' unsubscribe link (src/imports/invitations.ts), at /invitations/unsubscribe:
 * GET shows a button, POST stops them. Mail providers' one-click unsubscribe (RFC 8058) posts to
 * the same URL from elsewhere, with no cookie and no Origin of ours, so app.ts mounts this before
 * the same-origin check: the unguessable token is the permission, and all it can do is stop
 * e-mails, once (asking again changes nothing).
 */
export const invitationUnsubscribe = new Hono<AppEnv>().use(bodyLimit())

const tokenOf = (c: Context<AppEnv>) => {
  const token = c.req.query('token') ?? ''
  if (!/^[\w-]{16,128}$/.test(token)) {
    throw new AppError('not_found', 'This unsubscribe link is not one we sent. Use the link in the e-mail as it is.')
  }
  return token
}

invitationUnsubscribe.get('/unsubscribe', (c) => {
  const token = tokenOf(c)
  const { config } = c.var.services
  return page(
    c,
    'No more e-mails about moving from Patreon',
    <>
      <h1>No more e-mails about moving from Patreon</h1>
      <p>
        {config.PUBLICATION_NAME} will not e-mail you again about continuing your membership outside Patreon. Your
        membership itself does not change.
      </p>
      <form method="post" action={pathTo(c, `/invitations/unsubscribe?${new URLSearchParams({ token })}`)}>
        <button type="submit">Stop these e-mails</button>
      </form>
    </>,
  )
})

invitationUnsubscribe.post('/unsubscribe', async (c) => {
  const token = tokenOf(c)
  const { db, clock } = c.var.services
  const found = await rowsOf<{ user_id: string }>(
    db,
    sql`update patreon_members set unsubscribed_at = coalesce(unsubscribed_at, ${clock.now().toISOString()}::timestamptz)
        where unsubscribe_token_hash = ${sha256Hex(token)} returning user_id`,
  )
  if (found.length === 0) {
    throw new AppError('not_found', 'This unsubscribe link is not one we sent. Use the link in the e-mail as it is.')
  }
  return page(
    c,
    'Unsubscribed',
    <>
      <h1>Done</h1>
      <p role="status">You will get no more e-mails about moving your membership from Patreon.</p>
    </>,
  )
})
