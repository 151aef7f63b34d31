import { eq, sql } from 'drizzle-orm'
import { rowsOf, type Database } from '../db/client'
import { devMailbox, emailTokens, stripeCustomers, users } from '../db/schema'

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
