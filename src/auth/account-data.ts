import { eq, or } from 'drizzle-orm'
import type { Database } from '../db/client'
import { devMailbox, emailTokens, sessions, users } from '../db/schema'

/**
 * Everything Masthead holds about one person, for "download my data".
 * Later domains (billing, imports) add their sections here.
 */
export async function exportAccount(db: Database, userId: string, now: Date) {
  const [user] = await db.select().from(users).where(eq(users.id, userId))
  if (!user) return undefined
  const activeSessions = await db
    .select({ expiresAt: sessions.expiresAt })
    .from(sessions)
    .where(eq(sessions.userId, userId))
  const links = await db
    .select({
      purpose: emailTokens.purpose,
      email: emailTokens.email,
      createdAt: emailTokens.createdAt,
      expiresAt: emailTokens.expiresAt,
      usedAt: emailTokens.usedAt,
    })
    .from(emailTokens)
    .where(or(eq(emailTokens.userId, userId), eq(emailTokens.email, user.email)))
  return {
    exportedAt: now.toISOString(),
    account: { id: user.id, email: user.email, role: user.role, createdAt: user.createdAt, updatedAt: user.updatedAt },
    // Session ids are secrets, so only their expiry is shown.
    sessions: activeSessions,
    emailLinks: links,
  }
}

/**
 * Removes the person: the account, its sessions, its e-mailed links and any
 * development mail to it. Nothing else refers to a person yet; billing keeps
 * payment records for accounting, detached from name and address.
 */
export async function deleteAccount(db: Database, userId: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const [user] = await tx.delete(users).where(eq(users.id, userId)).returning()
    if (!user) return false
    await tx.delete(emailTokens).where(eq(emailTokens.email, user.email))
    await tx.delete(devMailbox).where(eq(devMailbox.to, user.email))
    return true
  })
}
