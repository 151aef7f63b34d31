import { and, eq, inArray, ne, sql } from 'drizzle-orm'
import { rowsOf, type Database } from '../db/client'
import { devMailbox, emailTokens, gifts, importBatchParts, rateLimits, stripeCustomers, users } from '../db/schema'
import { inList, PAYING_STATUSES } from '../db/statuses'
import { AppError } from '../http/errors'
import type { PreviewDocument } from '../imports/previews'
import { addressIndexes, normalizeAddress } from '../privacy/blind-index'
import { decrypt, encrypt } from '../privacy/cipher'
import type { Keyring } from '../privacy/keys'
import { CONTEXT, openAccount } from '../privacy/people'
import { ACCOUNT_SCOPES, ADDRESS_SCOPES, rateLimitKeys } from './rate-limit'
import { GIFT_COLUMNS } from './seal-existing'

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
 *   the ones it asked to move to, unless another account holds that address
 *   (found by address index, under every key of the keyring).
 * - rate_limits: the counters keyed by those addresses and by the account.
 * - dev_mailbox (development only): mail to those addresses (by index too).
 * - import_batches: their row in any Patreon preview awaiting confirmation; a
 *   rejected line's reason keeps its line but not their address or name.
 * - gifts (src/billing/gifts): a gift to any of their addresses (found by the
 *   recipient's address index, under every key) not yet redeemed is cancelled
 *   in place: its recipient's address and index, the giver's address, the
 *   message and the link's token are erased, so it can be neither delivered
 *   nor redeemed (the row stays, without personal data, for the giver's list
 *   and the ledger's gift payment); a redeemed one keeps no address already and
 *   loses its index. A gift they gave (their account's, or bought signed out
 *   with one of their addresses: every gift still holding a giver's address is
 *   opened to tell) loses the giver's address and the message, which carries
 *   their words and the name they signed it with; it still reaches its
 *   recipient, from no one named.
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
export async function deleteAccount(db: Database, keyring: Keyring, userId: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const [user] = await tx.select().from(users).where(eq(users.id, userId)).for('update')
    if (!user) return false
    if (await stillBilled(tx, userId)) throw new AppError('conflict', STILL_BILLED)
    const person = await openAccount(keyring, user)
    const addresses = await addressesOf(tx, keyring, user.id, person.email)
    const indexes = (await Promise.all(addresses.map((a) => addressIndexes(keyring, a)))).flat()
    const keys = (
      await Promise.all([
        ...addresses.flatMap((address) => ADDRESS_SCOPES.map((scope) => rateLimitKeys(keyring, scope, address))),
        ...ACCOUNT_SCOPES.map((scope) => rateLimitKeys(keyring, scope, userId)),
      ])
    ).flat()
    // Before the account goes: its row names the gifts it gave (giver_user_id is set null with it).
    await forgetGifts(tx, keyring, userId, addresses, indexes)
    await tx.delete(users).where(eq(users.id, userId))
    await tx.delete(emailTokens).where(inArray(emailTokens.emailIndex, indexes))
    await tx.delete(rateLimits).where(inArray(rateLimits.key, keys))
    await tx.delete(devMailbox).where(inArray(devMailbox.toIndex, indexes))
    await forgetInPreviews(tx, keyring, addresses, person.name)
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

/**
 * The account's address, and those it asked to move to that no other account
 * holds: the requests' addresses are decrypted, and other accounts looked up by
 * index.
 */
async function addressesOf(db: Database, keyring: Keyring, userId: string, email: string): Promise<string[]> {
  const asked = await db
    .select({ email: emailTokens.email })
    .from(emailTokens)
    .where(and(eq(emailTokens.userId, userId), eq(emailTokens.purpose, 'change_email')))
  const opened = await Promise.all(asked.map((a) => decrypt(keyring, a.email, CONTEXT.tokenEmail)))
  const wanted = [...new Set(opened.map(normalizeAddress))].filter((a) => a !== email)
  const indexesOf = await Promise.all(wanted.map((a) => addressIndexes(keyring, a)))
  const held =
    wanted.length === 0
      ? []
      : await db
          .select({ emailIndex: users.emailIndex })
          .from(users)
          .where(and(inArray(users.emailIndex, indexesOf.flat()), ne(users.id, userId)))
  const others = new Set(held.map((h) => h.emailIndex))
  return [email, ...wanted.filter((_, i) => !indexesOf[i]!.some((index) => others.has(index)))]
}

/** Gifts to and from the person (see deleteAccount): cancelled, or left without the giver's address and message. */
async function forgetGifts(db: Database, keyring: Keyring, userId: string, addresses: string[], indexes: string[]) {
  await db
    .update(gifts)
    .set({
      recipientEmail: null,
      recipientEmailIndex: null,
      giverEmail: null,
      message: null,
      tokenHash: null,
      updatedAt: sql`now()`,
    })
    .where(inArray(gifts.recipientEmailIndex, indexes))
  // Only gifts not yet redeemed still hold a giver's address: few, and each is opened to see whose it is.
  const held = await db
    .select({ id: gifts.id, giverUserId: gifts.giverUserId, giverEmail: gifts.giverEmail })
    .from(gifts)
    .where(sql`${gifts.giverEmail} is not null or (${gifts.giverUserId} = ${userId} and ${gifts.message} is not null)`)
    .for('update')
  const theirs = await Promise.all(
    held.map(
      async (g) =>
        g.giverUserId === userId ||
        (g.giverEmail !== null &&
          addresses.includes(normalizeAddress(await decrypt(keyring, g.giverEmail, GIFT_COLUMNS.giver)))),
    ),
  )
  const given = held.filter((_, i) => theirs[i]).map((g) => g.id)
  if (given.length > 0) {
    await db
      .update(gifts)
      .set({ giverEmail: null, message: null, updatedAt: sql`now()` })
      .where(inArray(gifts.id, given))
  }
}

const regexLiteral = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/**
 * Previews awaiting confirmation (src/imports/previews.ts) keep the
 * parsed rows of the whole file, a part at a time: the person's rows go, so confirming cannot
 * bring them back, and a rejected line's reason, which may quote a cell that
 * slipped, and its cells, have their address and name replaced by "…" (the line stays
 * rejected, so the import still writes nothing until the file is fixed). Each
 * part's document is encrypted whole (src/imports/previews.ts, whose sealPreview and
 * openPreview this repeats: imports already depends on accounts), so every
 * preview is opened here: they are few, as a preview lives an hour.
 */
async function forgetInPreviews(db: Database, keyring: Keyring, addresses: string[], name: string | null) {
  const pattern = new RegExp([...addresses, ...(name ? [name] : [])].map(regexLiteral).join('|'), 'gi')
  const parts = await db.select().from(importBatchParts).for('update')
  for (const part of parts) {
    const document = JSON.parse(await decrypt(keyring, part.rows, CONTEXT.importRows)) as PreviewDocument
    const rows = document.rows.filter((r) => !addresses.includes(normalizeAddress(r.email)))
    // A rejected row's cells (kept for the download of rejected rows) are scrubbed the same way.
    const rejected = document.rejected.map((r) => ({
      ...r,
      reason: r.reason.replace(pattern, '…'),
      ...(r.cells ? { cells: r.cells.map((cell) => cell.replace(pattern, '…')) } : {}),
    }))
    const changed =
      rows.length < document.rows.length ||
      rejected.some((r, i) => JSON.stringify(r) !== JSON.stringify(document.rejected[i]))
    if (!changed) continue
    const sealed = await encrypt(keyring, JSON.stringify({ ...document, rows, rejected }), CONTEXT.importRows)
    await db
      .update(importBatchParts)
      .set({ rows: sealed })
      .where(and(eq(importBatchParts.batchId, part.batchId), eq(importBatchParts.part, part.part)))
  }
}

/** Whether the account has a Stripe customer, so the account page offers the billing portal. */
export async function hasBillingAccount(db: Database, userId: string): Promise<boolean> {
  const [row] = await rowsOf(
    db,
    sql`select 1 from ${stripeCustomers} where ${stripeCustomers.userId} = ${userId} limit 1`,
  )
  return row !== undefined
}
