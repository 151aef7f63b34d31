import type { Config } from '../config'
import { fromBase64, toBase64 } from './base64'
import { importHmacKey, type HmacKey } from './hmac'

/**
 * Data keys: the secrets that encrypt e-mail addresses and names at rest (ARCHITECTURE.md,
 * "Personal data at rest").
 *
 * A key is written `<id>:<base64 of 32 random bytes>`, e.g. `k2:3q2+7w…=` (44 characters after
 * the colon): `npm run keys:generate` makes one, or `echo "k2:$(openssl rand -base64 32)"`. The id
 * (`k` and a number) travels with every value encrypted under the key, so that after a rotation
 * the old key, kept in DATA_ENCRYPTION_KEYS_OLD, still reads what it wrote. k0 is the public
 * development key; generated keys start at k1.
 *
 * The key itself is never used: HKDF-SHA-256 derives one subkey per purpose from it, so that no
 * output of one use (a blind index an editor's search reveals, say) says anything about another.
 * The sort by name needs no key (src/privacy/name-order.ts).
 */

export interface DataKey {
  id: string
  bytes: Uint8Array<ArrayBuffer>
}

/**
 * The subkeys of one data key, derived once: the encryption key as a non-extractable CryptoKey,
 * the two index keys as HMAC keys for src/privacy/hmac.ts (why not Web Crypto: see there).
 */
export interface KeySet {
  id: string
  /** AES-256-GCM: the values themselves (src/privacy/cipher.ts). */
  encryption: CryptoKey
  /**
   * The same AES-256-GCM key's bytes, for node:crypto where it has AES-GCM (src/privacy/cipher.ts):
   * Web Crypto's AES on Node is a job on libuv's thread pool per value, node:crypto's a call.
   */
  encryptionBytes: Uint8Array<ArrayBuffer>
  /** HMAC-SHA-256: the blind index of whole addresses, for lookups (src/privacy/blind-index.ts). */
  addressIndex: HmacKey
  /** HMAC-SHA-256: the blind index of word prefixes, for the editors' search. */
  searchIndex: HmacKey
}

/** The current key, which writes, and every key that may still be read, by id (the current one included). */
export interface Keyring {
  current: KeySet
  byId: ReadonlyMap<string, KeySet>
}

export const KEY_ID = /^k(0|[1-9]\d{0,5})$/
export const KEY_BYTES = 32
const HOW_TO_MAKE_ONE = '(make one with npm run keys:generate)'

/**
 * Reads a key as written in the environment. The problem, when there is one, is a sentence for
 * the person setting the variable and never repeats the value, which is a secret.
 */
export function readDataKey(text: string): { ok: true; key: DataKey } | { ok: false; problem: string } {
  const colon = text.indexOf(':')
  const id = colon < 0 ? '' : text.slice(0, colon).trim()
  if (!KEY_ID.test(id)) {
    return { ok: false, problem: `must start with a key id such as k1, then a colon ${HOW_TO_MAKE_ONE}` }
  }
  const bytes = fromBase64(text.slice(colon + 1).trim())
  if (bytes?.length !== KEY_BYTES) {
    return { ok: false, problem: `must hold 32 random bytes in base64 after "${id}:" ${HOW_TO_MAKE_ONE}` }
  }
  return { ok: true, key: { id, bytes } }
}

/** Like `readDataKey`, for keys already validated by the config: throws on a malformed one. */
export function parseDataKey(text: string): DataKey {
  const read = readDataKey(text)
  if (!read.ok) throw new Error(`A data encryption key ${read.problem}.`)
  return read.key
}

/** The id a new key should take: one more than the highest in use (k1 when only k0, or none, is). */
export function nextKeyId(ids: readonly string[]): string {
  const numbers = ids.filter((id) => KEY_ID.test(id)).map((id) => Number(id.slice(1)))
  return `k${Math.max(0, ...numbers) + 1}`
}

/** A new key, written as the environment takes it. */
export function generateDataKey(id: string): string {
  if (!KEY_ID.test(id)) throw new Error(`A key id is k and a number, such as k1: "${id}" is not one.`)
  return `${id}:${toBase64(crypto.getRandomValues(new Uint8Array(KEY_BYTES)))}`
}

/** HKDF's info strings: one per purpose, and a version should a purpose ever change. */
const PURPOSES = {
  encryption: 'masthead data key v1: encryption',
  addressIndex: 'masthead data key v1: address index',
  searchIndex: 'masthead data key v1: search index',
} as const

export async function importKeySet(key: DataKey): Promise<KeySet> {
  const base = await crypto.subtle.importKey('raw', key.bytes, 'HKDF', false, ['deriveKey', 'deriveBits'])
  const hkdf = (info: string) => ({
    name: 'HKDF',
    hash: 'SHA-256',
    // The key is 32 uniformly random bytes already: HKDF needs no salt to extract from it.
    salt: new Uint8Array(0),
    info: new TextEncoder().encode(info),
  })
  // 256 bits for each index key: what deriving an HMAC-SHA-256 CryptoKey of length 256 gives.
  const indexKey = async (info: string) =>
    importHmacKey(new Uint8Array(await crypto.subtle.deriveBits(hkdf(info), base, 256)))
  const [encryption, encryptionBits, addressIndex, searchIndex] = await Promise.all([
    crypto.subtle.deriveKey(hkdf(PURPOSES.encryption), base, { name: 'AES-GCM', length: 256 }, false, [
      'encrypt',
      'decrypt',
    ]),
    // Deriving a 256-bit AES key with HKDF takes HKDF's first 256 bits: these are its bytes.
    crypto.subtle.deriveBits(hkdf(PURPOSES.encryption), base, 256),
    indexKey(PURPOSES.addressIndex),
    indexKey(PURPOSES.searchIndex),
  ])
  return { id: key.id, encryption, encryptionBytes: new Uint8Array(encryptionBits), addressIndex, searchIndex }
}

/** Imports the current key and the old ones. Two keys with one id would make values ambiguous: refused. */
export async function createKeyring(current: string, old: readonly string[] = []): Promise<Keyring> {
  const keys = [current, ...old].map(parseDataKey)
  const ids = keys.map((k) => k.id)
  const repeated = ids.find((id, i) => ids.indexOf(id) !== i)
  if (repeated) throw new Error(`Two data encryption keys have the id ${repeated}: each key needs its own.`)
  const sets = await Promise.all(keys.map(importKeySet))
  return { current: sets[0]!, byId: new Map(sets.map((set) => [set.id, set])) }
}

/**
 * Keyrings by the text of their keys, imported once: deriving four keys is most of what a first
 * use costs. A CryptoKey holds no socket, so keeping it across requests is safe on Workers too,
 * as src/entitlements/page-view.ts keeps its keys; key sets are few, and the map is emptied when
 * full, so a rotation cannot grow it without bound.
 */
const keyrings = new Map<string, Promise<Keyring>>()

export function keyringOf(config: Pick<Config, 'DATA_ENCRYPTION_KEY' | 'DATA_ENCRYPTION_KEYS_OLD'>): Promise<Keyring> {
  const text = JSON.stringify([config.DATA_ENCRYPTION_KEY, config.DATA_ENCRYPTION_KEYS_OLD])
  let keyring = keyrings.get(text)
  if (!keyring) {
    if (keyrings.size >= 4) keyrings.clear()
    keyring = createKeyring(config.DATA_ENCRYPTION_KEY, config.DATA_ENCRYPTION_KEYS_OLD)
    // A failed import is not kept: the next use tries again.
    void keyring.catch(() => keyrings.delete(text))
    keyrings.set(text, keyring)
  }
  return keyring
}
