import { eq, inArray, or, sql } from 'drizzle-orm'
import { rowsOf, type Database } from '../db/client'
import { devMailbox, emailTokens, payments, sessions, stripeCustomers, subscriptions, users } from '../db/schema'

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
  const customers = await db
    .select({ customerId: stripeCustomers.customerId, linkedAt: stripeCustomers.createdAt })
    .from(stripeCustomers)
    .where(eq(stripeCustomers.userId, userId))
  const customerIds = customers.map((c) => c.customerId)
  const memberships = customerIds.length
    ? await db.select().from(subscriptions).where(inArray(subscriptions.customerId, customerIds))
    : []
  const ledger = customerIds.length
    ? await db.select().from(payments).where(inArray(payments.customerId, customerIds))
    : []
  return {
    exportedAt: now.toISOString(),
    account: { id: user.id, email: user.email, role: user.role, createdAt: user.createdAt, updatedAt: user.updatedAt },
    // Session ids are secrets, so only their expiry is shown.
    sessions: activeSessions,
    emailLinks: links,
    stripeCustomers: customers,
    subscriptions: memberships,
    payments: ledger,
  }
}

/**
 * Removes the person: the account, its sessions, its e-mailed links, its
 * links to Stripe customers and any development mail to it. The payments
 * ledger is kept for accounting: amounts, currencies, dates and Stripe ids,
 * no name, e-mail or address; with the customer link gone it points to no one.
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

/** Whether the account has a Stripe customer, so the account page offers the billing portal. */
export async function hasBillingAccount(db: Database, userId: string): Promise<boolean> {
  const [row] = await rowsOf(
    db,
    sql`select 1 from ${stripeCustomers} where ${stripeCustomers.userId} = ${userId} limit 1`,
  )
  return row !== undefined
}
