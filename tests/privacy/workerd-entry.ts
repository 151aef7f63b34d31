/**
 * A Worker that exercises src/privacy inside workerd, for tests/privacy/workerd.test.ts: it is no
 * part of Masthead's Worker, which has no route for this. POST a key, a value Node encrypted and
 * some people; it answers what workerd makes of them.
 */
import { addressIndex, queryTokens, searchTokens, type Person } from '../../src/privacy/blind-index'
import { aesImplementation, decrypt, DecryptionError, encrypt, needsRotation } from '../../src/privacy/cipher'
import { hmacSha256, importHmacKey } from '../../src/privacy/hmac'
import { createKeyring } from '../../src/privacy/keys'
import { compareSortTexts } from '../../src/privacy/name-order'

export interface WorkerdCheck {
  key: string
  oldKey: string
  fromNode: string
  fromNodeUnderOldKey: string
  person: Person
  names: string[]
  /** Keys and messages (hex) to hash with src/privacy/hmac.ts and with the runtime's Web Crypto. */
  hmacs: { key: string; message: string }[]
}

const hex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')
const fromHex = (text: string) => new Uint8Array((text.match(/../g) ?? []).map((pair) => parseInt(pair, 16)))

export default {
  async fetch(request: Request): Promise<Response> {
    const check = (await request.json()) as WorkerdCheck
    const keyring = await createKeyring(check.key, [check.oldKey])
    const fromWorkerd = await encrypt(keyring, check.person.email, 'users.email')
    const failure = await decrypt(keyring, check.fromNode, 'users.name').then(
      () => 'decrypted',
      (error: unknown) => (error instanceof DecryptionError ? error.reason : String(error)),
    )
    return Response.json({
      runtime: navigator.userAgent,
      aes: aesImplementation(),
      fromNode: await decrypt(keyring, check.fromNode, 'users.email'),
      fromNodeUnderOldKey: await decrypt(keyring, check.fromNodeUnderOldKey, 'users.email'),
      oldNeedsRotation: needsRotation(keyring, check.fromNodeUnderOldKey),
      otherContext: failure,
      fromWorkerd,
      roundTrip: await decrypt(keyring, fromWorkerd, 'users.email'),
      addressIndex: await addressIndex(keyring, check.person.email),
      searchTokens: await searchTokens(keyring, check.person),
      queryTokens: await queryTokens(keyring, check.person.name ?? ''),
      sorted: [...check.names].sort(compareSortTexts),
      hmacs: await Promise.all(
        check.hmacs.map(async ({ key, message }) => {
          const bytes = fromHex(key)
          const imported = await crypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash: 'SHA-256' }, false, [
            'sign',
          ])
          return {
            ours: hex(hmacSha256(importHmacKey(bytes), fromHex(message))),
            webCrypto: hex(new Uint8Array(await crypto.subtle.sign('HMAC', imported, fromHex(message)))),
          }
        }),
      ),
    })
  },
}
