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
 * An account's address and name as stored: both in one encrypted value, the card (`JSON
 * [address, name]`), with the address index and the search tokens. One value, because a Web
 * Crypto call costs 15-20 µs on Node whatever it encrypts: a 50,000-row import seals 50,000 cards,
 * and a list or an export decrypts one value a row. `named` says whether there is a name, so that
 * SQL can tell without decrypting (a Patreon import fills only a missing one).
 */
export interface SealedPerson {
  emailIndex: string
  searchTokens: string[]
  card: string
  named: boolean
}

const cardOf = (person: { email: string; name: string | null }) => JSON.stringify([person.email, person.name])

/** A name as accounts keep it: trimmed, null when empty. */
export const cleanName = (name: string | null | undefined): string | null => name?.trim() || null

/** Seals one account's address (normalised) and name for `users`. */
export async function sealPerson(keyring: Keyring, person: Person): Promise<SealedPerson> {
  const email = normalizeAddress(person.email)
  const name = cleanName(person.name)
  const [emailIndex, searchTokensOf, card] = await Promise.all([
    addressIndex(keyring, email),
    searchTokens(keyring, { email, name }),
    encrypt(keyring, cardOf({ email, name }), CONTEXT.userCard),
  ])
  return { emailIndex, searchTokens: searchTokensOf, card, named: name !== null }
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
        const [emailIndex, card] = await Promise.all([
          addressIndex(keyring, p.email),
          encrypt(keyring, cardOf(p), CONTEXT.userCard),
        ])
        return { emailIndex, searchTokens: tokens[i]!, card, named: p.name !== null }
      }),
    )
    out.push(...sealed)
    // Its work is synchronous crypto, and every await above resolves at once: without a turn of the event
    // loop between chunks, a whole batch sealed as one run of microtasks, and a statement the caller had
    // just sent (an import writes one batch while it seals the next) waited for it to finish before its
    // answer was read, so the database and the sealing took turns instead of overlapping.
    await nextTurn()
  }
  return out
}

/** A turn of the event loop: pending I/O (a socket write, an answer) runs before what follows. */
const nextTurn = () =>
  new Promise<void>((resolve) => (typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0)))

/**
 * An account's address and name in clear, from what its row holds: the card, or for an account
 * from before the card that the pass after the migrations has not reached yet, the address and
 * the name as they were stored then (encrypted each, or from before drizzle/0014 in clear).
 */
export async function openAccount(
  keyring: Keyring,
  stored: { card: string | null; email: string | null; name: string | null },
): Promise<{ email: string; name: string | null }> {
  if (stored.card !== null) return openCard(keyring, stored.card)
  if (stored.email === null) throw new Error('An account holds neither a card nor an address.')
  return openPerson(keyring, { email: stored.email, name: stored.name })
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

/** What an account's row holds of its address and name: the card, or what came before it. */
export type StoredPerson = { card: string | null; email: string | null; name: string | null }

/** An account's address in clear (`openAccount`). */
export const openAddress = async (keyring: Keyring, stored: StoredPerson) => (await openAccount(keyring, stored)).email

/** Opens many stored accounts at once (`openAccount`), at most `parallel` decryptions in flight, in order. */
export async function openPeople<T extends { card: string | null; email: string | null; name: string | null }>(
  keyring: Keyring,
  rows: readonly T[],
  parallel = 256,
): Promise<(Omit<T, 'email' | 'name'> & { email: string; name: string | null })[]> {
  const out: (Omit<T, 'email' | 'name'> & { email: string; name: string | null })[] = []
  for (let start = 0; start < rows.length; start += parallel) {
    const slice = rows.slice(start, start + parallel)
    const opened = await Promise.all(slice.map((row) => openAccount(keyring, row)))
    slice.forEach((row, i) => out.push({ ...row, ...opened[i]! }))
  }
  return out
}

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
