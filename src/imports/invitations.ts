import { sql } from 'drizzle-orm'
import { rowsOf, type Database } from '../db/client'
import { patreonMembers } from '../db/schema'
import { inList, PAYING_STATUSES } from '../db/statuses'
import { AppError } from '../http/errors'
import { describeError, log } from '../http/log'
import type { MailMessage, Mailer } from '../mail/mailer'
import type { Keyring } from '../privacy/keys'
import { openAddress } from '../privacy/people'
import { escapeHtml } from '../util/html'
import { randomToken, sha256Hex } from '../util/random'

/** Invitations go out at most this many at a time, and a batch at most once a minute. */
export const INVITATION_BATCH = 100
export const INVITATION_INTERVAL_MS = 60_000

/** Where an invitation's unsubscribe link leads, under Masthead's path (src/imports/unsubscribe-routes.tsx). */
export const UNSUBSCRIBE_PATH = '/invitations/unsubscribe'

/**
 * The invitation, with a one-click way to stop them (RFC 8058: `List-Unsubscribe` with its
 * `List-Unsubscribe-Post`, and the same link in the text), when `unsubscribeUrl` is given.
 */
export function invitationMessage(
  to: string,
  publication: string,
  joinUrl: string,
  tier: { id: string; name: string },
  unsubscribeUrl?: string,
  /** The one reminder, some days after the invitation. */
  reminder = false,
): MailMessage {
  const link = `${joinUrl}?${new URLSearchParams({ tier: tier.id, from: 'patreon' })}`
  const lines = [
    ...(reminder ? ['A reminder, in case our first e-mail went astray.'] : []),
    `${publication} is leaving Patreon and now takes memberships directly.`,
    `Your ${tier.name} membership carries on until your paid time runs out. To keep it after that, continue here (your tier is already chosen): ${link}`,
    'If you do nothing, your membership simply ends when your Patreon payments stop. Thank you for your support.',
  ]
  const stop = unsubscribeUrl ? `No more e-mails about this: ${unsubscribeUrl}` : null
  return {
    to,
    subject: `${reminder ? 'Reminder: continue' : 'Continue'} your ${publication} membership`,
    text: `${[...lines, ...(stop ? [stop] : [])].join('\n\n')}\n`,
    html: `<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">${lines
      .map((l) => `<p>${escapeHtml(l)}</p>`)
      .join('')}<p><a href="${escapeHtml(link)}">Continue my membership</a></p>${
      unsubscribeUrl
        ? `<p style="font-size:small"><a href="${escapeHtml(unsubscribeUrl)}">No more e-mails about this</a></p>`
        : ''
    }</body></html>`,
    ...(unsubscribeUrl
      ? {
          headers: { 'List-Unsubscribe': `<${unsubscribeUrl}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
        }
      : {}),
  }
}

/** What a batch did, and what is left: invitations not sent yet, and when the next reminder is due. */
export interface InvitationBatch {
  sent: number
  failed: number
  /** Of `sent`, the reminders. */
  reminded: number
  remaining: number
  /** When the next reminder falls due (null: none is pending). */
  nextReminderAt: Date | null
}

/**
 * Invites imported active patrons who have not moved to Stripe yet and have
 * not been invited, through the Mailer, a batch at a time; with `reminderDays`,
 * reminds once, that many days after their invitation, those who have still not
 * moved. Nobody who unsubscribed is written to. Each address is marked before
 * its e-mail goes out, so a crash never sends one twice.
 */
export async function sendInvitations(
  db: Database,
  keyring: Keyring,
  mailer: Mailer,
  /**
   * `joinUrl`: the join page's absolute URL, base path included (absoluteUrl(config, '/join'));
   * `unsubscribeUrl`: the unsubscribe page's (absoluteUrl(config, UNSUBSCRIBE_PATH)), the token is added.
   */
  options: {
    now: Date
    publication: string
    joinUrl: string
    unsubscribeUrl?: string
    reminderDays?: number
    limit?: number
  },
): Promise<InvitationBatch> {
  const { now } = options
  const [last] = await rowsOf<{ at: Date | string | null }>(
    db,
    sql`select max(greatest(invited_at, reminded_at)) as at from ${patreonMembers}`,
  )
  if (last?.at && now.getTime() - new Date(last.at).getTime() < INVITATION_INTERVAL_MS) {
    const wait = Math.ceil((INVITATION_INTERVAL_MS - (now.getTime() - new Date(last.at).getTime())) / 1000)
    throw new AppError('rate_limited', `Invitations go out a batch a minute. Try again in ${wait} seconds.`)
  }
  const limit = Math.min(options.limit ?? INVITATION_BATCH, INVITATION_BATCH)
  const at = sql`${now.toISOString()}::timestamptz`
  // Still to move: an active patron with a mapped tier, who does not pay through Stripe and did not say stop.
  const waiting = sql`pm.status = 'active' and pm.tier_id is not null and pm.unsubscribed_at is null
    and not exists (select 1 from subscriptions s join stripe_customers sc on sc.customer_id = s.customer_id
      where sc.user_id = pm.user_id and s.status in ${inList(PAYING_STATUSES)})`
  const due = sql`${waiting} and pm.invited_at is null`
  const days = options.reminderDays
  const reminderDue = days
    ? sql`${waiting} and pm.reminded_at is null and pm.invited_at <= ${at} - make_interval(days => ${days})`
    : sql`false`
  const claim = (which: 'invited_at' | 'reminded_at', condition: ReturnType<typeof sql>, n: number) =>
    rowsOf<ClaimedRow>(
      db,
      sql`update patreon_members set ${sql.raw(which)} = ${at}
        from (select pm.user_id from patreon_members pm where ${condition} order by pm.user_id limit ${n}
          for update skip locked) pick, users u, tiers t
        where patreon_members.user_id = pick.user_id and u.id = pick.user_id and t.id = patreon_members.tier_id
        returning u.id as user_id, u.card, u.email, u.name, t.id as tier_id, t.name as tier_name`,
    )
  const invited = await claim('invited_at', due, limit)
  const reminded = invited.length < limit ? await claim('reminded_at', reminderDue, limit - invited.length) : []
  const failed =
    (await send(db, keyring, mailer, options, invited, false)) +
    (await send(db, keyring, mailer, options, reminded, true))
  const [left] = await rowsOf<{ n: number | string; next: Date | string | null }>(
    db,
    sql`select (select count(*) from patreon_members pm where ${due}) as n,
      ${
        days
          ? sql`(select min(pm.invited_at) + make_interval(days => ${days}) from patreon_members pm
              where ${waiting} and pm.reminded_at is null and pm.invited_at is not null)`
          : sql`null::timestamptz`
      } as next`,
  )
  return {
    sent: invited.length + reminded.length - failed,
    failed,
    reminded: reminded.length,
    remaining: Number(left?.n ?? 0),
    nextReminderAt: left?.next ? new Date(left.next) : null,
  }
}

interface ClaimedRow {
  user_id: string
  card: string | null
  email: string | null
  name: string | null
  tier_id: string
  tier_name: string
}

/** Sends one batch's messages, each with its own unsubscribe token (kept only as its SHA-256); returns the failures. */
async function send(
  db: Database,
  keyring: Keyring,
  mailer: Mailer,
  options: { publication: string; joinUrl: string; unsubscribeUrl?: string },
  claimed: ClaimedRow[],
  reminder: boolean,
): Promise<number> {
  const tokens = new Map<string, string>()
  if (options.unsubscribeUrl && claimed.length > 0) {
    const hashed = await Promise.all(
      claimed.map(async (row) => {
        const token = randomToken()
        tokens.set(row.user_id, token)
        return { user_id: row.user_id, hash: sha256Hex(token) }
      }),
    )
    await db.execute(sql`update patreon_members pm set unsubscribe_token_hash = r.hash
      from json_to_recordset(${JSON.stringify(hashed)}::json) as r(user_id text, hash text)
      where pm.user_id = r.user_id`)
  }
  let failed = 0
  for (const row of claimed) {
    // Opened one at a time, as each goes out: a failure to decrypt counts as a failed invitation too.
    const token = tokens.get(row.user_id)
    await openAddress(keyring, row)
      .then((to) =>
        mailer.send(
          invitationMessage(
            to,
            options.publication,
            options.joinUrl,
            { id: row.tier_id, name: row.tier_name },
            token ? `${options.unsubscribeUrl}?${new URLSearchParams({ token })}` : undefined,
            reminder,
          ),
        ),
      )
      .catch((error: unknown) => {
        failed += 1
        log('warn', 'invitation_failed', describeError(error))
      })
  }
  return failed
}
