import { sql } from 'drizzle-orm'
import { placeAccounts } from './name-order'
import type { Config } from '../config'
import { rowsOf, type Database } from '../db/client'
import { describeErrorText } from '../http/log'
import { addressIndex, normalizeAddress } from '../privacy/blind-index'
import { decrypt, DecryptionError, encrypt, isEncrypted, needsRotation } from '../privacy/cipher'
import { keyringOf, type Keyring } from '../privacy/keys'
import { sortTextOf } from '../privacy/name-order'
import { CONTEXT, cleanName, openCard, openPeople, sealPeople } from '../privacy/people'

/**
 * The walk that brings stored personal data under the current key (ARCHITECTURE.md, "Personal
 * data at rest"): run after the migrations (`npm run db:migrate`, `npm start`) it encrypts what
 * drizzle/0014 left in clear and fills its placeholders ('pending:<id>' indexes, empty name
 * orders); run by `npm run keys:rotate` it also re-encrypts what an old key wrote and renumbers
 * the name order. SQL can neither encrypt nor compute an HMAC, hence a pass in the application.
 *
 * Each table is walked by primary key (`where pk > $last order by pk limit n`), over the rows the
 * SQL can tell need work, one transaction per batch; a row is written only if it still holds what
 * was read, so a concurrent write wins. A crash between batches leaves every row either done or
 * untouched, and the next run starts with what is left: a second run finds nothing to do.
 */

export interface SealOptions {
  /**
   * 'plaintext' (after the migrations): only values in clear and placeholders. 'rotate'
   * (`keys:rotate`): every value not under the current key, then the name order renumbered.
   */
  mode?: 'plaintext' | 'rotate'
  /** Rows per transaction. */
  batchSize?: number
  /** Stops after this many batches, as a crash would (tests of resuming). */
  maxBatches?: number
  /** Progress, counts only. */
  log?: (line: string) => void
}

export interface SealCounts {
  users: number
  emailTokens: number
  mail: number
  imports: number
  /** Gift memberships (their recipient's and giver's addresses and message). */
  gifts: number
  /** Accounts given an order key (placed, or moved by a renumbering). */
  ordered: number
  /** Rows of the supporters summary refreshed. */
  refreshed: number
  /** False when `maxBatches` stopped the walk before the end. */
  finished: boolean
}

const BATCH_SIZE = 1_000

class Budget {
  constructor(private left: number) {}
  take(): boolean {
    if (this.left <= 0) return false
    this.left -= 1
    return true
  }
}

/** Opens a value for re-encryption: plaintext as it is, a value under any key the keyring holds decrypted. */
const openValue = (keyring: Keyring, value: string, context: string) =>
  isEncrypted(value) ? decrypt(keyring, value, context) : Promise.resolve(value)

/**
 * The SQL condition for a column that needs work: in clear ('plaintext'), or not under the current
 * key ('rotate'). A prefilter only: each row read is judged again in TypeScript.
 */
function stale(column: string, mode: 'plaintext' | 'rotate', keyring: Keyring) {
  const prefix = mode === 'rotate' ? `v1.${keyring.current.id}.%` : 'v1.%'
  return sql`(${sql.identifier(column)} is not null and ${sql.identifier(column)} not like ${prefix})`
}

const pending = (column: string) => sql`${sql.identifier(column)} like 'pending:%'`

/** Whether a stored value needs work in this mode. */
const needsWork = (keyring: Keyring, mode: 'plaintext' | 'rotate', value: string | null) =>
  value !== null && (mode === 'rotate' ? needsRotation(keyring, value) : !isEncrypted(value))

/**
 * How many stored values each key wrote ('' for values in clear), over the columns the walk covers
 * (the supporters summary holds copies of the accounts' values). The key id is readable in SQL.
 */
export async function valuesByKey(db: Database): Promise<Map<string, number>> {
  const rows = await rowsOf<{ id: string; n: number | string }>(
    db,
    // Only a well-formed key id counts as one: a value in clear that happens to start with v1. is not named.
    sql`select case when v ~ '^v1\.k(0|[1-9][0-9]{0,5})\.' then split_part(v, '.', 2) else '' end as id,
          count(*) as n from (
          select email as v from users union all select name from users union all select card from users
          union all select email from email_tokens union all select "to" from dev_mailbox
          union all select "rows" from import_batch_parts
          union all select recipient_email from gifts union all select giver_email from gifts
          union all select message from gifts) s
        where v is not null group by 1 order by 1`,
  )
  return new Map(rows.map((r) => [r.id, Number(r.n)]))
}

interface UserRow {
  id: string
  email: string | null
  email_index: string
  name: string | null
  card: string | null
}

/**
 * Accounts: each ends with its address and name in one card under the current key, its address
 * index and search tokens, and nothing in `email` and `name` (drizzle/0015). A row from before
 * the card (its address and name in clear, or encrypted each) is sealed from those; a row whose
 * card needs only to lose the columns from before it is cleared without encrypting anything.
 */
async function sealUsers(db: Database, keyring: Keyring, mode: 'plaintext' | 'rotate', size: number, budget: Budget) {
  let last = ''
  let written = 0
  const needsSealing = (r: UserRow) =>
    r.card === null || needsWork(keyring, mode, r.card) || r.email_index.startsWith('pending:')
  for (;;) {
    const rows = await rowsOf<UserRow>(
      db,
      sql`select id, email, email_index, name, card from users
          where id > ${last} and (email is not null or name is not null or card is null
            or ${stale('card', mode, keyring)} or ${pending('email_index')})
          order by id limit ${size}`,
    )
    if (rows.length === 0) return { written, finished: true }
    if (!budget.take()) return { written, finished: false }
    last = rows.at(-1)!.id
    const todo = rows.filter(needsSealing)
    const people = await Promise.all(
      todo.map(async (r) => {
        const person =
          r.card !== null && isEncrypted(r.card)
            ? await openCard(keyring, r.card)
            : {
                email: await openValue(keyring, r.email!, CONTEXT.userEmail),
                name: r.name === null ? null : await openValue(keyring, r.name, CONTEXT.userName),
              }
        return { email: normalizeAddress(person.email), name: cleanName(person.name) }
      }),
    )
    const sealed = await sealPeople(keyring, people)
    const resealed = new Map(todo.map((r, i) => [r.id, sealed[i]!]))
    const batch = rows.map((r) => {
      const s = resealed.get(r.id)
      return {
        id: r.id,
        was_email: r.email,
        was_name: r.name,
        was_card: r.card,
        email_index: s?.emailIndex ?? r.email_index,
        search_tokens: s?.searchTokens ?? null,
        card: s?.card ?? r.card,
        named: s?.named ?? null,
      }
    })
    // Updating users marks the rows for the summary's refresh (a trigger), in the same transaction.
    const done = await db.transaction((tx) =>
      rowsOf<{ id: string }>(
        tx,
        sql`update users u set email = null, name = null, email_index = v.email_index,
              search_tokens = coalesce(v.search_tokens, u.search_tokens), card = v.card,
              named = coalesce(v.named, u.named)
            from jsonb_to_recordset(${JSON.stringify(batch)}::jsonb) as v(id text, was_email text, was_name text,
              was_card text, email_index text, search_tokens text[], card text, named boolean)
            where u.id = v.id and u.email is not distinct from v.was_email and u.name is not distinct from v.was_name
              and u.card is not distinct from v.was_card
            returning u.id`,
      ),
    )
    written += done.length
  }
}

/** The e-mailed links and the development mailbox: one address each, with its index (the mailbox's key is an integer). */
async function sealAddresses(
  db: Database,
  keyring: Keyring,
  mode: 'plaintext' | 'rotate',
  size: number,
  budget: Budget,
  table: 'email_tokens' | 'dev_mailbox',
) {
  const [key, column, index, context] =
    table === 'email_tokens'
      ? (['token_hash', 'email', 'email_index', CONTEXT.tokenEmail] as const)
      : (['id', 'to', 'to_index', CONTEXT.mailTo] as const)
  const numeric = table === 'dev_mailbox'
  let last: string | number = numeric ? 0 : ''
  let written = 0
  for (;;) {
    const rows = await rowsOf<{ key: string | number; value: string; index: string }>(
      db,
      sql`select ${sql.identifier(key)} as key, ${sql.identifier(column)} as value, ${sql.identifier(index)} as index
          from ${sql.identifier(table)}
          where ${sql.identifier(key)} > ${numeric ? sql`${last}::int` : sql`${last}`}
            and (${stale(column, mode, keyring)} or ${pending(index)})
          order by ${sql.identifier(key)} limit ${size}`,
    )
    if (rows.length === 0) return { written, finished: true }
    if (!budget.take()) return { written, finished: false }
    last = rows.at(-1)!.key
    const batch = await Promise.all(
      rows
        .filter((r) => needsWork(keyring, mode, r.value) || r.index.startsWith('pending:'))
        .map(async (r) => {
          const address = normalizeAddress(await openValue(keyring, r.value, context))
          const [value, addressIdx] = await Promise.all([
            encrypt(keyring, address, context),
            addressIndex(keyring, address),
          ])
          return { key: String(r.key), was: r.value, value, index: addressIdx }
        }),
    )
    const done = await db.transaction((tx) =>
      rowsOf<{ key: string }>(
        tx,
        sql`update ${sql.identifier(table)} t set ${sql.identifier(column)} = v.value, ${sql.identifier(index)} = v.index
            from jsonb_to_recordset(${JSON.stringify(batch)}::jsonb) as v(key text, was text, value text, index text)
            where ${numeric ? sql`t.id = v.key::int` : sql`t.token_hash = v.key`} and t.${sql.identifier(column)} = v.was
            returning v.key`,
      ),
    )
    written += done.length
  }
}

/** Pending import previews: each part's JSON document, encrypted whole. */
async function sealImports(db: Database, keyring: Keyring, mode: 'plaintext' | 'rotate', size: number, budget: Budget) {
  let last = { batchId: '', part: -1 }
  let written = 0
  for (;;) {
    const rows = await rowsOf<{ batch_id: string; part: number; rows: string }>(
      db,
      sql`select batch_id, part, "rows" from import_batch_parts
          where (batch_id, part) > (${last.batchId}, ${last.part}::integer) and ${stale('rows', mode, keyring)}
          order by batch_id, part limit ${size}`,
    )
    if (rows.length === 0) return { written, finished: true }
    if (!budget.take()) return { written, finished: false }
    const end = rows.at(-1)!
    last = { batchId: end.batch_id, part: Number(end.part) }
    const batch = await Promise.all(
      rows
        .filter((r) => needsWork(keyring, mode, r.rows))
        .map(async (r) => ({
          batch_id: r.batch_id,
          part: Number(r.part),
          was: r.rows,
          value: await encrypt(keyring, await openValue(keyring, r.rows, CONTEXT.importRows), CONTEXT.importRows),
        })),
    )
    const done = await db.transaction((tx) =>
      rowsOf<{ batch_id: string }>(
        tx,
        sql`update import_batch_parts p set "rows" = v.value
            from jsonb_to_recordset(${JSON.stringify(batch)}::jsonb) as v(batch_id text, part integer, was text, value text)
            where p.batch_id = v.batch_id and p.part = v.part and p."rows" = v.was
            returning p.batch_id`,
      ),
    )
    written += done.length
  }
}

/**
 * The encryption contexts of the gifts table's sealed columns, defined here (billing depends on
 * accounts, not the reverse) and used by src/billing/gifts as GIFT_CONTEXT.
 */
export const GIFT_COLUMNS = {
  recipient: 'gifts.recipient_email',
  giver: 'gifts.giver_email',
  message: 'gifts.message',
} as const

interface GiftRow {
  id: string
  recipient_email: string | null
  recipient_email_index: string | null
  giver_email: string | null
  message: string | null
}

/**
 * Gift memberships (src/billing/gifts): the recipient's address with its address index, the
 * giver's address and the message, each a column of its own, any of them null once it is no
 * longer needed. A row is re-encrypted whole (every column not under the current key) and its
 * address index recomputed from the address; an address index left without its address (a gift
 * redeemed before redeeming cleared it) names no one the gift still needs and is cleared.
 */
async function sealGifts(db: Database, keyring: Keyring, mode: 'plaintext' | 'rotate', size: number, budget: Budget) {
  let last = ''
  let written = 0
  const reseal = async (value: string | null, context: string) =>
    value !== null && needsWork(keyring, mode, value)
      ? encrypt(keyring, await openValue(keyring, value, context), context)
      : value
  for (;;) {
    const rows = await rowsOf<GiftRow>(
      db,
      sql`select id, recipient_email, recipient_email_index, giver_email, message from gifts
          where id > ${last} and (${stale('recipient_email', mode, keyring)} or ${stale('giver_email', mode, keyring)}
            or ${stale('message', mode, keyring)} or (recipient_email is null and recipient_email_index is not null))
          order by id limit ${size}`,
    )
    if (rows.length === 0) return { written, finished: true }
    if (!budget.take()) return { written, finished: false }
    last = rows.at(-1)!.id
    const batch = await Promise.all(
      rows.map(async (r) => {
        let recipient = r.recipient_email
        let index = r.recipient_email === null ? null : r.recipient_email_index
        if (recipient !== null && needsWork(keyring, mode, recipient)) {
          const address = normalizeAddress(await openValue(keyring, recipient, GIFT_COLUMNS.recipient))
          ;[recipient, index] = await Promise.all([
            encrypt(keyring, address, GIFT_COLUMNS.recipient),
            addressIndex(keyring, address),
          ])
        }
        return {
          id: r.id,
          was_recipient: r.recipient_email,
          was_index: r.recipient_email_index,
          was_giver: r.giver_email,
          was_message: r.message,
          recipient,
          index,
          giver: await reseal(r.giver_email, GIFT_COLUMNS.giver),
          message: await reseal(r.message, GIFT_COLUMNS.message),
        }
      }),
    )
    // Written only where the row still holds what was read: a delivery, a redemption or an erasure meanwhile wins.
    const done = await db.transaction((tx) =>
      rowsOf<{ id: string }>(
        tx,
        sql`update gifts g set recipient_email = v.recipient, recipient_email_index = v.index, giver_email = v.giver,
              message = v.message
            from jsonb_to_recordset(${JSON.stringify(batch)}::jsonb) as v(id text, was_recipient text, was_index text,
              was_giver text, was_message text, recipient text, index text, giver text, message text)
            where g.id = v.id and g.recipient_email is not distinct from v.was_recipient
              and g.recipient_email_index is not distinct from v.was_index
              and g.giver_email is not distinct from v.was_giver and g.message is not distinct from v.was_message
            returning g.id`,
      ),
    )
    written += done.length
  }
}

/**
 * Order keys for the accounts without one (drizzle/0014 left them empty), or, renumbering, for
 * every account, spread evenly (`placeAccounts` with everyone moving): one transaction holding the
 * placement lock, written in batches. Renumbering the same order again gives the same keys, and
 * rows whose key does not change are not written.
 */
async function order(db: Database, keyring: Keyring, renumber: boolean, size: number): Promise<number> {
  return db.transaction(async (tx) => {
    const rows = await rowsOf<{ id: string; card: string | null; email: string | null; name: string | null }>(
      tx,
      renumber
        ? sql`select id, card, email, name from users order by id`
        : sql`select id, card, email, name from users where name_order = '' order by id`,
    )
    if (rows.length === 0) return 0
    const opened = await openPeople(keyring, rows)
    const keys = await placeAccounts(
      tx,
      keyring,
      opened.map((p) => ({ id: p.id, sortText: sortTextOf(p) })),
    )
    const all = [...keys].map(([id, key]) => ({ id, key }))
    let written = 0
    for (let start = 0; start < all.length; start += size) {
      const done = await rowsOf<{ id: string }>(
        tx,
        sql`update users u set name_order = v.key
            from jsonb_to_recordset(${JSON.stringify(all.slice(start, start + size))}::jsonb) as v(id text, key text)
            where u.id = v.id and u.name_order <> v.key
            returning u.id`,
      )
      written += done.length
    }
    return written
  })
}

/**
 * Marks for refresh the summary rows whose copies differ from their account (a run stopped after
 * writing accounts leaves them marked anyway; this also catches a summary refreshed in between),
 * then refreshes whatever is marked.
 */
async function refreshSummary(db: Database): Promise<number> {
  await db.execute(
    sql`insert into supporters_dirty (user_id)
        select s.user_id from supporters s join users u on u.id = s.user_id
        where s.email is distinct from u.email or s.name is distinct from u.name or s.name_order <> u.name_order
          or s.search_tokens <> u.search_tokens or s.card is distinct from u.card
        on conflict do nothing`,
  )
  const [row] = await rowsOf<{ n: number | string }>(db, sql`select masthead_refresh_dirty_supporters() as n`)
  return Number(row?.n ?? 0)
}

/**
 * Runs the walk (see the top of this file) and returns what it wrote, in counts. A database error
 * is rethrown described by `describeErrorText`: Drizzle's own message quotes the batch, addresses
 * included, and start-up prints what it catches.
 */
export async function sealExisting(db: Database, keyring: Keyring, options: SealOptions = {}): Promise<SealCounts> {
  try {
    return await walk(db, keyring, options)
  } catch (error) {
    if (error instanceof DecryptionError) throw error
    throw new Error(`Encrypting in place failed: ${describeErrorText(error)}`, { cause: error })
  }
}

async function walk(db: Database, keyring: Keyring, options: SealOptions): Promise<SealCounts> {
  const mode = options.mode ?? 'plaintext'
  const size = options.batchSize ?? BATCH_SIZE
  const log = options.log ?? (() => {})
  const budget = new Budget(options.maxBatches ?? Infinity)
  const counts: SealCounts = {
    users: 0,
    emailTokens: 0,
    mail: 0,
    imports: 0,
    gifts: 0,
    ordered: 0,
    refreshed: 0,
    finished: false,
  }

  // A missing old key stops the walk before it writes anything, naming the key to add.
  const missing = [...(await valuesByKey(db)).keys()].filter((id) => id !== '' && !keyring.byId.has(id))
  if (missing.length > 0) {
    const list = missing.join(', ')
    throw new DecryptionError(
      'unknown_key',
      `Stored values are encrypted under ${list}, which neither DATA_ENCRYPTION_KEY nor DATA_ENCRYPTION_KEYS_OLD ` +
        `holds: add ${missing.length === 1 ? 'that key' : 'those keys'} to DATA_ENCRYPTION_KEYS_OLD. Nothing was changed.`,
    )
  }

  const steps = [
    ['users', () => sealUsers(db, keyring, mode, size, budget)],
    ['emailTokens', () => sealAddresses(db, keyring, mode, size, budget, 'email_tokens')],
    ['mail', () => sealAddresses(db, keyring, mode, size, budget, 'dev_mailbox')],
    ['imports', () => sealImports(db, keyring, mode, size, budget)],
    ['gifts', () => sealGifts(db, keyring, mode, size, budget)],
  ] as const
  for (const [name, step] of steps) {
    const { written, finished } = await step()
    counts[name] = written
    if (!finished) {
      log(`stopped after ${options.maxBatches} batches, as asked: run again to finish`)
      return counts
    }
  }
  counts.ordered = await order(db, keyring, mode === 'rotate', size)
  counts.refreshed = await refreshSummary(db)
  counts.finished = true
  log(
    `${counts.users} accounts, ${counts.emailTokens} e-mailed links, ${counts.mail} development messages and ` +
      `${counts.imports} import previews (and ${counts.gifts} gifts) written under key ${keyring.current.id}; ` +
      `${counts.ordered} accounts ` +
      `given an order key; ${counts.refreshed} supporter rows refreshed`,
  )
  return counts
}

/**
 * The pass after the migrations (`npm start`, `npm run db:migrate`): prints a line of counts when it
 * wrote anything, and nothing on the starts that find everything sealed.
 */
export async function sealAfterMigrations(
  db: Database,
  config: Pick<Config, 'DATA_ENCRYPTION_KEY' | 'DATA_ENCRYPTION_KEYS_OLD'>,
  print: (line: string) => void,
): Promise<SealCounts> {
  const counts = await sealExisting(db, await keyringOf(config))
  const { users, emailTokens, mail, imports, gifts, ordered } = counts
  if (users + emailTokens + mail + imports + gifts + ordered > 0) {
    print(
      `Personal data encrypted in place: ${users} accounts, ${emailTokens} e-mailed links, ${mail} development ` +
        `messages, ${imports} import previews, ${gifts} gifts; ${ordered} accounts placed in the name order.`,
    )
  }
  return counts
}
