import * as nodeCrypto from 'node:crypto'
import { fromBase64Url, toBase64Url } from './base64'
import { KEY_ID, type Keyring, type KeySet } from './keys'

/**
 * Encrypted values, as stored: `v1.<key id>.<nonce>.<ciphertext and tag>`, the last two in
 * base64url, e.g. `v1.k2.4bVx9kqQ3mJcZ1pA.Jf3…`: about 45 characters and a third more than the
 * text's UTF-8 bytes.
 *
 * AES-256-GCM through node:crypto where it has it (Node; `nodeAes`), else Web Crypto (the same
 * values either way: tests/privacy/cipher.test.ts checks each reads the other's), with a random
 * 96-bit nonce per value (a key may write some 2³² values before nonces risk repeating; rotate
 * long before). The additional data binds the value to its version, its key id and a context,
 * by convention the `table.column` it is stored in: a value copied into another column, or into
 * the same column under another key id, does not decrypt.
 */

const VERSION = 'v1'
const NONCE_BYTES = 12
const TAG_BYTES = 16
const CONTEXT = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/

export type DecryptionFailure = 'malformed' | 'unknown_key' | 'tampered'

/** A stored value that cannot be read. Its message names the key id and the context, never the value. */
export class DecryptionError extends Error {
  constructor(
    readonly reason: DecryptionFailure,
    message: string,
  ) {
    super(message)
    this.name = 'DecryptionError'
  }
}

interface Parts {
  keyId: string
  nonce: Uint8Array<ArrayBuffer>
  sealed: Uint8Array<ArrayBuffer>
}

function partsOf(value: string): Parts | null {
  const [version, keyId, nonceText, sealedText, ...rest] = value.split('.')
  if (version !== VERSION || !keyId || !KEY_ID.test(keyId) || rest.length > 0) return null
  const nonce = fromBase64Url(nonceText ?? '')
  const sealed = fromBase64Url(sealedText ?? '')
  if (nonce?.length !== NONCE_BYTES || !sealed || sealed.length < TAG_BYTES) return null
  return { keyId, nonce, sealed }
}

const encoder = new TextEncoder()
/** One fatal decoder for every value: decoding whole buffers keeps no state between calls. */
const decoder = new TextDecoder('utf-8', { fatal: true })

/** The additional data of each key id and context, built once: there are a few of each. */
const additional = new Map<string, Uint8Array<ArrayBuffer>>()

function additionalData(keyId: string, context: string): Uint8Array<ArrayBuffer> {
  const name = `${keyId} ${context}`
  let data = additional.get(name)
  if (!data) {
    if (!CONTEXT.test(context)) throw new Error(`"${context}" is not a context: name the column, as in users.email.`)
    data = encoder.encode(`masthead ${VERSION} ${keyId} ${context}`)
    if (additional.size >= 256) additional.clear()
    additional.set(name, data)
  }
  return data
}

/** True when the text has the form of an encrypted value (not whether it decrypts): plaintext never does. */
export function isEncrypted(value: string): boolean {
  return partsOf(value) !== null
}

/** The id of the key a value was encrypted under, or null when it is not an encrypted value. */
export function keyIdOf(value: string): string | null {
  return partsOf(value)?.keyId ?? null
}

/**
 * Random nonces, drawn from the system's generator 1,024 at a time: one call for each value cost
 * a twentieth of an import's encryption (BENCHMARKS.md, patreon). Each is used once; the pool is
 * replaced, never refilled in place, so a nonce handed out never changes.
 */
let nonces = new Uint8Array(0)
let nextNonce = 0
function freshNonce(): Uint8Array<ArrayBuffer> {
  if (nextNonce + NONCE_BYTES > nonces.length) {
    nonces = crypto.getRandomValues(new Uint8Array(NONCE_BYTES * 1024))
    nextNonce = 0
  }
  const nonce = nonces.subarray(nextNonce, nextNonce + NONCE_BYTES)
  nextNonce += NONCE_BYTES
  return nonce
}

/**
 * node:crypto's AES-256-GCM, if this runtime has it: found out once, by sealing and opening a
 * value. On Node each Web Crypto call is a job on libuv's thread pool (tens of µs, most of a
 * 50,000-member import's encryption: BENCHMARKS.md, ghost); node:crypto's is a plain call.
 * `useNodeAes(false)` is for the tests that check the two agree.
 */
let nodeAes: typeof nodeCrypto | null | undefined
export function useNodeAes(use: boolean | undefined): void {
  nodeAes = use === false ? null : undefined
}
/** Which AES-GCM this runtime seals with: node:crypto's where it has one, else Web Crypto's. */
export const aesImplementation = (): 'node:crypto' | 'Web Crypto' => (nodeAesGcm() ? 'node:crypto' : 'Web Crypto')

function nodeAesGcm(): typeof nodeCrypto | null {
  if (nodeAes !== undefined) return nodeAes
  try {
    const key = new Uint8Array(32)
    const iv = new Uint8Array(NONCE_BYTES)
    const sealer = nodeCrypto.createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES })
    sealer.setAAD(iv)
    const sealed = concat(sealer.update(key), sealer.final())
    const opener = nodeCrypto.createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES })
    opener.setAAD(iv)
    opener.setAuthTag(sealer.getAuthTag())
    const opened = concat(opener.update(sealed), opener.final())
    nodeAes = opened.length === key.length && opened.every((b) => b === 0) ? nodeCrypto : null
  } catch {
    nodeAes = null
  }
  return nodeAes
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const whole = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let at = 0
  for (const part of parts) {
    whole.set(part, at)
    at += part.byteLength
  }
  return whole
}

/** node:crypto's key object of a key set, made once: from raw bytes, every cipher would import the key again. */
const keyObjects = new WeakMap<KeySet, nodeCrypto.KeyObject>()
function keyObjectOf(aes: typeof nodeCrypto, key: KeySet): nodeCrypto.KeyObject {
  let object = keyObjects.get(key)
  if (!object) {
    object = aes.createSecretKey(key.encryptionBytes)
    keyObjects.set(key, object)
  }
  return object
}

async function seal(key: KeySet, nonce: Uint8Array<ArrayBuffer>, ad: Uint8Array<ArrayBuffer>, plain: Uint8Array) {
  const aes = nodeAesGcm()
  if (aes) {
    const sealer = aes.createCipheriv('aes-256-gcm', keyObjectOf(aes, key), nonce, { authTagLength: TAG_BYTES })
    sealer.setAAD(ad)
    return concat(sealer.update(plain), sealer.final(), sealer.getAuthTag())
  }
  return new Uint8Array(
    await crypto.subtle.encrypt(
      { name: 'AES-GCM', iv: nonce, additionalData: ad, tagLength: TAG_BYTES * 8 },
      key.encryption,
      plain as Uint8Array<ArrayBuffer>,
    ),
  )
}

/** The plaintext's bytes; throws when the value fails its integrity check. */
async function open(key: KeySet, parts: Parts, ad: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  const aes = nodeAesGcm()
  if (aes) {
    const opener = aes.createDecipheriv('aes-256-gcm', keyObjectOf(aes, key), parts.nonce, {
      authTagLength: TAG_BYTES,
    })
    opener.setAAD(ad)
    opener.setAuthTag(parts.sealed.subarray(parts.sealed.length - TAG_BYTES))
    return concat(opener.update(parts.sealed.subarray(0, parts.sealed.length - TAG_BYTES)), opener.final())
  }
  return new Uint8Array(
    await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: parts.nonce, additionalData: ad, tagLength: TAG_BYTES * 8 },
      key.encryption,
      parts.sealed,
    ),
  )
}

/** Encrypts under the current key. */
export async function encrypt(keyring: Keyring, plaintext: string, context: string): Promise<string> {
  const key = keyring.current
  const nonce = freshNonce()
  const sealed = await seal(key, nonce, additionalData(key.id, context), encoder.encode(plaintext))
  return `${VERSION}.${key.id}.${toBase64Url(nonce)}.${toBase64Url(sealed)}`
}

/** Decrypts a value written under any key the keyring holds, for the context it was written for. */
export async function decrypt(keyring: Keyring, value: string, context: string): Promise<string> {
  const parts = partsOf(value)
  if (!parts) {
    throw new DecryptionError('malformed', `A value in ${context} is not an encrypted value of version ${VERSION}.`)
  }
  const key = keyring.byId.get(parts.keyId)
  if (!key) {
    throw new DecryptionError(
      'unknown_key',
      `A value in ${context} is encrypted under key ${parts.keyId}, which neither DATA_ENCRYPTION_KEY nor ` +
        'DATA_ENCRYPTION_KEYS_OLD holds: add that key to DATA_ENCRYPTION_KEYS_OLD.',
    )
  }
  let plain: Uint8Array
  try {
    plain = await open(key, parts, additionalData(parts.keyId, context))
  } catch {
    throw new DecryptionError(
      'tampered',
      `A value in ${context} under key ${parts.keyId} failed its integrity check: it was altered, or was ` +
        'written for another column.',
    )
  }
  return decoder.decode(plain)
}

/**
 * True unless the value is encrypted under the current key: what a rotation re-encrypts
 * (ARCHITECTURE.md, "Personal data at rest"). Plaintext from before encryption counts too, since
 * it has no key id.
 */
export function needsRotation(keyring: Keyring, value: string): boolean {
  return keyIdOf(value) !== keyring.current.id
}
