import { and, asc, eq, inArray, isNull, ne, or } from 'drizzle-orm'
import type { Database } from '../db/client'
import {
  auditLog,
  devMailbox,
  emailTokens,
  grants,
  importBatches,
  importBatchParts,
  patreonMembers,
  payments,
  rateLimits,
  sessions,
  stripeCustomers,
  stripeEvents,
  subscriptions,
  supporters,
  users,
} from '../db/schema'
import type { PreviewDocument } from '../imports/previews'
import { addressIndexes, normalizeAddress } from '../privacy/blind-index'
import { decrypt } from '../privacy/cipher'
import type { Keyring } from '../privacy/keys'
import { CONTEXT, openAccount } from '../privacy/people'
import { ACCOUNT_SCOPES, ADDRESS_SCOPES, rateLimitKeys } from './rate-limit'

/**
 * Everything Masthead holds about one person, for "download my data": all of
 * it, and nothing about anyone else. Table by table (src/db/schema.ts):
 *
 * - users: the whole row (address, name, role, dates), address and name
 *   decrypted; not the indexes and order key kept beside them to find and
 *   sort it, which are derived from the address and name.
 * - sessions: when each expires; never its id (a hash of the cookie's secret).
 * - email_tokens: the links sent to this address and the address changes this
 *   account asked for; never the token's hash. Left out: a change to this
 *   address asked for by another account, which is that account's.
 * - rate_limits: the counters kept for this address and this account (scope,
 *   window, count; the key is a keyed hash of the address). Counters by IP
 *   name no one and are left out.
 * - dev_mailbox (development only): subject and time of the mail to this
 *   address; not the text, whose links carry tokens.
 * - stripe_customers, subscriptions, payments, stripe_events: everything about
 *   the account's Stripe customers (events: id, type, dates, outcome).
 * - grants (comps): every comp of this account with its note; not which staff
 *   member granted or revoked it (another person).
 * - patreon_members: the whole row.
 * - import_batches: this address's row in a Patreon import waiting for
 *   confirmation; a batch's other rows are other people.
 * - supporters: the editors' summary row, as last refreshed (it repeats the
 *   above), its address and name decrypted; its search tokens and card left out.
 * - audit_log: entries about this account (what, when, the details, and
 *   whether staff, the account itself or a command did it, never which staff
 *   member); and what this account did as staff, as "you looked at a supporter
 *   record" with its time, never whom or which filter. Entries name accounts
 *   by id only, and searches by a keyed hash.
 * - tiers, stripe_objects, articles: the publication's, not a person's.
 * - supporters_dirty (a queue of account ids to refresh) holds nothing but the id.
 * - entitlement_facts: the facts computed from the rows above (tiers, subscriptions,
 *   grants, the last donation), kept to answer signed-in requests: a copy, left out.
 *
 * Deleting the account (account-data.ts) removes all of this but the Stripe
 * ledger (subscriptions, payments, stripe_events: ids, amounts, dates) and
 * the audit entries, which hold ids and no address or name.
 */
export async function exportAccount(db: Database, keyring: Keyring, userId: string, now: Date) {
  const [user] = await db.select().from(users).where(eq(users.id, userId))
  if (!user) return undefined
  const person = await openAccount(keyring, user)
  const indexes = await addressIndexes(keyring, person.email)
  const customers = await db
    .select({ customerId: stripeCustomers.customerId, linkedAt: stripeCustomers.createdAt })
    .from(stripeCustomers)
    .where(eq(stripeCustomers.userId, userId))
    .orderBy(asc(stripeCustomers.createdAt))
  const customerIds = customers.map((c) => c.customerId)
  const ofCustomers = <T>(read: () => Promise<T[]>) => (customerIds.length > 0 ? read() : Promise.resolve([]))
  const [
    sessionRows,
    links,
    limits,
    mail,
    memberships,
    ledger,
    events,
    comps,
    patreon,
    pendingImports,
    summary,
    audit,
  ] = await Promise.all([
    db
      .select({ expiresAt: sessions.expiresAt })
      .from(sessions)
      .where(eq(sessions.userId, userId))
      .orderBy(asc(sessions.expiresAt)),
    db
      .select({
        purpose: emailTokens.purpose,
        email: emailTokens.email,
        nextPath: emailTokens.nextPath,
        createdAt: emailTokens.createdAt,
        expiresAt: emailTokens.expiresAt,
        usedAt: emailTokens.usedAt,
      })
      .from(emailTokens)
      .where(
        or(eq(emailTokens.userId, userId), and(inArray(emailTokens.emailIndex, indexes), isNull(emailTokens.userId))),
      )
      .orderBy(asc(emailTokens.createdAt)),
    rateLimitsOf(db, keyring, user.id, person.email),
    db
      .select({ subject: devMailbox.subject, sentAt: devMailbox.createdAt })
      .from(devMailbox)
      .where(inArray(devMailbox.toIndex, indexes))
      .orderBy(asc(devMailbox.id)),
    ofCustomers(() =>
      db
        .select()
        .from(subscriptions)
        .where(inArray(subscriptions.customerId, customerIds))
        .orderBy(asc(subscriptions.stripeCreatedAt)),
    ),
    ofCustomers(() =>
      db.select().from(payments).where(inArray(payments.customerId, customerIds)).orderBy(asc(payments.occurredAt)),
    ),
    ofCustomers(() =>
      db
        .select({
          id: stripeEvents.id,
          type: stripeEvents.type,
          customerId: stripeEvents.customerId,
          createdAt: stripeEvents.stripeCreatedAt,
          receivedAt: stripeEvents.receivedAt,
          outcome: stripeEvents.outcome,
        })
        .from(stripeEvents)
        .where(inArray(stripeEvents.customerId, customerIds))
        .orderBy(asc(stripeEvents.stripeCreatedAt)),
    ),
    db
      .select({
        id: grants.id,
        source: grants.source,
        tierId: grants.tierId,
        startsAt: grants.startsAt,
        endsAt: grants.endsAt,
        note: grants.note,
        revokedAt: grants.revokedAt,
        createdAt: grants.createdAt,
        updatedAt: grants.updatedAt,
      })
      .from(grants)
      .where(eq(grants.userId, userId))
      .orderBy(asc(grants.createdAt)),
    db.select().from(patreonMembers).where(eq(patreonMembers.userId, userId)),
    pendingImportRowsOf(db, keyring, person.email),
    db.select().from(supporters).where(eq(supporters.userId, userId)),
    auditOf(db, userId),
  ])
  return {
    exportedAt: now.toISOString(),
    account: {
      id: user.id,
      email: person.email,
      name: person.name,
      role: user.role,
      createdAt: user.createdAt,
      updatedAt: user.updatedAt,
    },
    // A session's id is the hash of the secret in its cookie: only when it expires is shown.
    sessions: sessionRows,
    emailLinks: await Promise.all(
      links.map(async (link) => ({ ...link, email: await decrypt(keyring, link.email, CONTEXT.tokenEmail) })),
    ),
    rateLimits: limits,
    developmentMail: mail,
    stripeCustomers: customers,
    subscriptions: memberships,
    payments: ledger,
    stripeEvents: events,
    comps,
    patreon: patreon[0] ?? null,
    pendingPatreonImport: pendingImports,
    supporterSummary: await openSummary(keyring, summary[0]),
    auditAboutYou: audit.aboutYou,
    yourStaffActions: audit.byYou,
  }
}

/** The rate-limit counters keyed by this person's address or account (rate-limit.ts). */
async function rateLimitsOf(db: Database, keyring: Keyring, userId: string, email: string) {
  const byScope = await Promise.all([
    ...ADDRESS_SCOPES.map(async (scope) => ({ scope, keys: await rateLimitKeys(keyring, scope, email) })),
    ...ACCOUNT_SCOPES.map(async (scope) => ({ scope, keys: await rateLimitKeys(keyring, scope, userId) })),
  ])
  const scopes = byScope.flatMap(({ scope, keys }) => keys.map((key) => ({ scope, key })))
  const rows = await db
    .select()
    .from(rateLimits)
    .where(
      inArray(
        rateLimits.key,
        scopes.map((s) => s.key),
      ),
    )
    .orderBy(asc(rateLimits.windowStart))
  return rows.map((r) => ({
    scope: scopes.find((s) => s.key === r.key)!.scope,
    windowStart: r.windowStart,
    count: r.count,
  }))
}

/**
 * This address's row in any previewed Patreon import, without the rest of the
 * batch. A preview's parts are each encrypted whole (`import_batch_parts.rows`, as
 * src/imports/previews.ts writes it), so each is opened: they are few, as a
 * preview lives an hour.
 */
async function pendingImportRowsOf(db: Database, keyring: Keyring, email: string) {
  const parts = await db
    .select({ rows: importBatchParts.rows, createdAt: importBatches.createdAt })
    .from(importBatchParts)
    .innerJoin(importBatches, eq(importBatches.id, importBatchParts.batchId))
    .orderBy(asc(importBatches.createdAt), asc(importBatchParts.batchId), asc(importBatchParts.part))
  const found: { previewedAt: Date; row: PreviewDocument['rows'][number] }[] = []
  for (const part of parts) {
    const document = JSON.parse(await decrypt(keyring, part.rows, CONTEXT.importRows)) as PreviewDocument
    for (const row of document.rows) {
      if (normalizeAddress(row.email) === email) found.push({ previewedAt: part.createdAt, row })
    }
  }
  return found
}

/**
 * The editors' summary row with its address and name decrypted; without its
 * search tokens (an index derived from them) and its card (the two again).
 */
async function openSummary(keyring: Keyring, row: typeof supporters.$inferSelect | undefined) {
  if (!row) return null
  const { searchTokens: _tokens, card: _card, ...rest } = row
  return { ...rest, ...(await openAccount(keyring, row)) }
}

/** Plain words for what a member of staff did, naming no one it was done to. */
const STAFF_ACTIONS: Record<string, string> = {
  'supporter.viewed': 'You looked at a supporter record.',
  'supporters.exported': 'You exported the supporter list.',
  'supporter.erased': "You erased a supporter's account.",
  'role.changed': "You changed an account's role.",
  'tier.created': 'You created a tier.',
  'tier.updated': 'You changed a tier.',
  'comp.granted': 'You granted a comp to a supporter.',
  'comp.revoked': "You revoked a supporter's comp.",
  'patreon.imported': 'You imported a Patreon export.',
  'ghost.imported': 'You imported a Ghost members export.',
  'stripe.adopted': 'You adopted Stripe subscriptions made outside Masthead.',
}

async function auditOf(db: Database, userId: string) {
  const [about, by] = await Promise.all([
    db
      .select({ at: auditLog.at, action: auditLog.action, actorId: auditLog.actorId, details: auditLog.details })
      .from(auditLog)
      .where(eq(auditLog.subjectUserId, userId))
      .orderBy(asc(auditLog.id)),
    db
      .select({ at: auditLog.at, action: auditLog.action })
      .from(auditLog)
      .where(and(eq(auditLog.actorId, userId), or(isNull(auditLog.subjectUserId), ne(auditLog.subjectUserId, userId))))
      .orderBy(asc(auditLog.id)),
  ])
  return {
    aboutYou: about.map(({ actorId, ...entry }) => ({
      ...entry,
      by: actorId === userId ? 'you' : actorId === null ? 'a command run by the publication' : 'a member of staff',
    })),
    byYou: by.map((entry) => ({
      ...entry,
      what: STAFF_ACTIONS[entry.action] ?? 'You took a staff action.',
    })),
  }
}
