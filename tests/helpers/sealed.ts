import { eq } from 'drizzle-orm'
import { expect } from 'vitest'
import { placeAccount } from '../../src/accounts/name-order'
import { findUserByEmail, newAccount, type User } from '../../src/accounts/users'
import type { Config } from '../../src/config'
import type { Database } from '../../src/db/client'
import { users, type Role } from '../../src/db/schema'
import { addressIndex, addressIndexes } from '../../src/privacy/blind-index'
import { keyringOf } from '../../src/privacy/keys'
import { sortTextOf } from '../../src/privacy/name-order'
import { sealPerson } from '../../src/privacy/people'

/**
 * Reading and writing the sealed columns in tests (ARCHITECTURE.md, "Personal data at rest"):
 * addresses are found by their index, as the app finds them, never by comparing ciphertext.
 */

type Keys = Pick<Config, 'DATA_ENCRYPTION_KEY' | 'DATA_ENCRYPTION_KEYS_OLD'>

/** The account with this address, looked up as the app does (by address index). */
export async function accountByEmail(db: Database, config: Keys, email: string): Promise<User | undefined> {
  return findUserByEmail(db, await keyringOf(config), email)
}

/** The address index stored beside an address (under the current key). */
export async function indexOf(config: Keys, email: string): Promise<string> {
  return addressIndex(await keyringOf(config), email)
}

/** The address indexes under every key the config holds, for `inArray(column, …)`. */
export async function indexesOf(config: Keys, email: string): Promise<string[]> {
  return addressIndexes(await keyringOf(config), email)
}

/**
 * An account inserted as the app writes one (sealed, indexed, placed in the name order), with
 * the id and role a test wants.
 */
export async function insertAccount(
  db: Database,
  config: Config,
  now: Date,
  fields: { id?: string; email: string; name?: string | null; role?: Role },
): Promise<User> {
  const keyring = await keyringOf(config)
  return db.transaction(async (tx) => {
    const account = await newAccount(tx, keyring, config, now, { email: fields.email, name: fields.name ?? null })
    const [row] = await tx
      .insert(users)
      .values({
        ...account,
        ...(fields.id ? { id: fields.id } : {}),
        ...(fields.role ? { role: fields.role } : {}),
      })
      .returning()
    return row!
  })
}

/** A stored value is ciphertext in Masthead's format, and holds none of the given texts in any case. */
export function expectSealed(stored: string | null | undefined, ...plain: string[]): void {
  expect(stored).toMatch(/^v1\.k\d+\.[\w-]+\.[\w-]+$/)
  for (const text of plain) expect(stored!.toLowerCase()).not.toContain(text.toLowerCase())
}

/**
 * Gives an account a name (and the role a test wants) as the app would store it: address and
 * name sealed again, and the account placed anew in the name order.
 */
export async function renameAccount(
  db: Database,
  config: Config,
  userId: string,
  fields: { email: string; name: string | null; role?: Role },
): Promise<void> {
  const keyring = await keyringOf(config)
  await db.transaction(async (tx) => {
    const [sealed, nameOrder] = await Promise.all([
      sealPerson(keyring, fields),
      placeAccount(tx, keyring, sortTextOf(fields), userId),
    ])
    await tx
      .update(users)
      .set({ ...sealed, nameOrder, ...(fields.role ? { role: fields.role } : {}) })
      .where(eq(users.id, userId))
  })
}
