import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fromBase64Url, toBase64Url } from '../../src/privacy/base64'
import {
  decrypt,
  DecryptionError,
  encrypt,
  isEncrypted,
  keyIdOf,
  needsRotation,
  useNodeAes,
} from '../../src/privacy/cipher'
import { createKeyring, generateDataKey } from '../../src/privacy/keys'

const k1 = generateDataKey('k1')
const k2 = generateDataKey('k2')

async function failureOf(promise: Promise<unknown>): Promise<DecryptionError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(DecryptionError)
  return error as DecryptionError
}

describe.each([
  ['node:crypto', true],
  ['Web Crypto', false],
])('encrypt and decrypt through %s', (_, node) => {
  beforeAll(() => useNodeAes(node))
  afterAll(() => useNodeAes(undefined))

  it('round-trips any text as `v1.<key id>.<nonce>.<ciphertext>`, a new nonce each time', async () => {
    const keyring = await createKeyring(k1)
    for (const text of ['ana@example.org', 'Ana Álvarez-Núñez', '用户＠例子．广告', '', '🙂'.repeat(100)]) {
      const value = await encrypt(keyring, text, 'users.email')
      expect(value).toMatch(/^v1\.k1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22,}$/)
      expect(value).not.toContain(text || '\u0000')
      expect(await decrypt(keyring, value, 'users.email')).toBe(text)
    }
    const twice = [await encrypt(keyring, 'same', 'users.name'), await encrypt(keyring, 'same', 'users.name')]
    expect(twice[0]).not.toBe(twice[1])
  })

  it('never repeats a nonce, across the pools they are drawn from 1,024 at a time', async () => {
    const keyring = await createKeyring(k1)
    const values = await Promise.all(Array.from({ length: 3000 }, () => encrypt(keyring, 'same', 'users.name')))
    const nonces = new Set(values.map((value) => value.split('.')[2]))
    expect(nonces.size).toBe(3000)
    for (const value of values.slice(-10)) expect(await decrypt(keyring, value, 'users.name')).toBe('same')
  })

  it('refuses a value with any one byte of its ciphertext or nonce flipped', async () => {
    const keyring = await createKeyring(k1)
    const value = await encrypt(keyring, 'ana@example.org', 'users.email')
    const [version, id, nonce, sealed] = value.split('.') as [string, string, string, string]
    const flip = (text: string, i: number) => {
      const bytes = fromBase64Url(text)!
      bytes[i] = bytes[i]! ^ 0x01
      return toBase64Url(bytes)
    }
    for (let i = 0; i < fromBase64Url(sealed)!.length; i++) {
      const failure = await failureOf(decrypt(keyring, [version, id, nonce, flip(sealed, i)].join('.'), 'users.email'))
      expect(failure.reason).toBe('tampered')
      expect(failure.message).toBe(
        'A value in users.email under key k1 failed its integrity check: it was altered, or was written for another column.',
      )
    }
    for (let i = 0; i < 12; i++) {
      const failure = await failureOf(decrypt(keyring, [version, id, flip(nonce, i), sealed].join('.'), 'users.email'))
      expect(failure.reason).toBe('tampered')
    }
  })

  it('refuses the value when any one character of its text is changed', async () => {
    const keyring = await createKeyring(k1)
    const value = await encrypt(keyring, 'ana@example.org', 'users.email')
    for (let i = 0; i < value.length; i++) {
      const changed = value.slice(0, i) + (value[i] === 'A' ? 'B' : 'A') + value.slice(i + 1)
      await failureOf(decrypt(keyring, changed, 'users.email'))
    }
  })

  it('refuses a value copied into another column (another context)', async () => {
    const keyring = await createKeyring(k1)
    const value = await encrypt(keyring, 'Ana Álvarez', 'users.name')
    const failure = await failureOf(decrypt(keyring, value, 'supporters.name'))
    expect(failure.reason).toBe('tampered')
    expect(failure.message).toContain('supporters.name')
    expect(failure.message).not.toContain(value)
    await expect(encrypt(keyring, 'x', 'no context')).rejects.toThrow('is not a context')
  })

  it('reads values under an old key, which need rotation, and writes under the current one', async () => {
    const before = await createKeyring(k1)
    const old = await encrypt(before, 'ana@example.org', 'users.email')
    const after = await createKeyring(k2, [k1])
    expect(await decrypt(after, old, 'users.email')).toBe('ana@example.org')
    expect(needsRotation(after, old)).toBe(true)
    const fresh = await encrypt(after, 'ana@example.org', 'users.email')
    expect(keyIdOf(fresh)).toBe('k2')
    expect(needsRotation(after, fresh)).toBe(false)
    expect(needsRotation(before, old)).toBe(false)
    // Plaintext from before encryption has no key id: it needs rewriting too.
    expect(needsRotation(after, 'ana@example.org')).toBe(true)
  })

  it('says which key is missing when the keyring does not hold it', async () => {
    const value = await encrypt(await createKeyring(k1), 'ana@example.org', 'users.email')
    const failure = await failureOf(decrypt(await createKeyring(k2), value, 'users.email'))
    expect(failure.reason).toBe('unknown_key')
    expect(failure.message).toBe(
      'A value in users.email is encrypted under key k1, which neither DATA_ENCRYPTION_KEY nor ' +
        'DATA_ENCRYPTION_KEYS_OLD holds: add that key to DATA_ENCRYPTION_KEYS_OLD.',
    )
    // The same id with other key material is an altered value, not a readable one.
    const impostor = await createKeyring(generateDataKey('k1'))
    expect((await failureOf(decrypt(impostor, value, 'users.email'))).reason).toBe('tampered')
  })

  it('tells a plaintext or truncated value apart from an encrypted one', async () => {
    const keyring = await createKeyring(k1)
    const value = await encrypt(keyring, 'ana@example.org', 'users.email')
    expect(isEncrypted(value)).toBe(true)
    const [, , nonce, sealed] = value.split('.')
    const malformed = [
      'ana@example.org',
      'v1.k1.ana@example.org',
      `v1.k1.${nonce}`,
      `v1.k1.${nonce!.slice(0, 12)}.${sealed}`,
      `v1.k1.${nonce}.${sealed!.slice(0, 20)}`,
      `${value}.x`,
      `v2${value.slice(2)}`,
      value.replace('v1.k1.', 'v1.key1.'),
    ]
    for (const text of malformed) {
      expect(isEncrypted(text)).toBe(false)
      expect((await failureOf(decrypt(keyring, text, 'users.email'))).reason).toBe('malformed')
    }
  })
})

describe('node:crypto and Web Crypto', () => {
  afterAll(() => useNodeAes(undefined))

  it('each reads what the other wrote, and both refuse the same altered value', async () => {
    const keyring = await createKeyring(k1, [k2])
    const texts = ['ana@example.org', 'Ana Álvarez-Núñez', '', '🙂'.repeat(300), 'x'.repeat(5000)]
    for (const [writer, reader] of [
      [true, false],
      [false, true],
    ] as const) {
      useNodeAes(writer)
      const values = await Promise.all(texts.map((text) => encrypt(keyring, text, 'users.name')))
      useNodeAes(reader)
      expect(await Promise.all(values.map((value) => decrypt(keyring, value, 'users.name')))).toEqual(texts)
      const [version, id, nonce, sealed] = values[0]!.split('.') as [string, string, string, string]
      const bytes = fromBase64Url(sealed)!
      bytes[bytes.length - 1]! ^= 1 // the tag
      const altered = [version, id, nonce, toBase64Url(bytes)].join('.')
      expect((await failureOf(decrypt(keyring, altered, 'users.name'))).reason).toBe('tampered')
      expect((await failureOf(decrypt(keyring, values[0]!, 'users.email'))).reason).toBe('tampered')
    }
  })
})
