import { eq } from 'drizzle-orm'
import type Stripe from 'stripe'
import type { Config } from '../config'
import type { Database } from '../db/client'
import { AppError } from '../http/errors'
import { stripeCustomers, users, type Role } from '../db/schema'
import { randomId } from '../util/random'

export type User = typeof users.$inferSelect

/**
 * A new account, as every path that creates one writes it (sign-in, a
 * signed-out reader's paid checkout, a Patreon import): a fresh id, the
 * address lower-cased, and the role, admin for an address in ADMIN_EMAILS.
 */
export function newAccount(
  config: Pick<Config, 'ADMIN_EMAILS'>,
  now: Date,
  fields: { email: string; name?: string | null },
): typeof users.$inferInsert & { id: string; email: string; role: Role; name: string | null } {
  const email = fields.email.trim().toLowerCase()
  const role: Role = config.ADMIN_EMAILS.includes(email) ? 'admin' : 'reader'
  return { id: randomId(), email, name: fields.name ?? null, role, createdAt: now, updatedAt: now }
}

export async function findUserByEmail(db: Database, email: string): Promise<User | undefined> {
  const [user] = await db.select().from(users).where(eq(users.email, email))
  return user
}

/**
 * The account for an address that has just proved itself, created if new.
 * Addresses in ADMIN_EMAILS become admins here, on sign-in.
 */
export async function signInUser(db: Database, config: Config, now: Date, email: string): Promise<User> {
  const account = newAccount(config, now, { email })
  const [created] = await db.insert(users).values(account).onConflictDoNothing({ target: users.email }).returning()
  if (created) return created
  const existing = await findUserByEmail(db, account.email)
  if (!existing) throw new Error('account vanished during sign-in')
  if (account.role === 'admin' && existing.role !== 'admin') return setRole(db, now, existing.id, 'admin')
  return existing
}

export async function setRole(db: Database, now: Date, userId: string, role: Role): Promise<User> {
  const [user] = await db.update(users).set({ role, updatedAt: now }).where(eq(users.id, userId)).returning()
  if (!user) throw new Error('no such account')
  return user
}

/** Moves an account to an address that has just proved itself. */
export async function changeEmail(
  db: Database,
  now: Date,
  userId: string | null,
  email: string,
): Promise<{ userId: string; email: string; previousEmail: string }> {
  const [before] = userId ? await db.select().from(users).where(eq(users.id, userId)) : []
  if (!before) throw new AppError('invalid_token', 'This link belongs to an account that no longer exists.')
  const taken = await findUserByEmail(db, email)
  if (taken && taken.id !== before.id)
    throw new AppError('conflict', 'That address already belongs to another account.')
  await db.update(users).set({ email, updatedAt: now }).where(eq(users.id, before.id))
  return { userId: before.id, email, previousEmail: before.email }
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
