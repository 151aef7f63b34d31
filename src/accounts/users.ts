import { eq } from 'drizzle-orm'
import type { Config } from '../config'
import type { Database } from '../db/client'
import { AppError } from '../http/errors'
import { users, type Role } from '../db/schema'
import { randomId } from '../util/random'

export type User = typeof users.$inferSelect

export async function findUserByEmail(db: Database, email: string): Promise<User | undefined> {
  const [user] = await db.select().from(users).where(eq(users.email, email))
  return user
}

/**
 * The account for an address that has just proved itself, created if new.
 * Addresses in ADMIN_EMAILS become admins here, on sign-in.
 */
export async function signInUser(db: Database, config: Config, now: Date, email: string): Promise<User> {
  const wantsAdmin = config.ADMIN_EMAILS.includes(email)
  const [created] = await db
    .insert(users)
    .values({ id: randomId(), email, role: wantsAdmin ? 'admin' : 'reader', createdAt: now, updatedAt: now })
    .onConflictDoNothing({ target: users.email })
    .returning()
  if (created) return created
  const existing = await findUserByEmail(db, email)
  if (!existing) throw new Error('account vanished during sign-in')
  if (wantsAdmin && existing.role !== 'admin') return setRole(db, now, existing.id, 'admin')
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
