import { addressIndex, normalizeAddress, searchTokens, searchTokensOfMany, type Person } from './blind-index'
import { decrypt, encrypt } from './cipher'
import type { Keyring } from './keys'

/**
 * The columns that hold an address or a name, by the context their values are encrypted for
 * (the additional data of src/privacy/cipher.ts): a value moved to another column does not
 * decrypt. The supporters summary keeps the contexts of the users columns it copies.
 */
export const CONTEXT = {
  userEmail: 'users.email',
  userName: 'users.name',
  userCard: 'users.card',
  tokenEmail: 'email_tokens.email',
  mailTo: 'dev_mailbox.to',
  importRows: 'import_batches.rows',
} as const

/**
 * An account's address and name as stored: each encrypted, with the address index and search
 * tokens, and both again as one encrypted value, the card, for the readers of many rows at once
 * (the supporters list and its export): a Web Crypto call costs 20-30 µs on Node whatever it
 * decrypts, so one value per row halves an export's decryption.
 */
export interface SealedPerson {
  email: string
  emailIndex: string
  name: string | null
  searchTokens: string[]
  card: string
}

const cardOf = (person: { email: string; name: string | null }) => JSON.stringify([person.email, person.name])

/** A name as accounts keep it: trimmed, null when empty. */
export const cleanName = (name: string | null | undefined): string | null => name?.trim() || null

/** Seals one account's address (normalised) and name for `users`. */
export async function sealPerson(keyring: Keyring, person: Person): Promise<SealedPerson> {
  const email = normalizeAddress(person.email)
  const name = cleanName(person.name)
  const [sealedEmail, sealedName, emailIndex, tokens, card] = await Promise.all([
    encrypt(keyring, email, CONTEXT.userEmail),
    name === null ? null : encrypt(keyring, name, CONTEXT.userName),
    addressIndex(keyring, email),
    searchTokens(keyring, { email, name }),
    encrypt(keyring, cardOf({ email, name }), CONTEXT.userCard),
  ])
  return { email: sealedEmail, emailIndex, name: sealedName, searchTokens: tokens, card }
}

/**
 * Seals many accounts (an import, the migration, a rotation): each distinct search prefix hashed
 * once, and at most `parallel` people in flight, so memory stays flat.
 */
export async function sealPeople(keyring: Keyring, people: readonly Person[], parallel = 512): Promise<SealedPerson[]> {
  const out: SealedPerson[] = []
  for (let start = 0; start < people.length; start += parallel) {
    const slice = people.slice(start, start + parallel).map((p) => ({
      email: normalizeAddress(p.email),
      name: cleanName(p.name),
    }))
    const tokens = await searchTokensOfMany(keyring, slice)
    const sealed = await Promise.all(
      slice.map(async (p, i) => {
        const [email, name, emailIndex, card] = await Promise.all([
          encrypt(keyring, p.email, CONTEXT.userEmail),
          p.name === null ? null : encrypt(keyring, p.name, CONTEXT.userName),
          addressIndex(keyring, p.email),
          encrypt(keyring, cardOf(p), CONTEXT.userCard),
        ])
        return { email, emailIndex, name, searchTokens: tokens[i]!, card }
      }),
    )
    out.push(...sealed)
  }
  return out
}

/** An account's address and name in clear, from the stored values (of `users` or the supporters summary). */
export async function openPerson(
  keyring: Keyring,
  stored: { email: string; name: string | null },
): Promise<{ email: string; name: string | null }> {
  const [email, name] = await Promise.all([
    decrypt(keyring, stored.email, CONTEXT.userEmail),
    stored.name === null ? null : decrypt(keyring, stored.name, CONTEXT.userName),
  ])
  return { email, name }
}

/** Opens many stored people at once, at most `parallel` decryptions in flight, in order. */
export async function openPeople<T extends { email: string; name: string | null }>(
  keyring: Keyring,
  rows: readonly T[],
  parallel = 256,
): Promise<(T & { email: string; name: string | null })[]> {
  const out: (T & { email: string; name: string | null })[] = []
  for (let start = 0; start < rows.length; start += parallel) {
    const slice = rows.slice(start, start + parallel)
    const opened = await Promise.all(slice.map((row) => openPerson(keyring, row)))
    slice.forEach((row, i) => out.push({ ...row, ...opened[i]! }))
  }
  return out
}

/** An account's address in clear. */
export const openEmail = (keyring: Keyring, stored: string) => decrypt(keyring, stored, CONTEXT.userEmail)

/** Address and name from a card (`SealedPerson.card`), with one decryption. */
export async function openCard(keyring: Keyring, card: string): Promise<{ email: string; name: string | null }> {
  const parsed: unknown = JSON.parse(await decrypt(keyring, card, CONTEXT.userCard))
  if (
    !Array.isArray(parsed) ||
    typeof parsed[0] !== 'string' ||
    !(typeof parsed[1] === 'string' || parsed[1] === null)
  ) {
    throw new Error('A value in users.card is not an address and a name.')
  }
  return { email: parsed[0], name: parsed[1] as string | null }
}
