import { and, eq, inArray, ne, sql } from 'drizzle-orm'
import { rowsOf, type Database } from '../db/client'
import { devMailbox, emailTokens, importBatches, rateLimits, stripeCustomers, users } from '../db/schema'
import { inList, PAYING_STATUSES } from '../db/statuses'
import { AppError } from '../http/errors'
import { ACCOUNT_SCOPES, ADDRESS_SCOPES, rateLimitKey } from './rate-limit'

/** Why an account cannot be deleted yet: the same words for the reader and for an admin erasing it. */
export const STILL_BILLED =
  'This account has a membership that Stripe still bills. Cancel it first (it can run to the end of the period ' +
  'already paid); then the account can be deleted.'

/**
 * Removes the person, so that no table holds their address or name, in one
 * transaction: the reader deleting their account and an admin erasing a
 * supporter on request both come here (src/supporters/erase.ts). Table by table
 * (what each holds: account-export.ts):
 *
 * - users: the row. With it, by foreign key: sessions, stripe_customers (the
 *   link from a Stripe customer to the person), grants (their comps and notes),
 *   patreon_members, supporters (the editors' summary), the changes of address
 *   the account asked for, and Patreon previews the account made as staff.
 * - email_tokens: every link to the person's addresses: the account's, and
 *   the ones it asked to move to, unless another account holds that address.
 * - rate_limits: the counters keyed by those addresses and by the account.
 * - dev_mailbox (development only): mail to those addresses.
 * - import_batches: their row in any Patreon preview awaiting confirmation; a
 *   rejected line's reason keeps its line but not their address or name.
 *
 * Kept: the Stripe ledger for accounting (payments: amount, currency, date,
 * kind, Stripe ids; subscriptions: tier, amount, status, dates; stripe_events:
 * id, type, dates), none of which holds a name or address, and which once the
 * customer link is gone points to no one here; and the audit log, which names
 * accounts by id and keeps searches as keyed hashes (src/audit/search-terms.ts).
 * An address the account used before a confirmed change is not linked to it:
 * its sign-in links are cleared a day after they expire.
 *
 * Refused (409) while Stripe still bills a membership not set to end, so that
 * no one goes on paying for an account that is gone: cancel first. Answers
 * false when there is no such account.
 */
export async function deleteAccount(db: Database, userId: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const [user] = await tx.select().from(users).where(eq(users.id, userId)).for('update')
    if (!user) return false
    if (await stillBilled(tx, userId)) throw new AppError('conflict', STILL_BILLED)
    const addresses = await addressesOf(tx, user)
    const keys = await Promise.all([
      ...addresses.flatMap((address) => ADDRESS_SCOPES.map((scope) => rateLimitKey(scope, address))),
      ...ACCOUNT_SCOPES.map((scope) => rateLimitKey(scope, userId)),
    ])
    await tx.delete(users).where(eq(users.id, userId))
    await tx.delete(emailTokens).where(inArray(emailTokens.email, addresses))
    await tx.delete(rateLimits).where(inArray(rateLimits.key, keys))
    await tx.delete(devMailbox).where(inArray(sql`lower(${devMailbox.to})`, addresses))
    await forgetInPreviews(tx, addresses, user.name)
    return true
  })
}

/** A Stripe subscription of the account that will charge again: paying, and not set to end. */
async function stillBilled(db: Database, userId: string): Promise<boolean> {
  const [row] = await rowsOf(
    db,
    sql`select 1 from subscriptions s join stripe_customers sc on sc.customer_id = s.customer_id
      where sc.user_id = ${userId} and s.status in ${inList(PAYING_STATUSES)} and not s.cancel_at_period_end
      limit 1`,
  )
  return row !== undefined
}

/** The account's address, and those it asked to move to that no other account holds. */
async function addressesOf(db: Database, user: { id: string; email: string }): Promise<string[]> {
  const asked = await db
    .selectDistinct({ email: emailTokens.email })
    .from(emailTokens)
    .where(and(eq(emailTokens.userId, user.id), eq(emailTokens.purpose, 'change_email')))
  const wanted = asked.map((a) => a.email.toLowerCase()).filter((a) => a !== user.email)
  const held =
    wanted.length === 0
      ? []
      : await db
          .select({ email: users.email })
          .from(users)
          .where(and(inArray(users.email, wanted), ne(users.id, user.id)))
  const others = new Set(held.map((h) => h.email))
  return [user.email, ...new Set(wanted.filter((a) => !others.has(a)))]
}

const regexLiteral = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/**
 * Previews awaiting confirmation (src/imports/patreon-import.ts) keep the
 * parsed rows of the whole file: the person's rows go, so confirming cannot
 * bring them back, and a rejected line's reason, which may quote a cell that
 * slipped, has their address and name replaced by "…" (the line stays
 * rejected, so the import still writes nothing until the file is fixed).
 */
async function forgetInPreviews(db: Database, addresses: string[], name: string | null) {
  const pattern = [...addresses, ...(name?.trim() ? [name.trim()] : [])].map(regexLiteral).join('|')
  await db.execute(sql`update ${importBatches} b set rows = b.rows || jsonb_build_object(
      'rows', coalesce((select jsonb_agg(r.value order by r.n)
        from jsonb_array_elements(b.rows -> 'rows') with ordinality r(value, n)
        where lower(r.value ->> 'email') not in ${addresses}), '[]'::jsonb),
      'rejected', coalesce((select jsonb_agg(jsonb_set(j.value, '{reason}',
          to_jsonb(regexp_replace(j.value ->> 'reason', ${pattern}, '…', 'gi'))) order by j.n)
        from jsonb_array_elements(b.rows -> 'rejected') with ordinality j(value, n)), '[]'::jsonb))
    where exists (select 1 from jsonb_array_elements(b.rows -> 'rows') r where lower(r ->> 'email') in ${addresses})
      or exists (select 1 from jsonb_array_elements(b.rows -> 'rejected') j where j ->> 'reason' ~* ${pattern})`)
}

/** Whether the account has a Stripe customer, so the account page offers the billing portal. */
export async function hasBillingAccount(db: Database, userId: string): Promise<boolean> {
  const [row] = await rowsOf(
    db,
    sql`select 1 from ${stripeCustomers} where ${stripeCustomers.userId} = ${userId} limit 1`,
  )
  return row !== undefined
}
