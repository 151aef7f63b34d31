/**
 * What staff type into a search or a filter often names someone ("ana@example.org",
 * "Ana Álvarez"), and the audit log is kept for good. So the log never holds the text: it holds
 * `hmac-sha256:<hex>`, an HMAC-SHA256 of the term (trimmed, NFC, lower-cased, as the search
 * matches it) under a key of its own. The same term always gives the same hash, so an admin can
 * see that two exports searched for the same thing, and someone who holds the secret can check
 * whether a given term was searched; a copy of the database alone cannot reverse it, nor test
 * guesses against it, as it could a plain SHA-256 of an address.
 *
 * The key is derived (HKDF-SHA256, info below) from ENTITLEMENT_TOKEN_SECRET rather than being
 * that secret, which signs entitlement tokens and page-view cookies (HMAC-SHA256 too): the log
 * must not hand an admin the MAC of a text they chose under the key that signs those. Rotating
 * ENTITLEMENT_TOKEN_SECRET changes the key: terms hashed before can no longer be compared with
 * terms hashed after.
 *
 * Entries written before drizzle/0013 held the term itself; that migration replaced it with
 * TERM_REMOVED, since SQL has neither the secret nor an HMAC.
 */

/** The prefix of a hashed term as stored. */
export const HASHED_TERM = 'hmac-sha256:'

/** What drizzle/0013 left in place of a term stored in clear before. */
export const TERM_REMOVED = '[term removed]'

const INFO = 'masthead audit-log search terms v1'

/** Derived keys by secret, as src/entitlements/page-view.ts keeps its keys: a CryptoKey holds no socket. */
const keys = new Map<string, Promise<CryptoKey>>()

function keyOf(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret)
  if (!key) {
    if (keys.size >= 4) keys.clear()
    const encoder = new TextEncoder()
    key = crypto.subtle
      .importKey('raw', encoder.encode(secret), 'HKDF', false, ['deriveKey'])
      .then((base) =>
        crypto.subtle.deriveKey(
          { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: encoder.encode(INFO) },
          base,
          { name: 'HMAC', hash: 'SHA-256', length: 256 },
          false,
          ['sign'],
        ),
      )
    keys.set(secret, key)
  }
  return key
}

/** The stored form of a typed term: `hmac-sha256:` and 64 hex digits. */
export async function hashTerm(secret: string, term: string): Promise<string> {
  const normalized = term.trim().normalize('NFC').toLowerCase()
  const mac = await crypto.subtle.sign('HMAC', await keyOf(secret), new TextEncoder().encode(normalized))
  return HASHED_TERM + Array.from(new Uint8Array(mac), (b) => b.toString(16).padStart(2, '0')).join('')
}

/**
 * A stored term in words for the audit page: "a search (hash 1a2b3c4d5e6f…)", or "(term
 * removed)" for one from before drizzle/0013. Anything else (a status, a date) is shown as it is.
 */
export function describeTerm(value: unknown, what = 'a search'): unknown {
  if (typeof value !== 'string') return value
  if (value.startsWith(HASHED_TERM))
    return `${what} (hash ${value.slice(HASHED_TERM.length, HASHED_TERM.length + 12)}…)`
  if (value === TERM_REMOVED) return `${what} (term removed)`
  return value
}
