import { eq, inArray } from 'drizzle-orm'
import type Stripe from 'stripe'
import type { Config } from '../config'
import type { Database } from '../db/client'
import { isPgError } from '../db/pg-errors'
import { AppError } from '../http/errors'
import { stripeCustomers, users, type Role } from '../db/schema'
import { addressIndexes, normalizeAddress } from '../privacy/blind-index'
import type { Keyring } from '../privacy/keys'
import { sortTextOf } from '../privacy/name-order'
import { cleanName, openAccount, openAddress, sealPerson } from '../privacy/people'
import { randomId } from '../util/random'
import { placeAccount, UNPLACED } from './name-order'

export type User = typeof users.$inferSelect

/**
 * A new account's row, as every path that creates one writes it (sign-in, a
 * signed-out reader's paid checkout, a Stripe customer linked by address): a
 * fresh id, the address normalised, address and name sealed in one card with
 * their indexes (src/privacy/people.ts), the role (admin for an address in
 * ADMIN_EMAILS), and its place in the name order, which `placeAccount` finds
 * inside the transaction that inserts it. `placed: false` leaves the place
 * empty for `placeWaitingAccounts` to fill once the account is in (a Stripe
 * webhook's account: see src/accounts/name-order.ts). Bulk paths (imports)
 * seal with `sealPeople` and place with `placeAccounts`.
 */
export async function newAccount(
  db: Database,
  keyring: Keyring,
  config: Pick<Config, 'ADMIN_EMAILS'>,
  now: Date,
  fields: { email: string; name?: string | null },
  { placed = true }: { placed?: boolean } = {},
): Promise<typeof users.$inferInsert & { id: string; role: Role }> {
  const email = normalizeAddress(fields.email)
  const name = cleanName(fields.name)
  const role: Role = config.ADMIN_EMAILS.includes(email) ? 'admin' : 'reader'
  const id = randomId()
  const [sealed, nameOrder] = await Promise.all([
    sealPerson(keyring, { email, name }),
    placed ? placeAccount(db, keyring, sortTextOf({ email, name })) : UNPLACED,
  ])
  return { id, ...sealed, nameOrder, role, createdAt: now, updatedAt: now }
}

/** The addresses of the accounts named (actors in the audit log: a handful), each decrypted once. */
export async function addressesById(db: Database, keyring: Keyring, ids: string[]): Promise<Map<string, string>> {
  const distinct = [...new Set(ids)]
  if (distinct.length === 0) return new Map()
  const rows = await db
    .select({ id: users.id, card: users.card, email: users.email, name: users.name })
    .from(users)
    .where(inArray(users.id, distinct))
  return new Map(
    await Promise.all(rows.map(async ({ id, ...stored }) => [id, await openAddress(keyring, stored)] as const)),
  )
}

/** The account with this address (under any key the keyring holds: a rotation may be under way). */
export async function findUserByEmail(db: Database, keyring: Keyring, email: string): Promise<User | undefined> {
  const [user] = await db
    .select()
    .from(users)
    .where(inArray(users.emailIndex, await addressIndexes(keyring, email)))
  return user
}

/**
 * The account for an address that has just proved itself, created if new.
 * Addresses in ADMIN_EMAILS become admins here, on sign-in. Called inside a
 * transaction (the name order's placement holds its lock to the end).
 */
export async function signInUser(
  db: Database,
  keyring: Keyring,
  config: Config,
  now: Date,
  email: string,
): Promise<User> {
  const existing = await findUserByEmail(db, keyring, email)
  const wantsAdmin = config.ADMIN_EMAILS.includes(normalizeAddress(email))
  if (existing) {
    if (wantsAdmin && existing.role !== 'admin') return setRole(db, now, existing.id, 'admin')
    return existing
  }
  const account = await newAccount(db, keyring, config, now, { email })
  const [created] = await db.insert(users).values(account).onConflictDoNothing({ target: users.emailIndex }).returning()
  if (created) return created
  const raced = await findUserByEmail(db, keyring, email)
  if (!raced) throw new Error('account vanished during sign-in')
  return raced
}

export async function setRole(db: Database, now: Date, userId: string, role: Role): Promise<User> {
  const [user] = await db.update(users).set({ role, updatedAt: now }).where(eq(users.id, userId)).returning()
  if (!user) throw new Error('no such account')
  return user
}

/** Moves an account to an address that has just proved itself. */
export async function changeEmail(
  db: Database,
  keyring: Keyring,
  now: Date,
  userId: string | null,
  email: string,
): Promise<{ userId: string; email: string; previousEmail: string }> {
  const [before] = userId ? await db.select().from(users).where(eq(users.id, userId)) : []
  if (!before) throw new AppError('invalid_token', 'This link belongs to an account that no longer exists.')
  const taken = await findUserByEmail(db, keyring, email)
  if (taken && taken.id !== before.id)
    throw new AppError('conflict', 'That address already belongs to another account.')
  const previous = await openAccount(keyring, before)
  const next = { email: normalizeAddress(email), name: previous.name }
  // Without a name, the address is what the account sorts by: it moves in the name order.
  const [sealed, nameOrder] = await Promise.all([
    sealPerson(keyring, next),
    previous.name === null ? placeAccount(db, keyring, sortTextOf(next), before.id) : before.nameOrder,
  ])
  try {
    await db
      .update(users)
      .set({ ...sealed, email: null, name: null, nameOrder, updatedAt: now }) // the card replaces what came before it
      .where(eq(users.id, before.id))
  } catch (error) {
    // Another account took the address between the look-up above and this write (two links to the
    // same address confirmed at once): the unique address index says so, in words.
    if (isPgError(error, 'uniqueViolation')) {
      throw new AppError('conflict', 'That address already belongs to another account.')
    }
    throw error
  }
  return { userId: before.id, email: next.email, previousEmail: previous.email }
}

/**
 * Gives the account's Stripe customers its new address, so that Stripe's
 * receipts and the billing portal follow the account. The account has
 * already changed: a customer Stripe cannot update is logged and left, and
 * the next change tries again.
 */
export async function pushEmailToStripe(
  db: Database,
  stripe: Stripe,
  userId: string,
  email: string,
  onFailure: (error: unknown) => void,
): Promise<number> {
  const linked = await db
    .select({ id: stripeCustomers.customerId })
    .from(stripeCustomers)
    .where(eq(stripeCustomers.userId, userId))
  let updated = 0
  for (const { id } of linked) {
    try {
      await stripe.customers.update(id, { email })
      updated += 1
    } catch (error) {
      onFailure(error)
    }
  }
  return updated
}
