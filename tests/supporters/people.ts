import { eq } from 'drizzle-orm'
import { placeAccount } from '../../src/accounts/name-order'
import type { Config } from '../../src/config'
import type { Database } from '../../src/db/client'
import { users } from '../../src/db/schema'
import { keyringOf } from '../../src/privacy/keys'
import { sortTextOf } from '../../src/privacy/name-order'
import { openAccount, sealPerson } from '../../src/privacy/people'

/**
 * Gives an account a name as the app stores one (no page sets a name; imports and checkouts
 * bring them): sealed, with the search tokens of name and address, and the account moved to its
 * name's place in the name order, in one transaction as the placement requires.
 */
export async function nameAccount(db: Database, config: Config, userId: string, name: string): Promise<void> {
  const keyring = await keyringOf(config)
  await db.transaction(async (tx) => {
    const [user] = await tx.select().from(users).where(eq(users.id, userId))
    const { email } = await openAccount(keyring, user!)
    const sealed = await sealPerson(keyring, { email, name })
    const nameOrder = await placeAccount(tx, keyring, sortTextOf({ email, name }), userId)
    await tx
      .update(users)
      .set({ named: sealed.named, searchTokens: sealed.searchTokens, card: sealed.card, nameOrder })
      .where(eq(users.id, userId))
  })
}
