/**
 * A Worker that exercises src/privacy inside workerd, for tests/privacy/workerd.test.ts: it is no
 * part of Masthead's Worker, which has no route for this. POST a key, a value Node encrypted and
 * some people; it answers what workerd makes of them.
 */
import { addressIndex, queryTokens, searchTokens, type Person } from '../../src/privacy/blind-index'
import { decrypt, DecryptionError, encrypt, needsRotation } from '../../src/privacy/cipher'
import { createKeyring } from '../../src/privacy/keys'
import { compareSortTexts } from '../../src/privacy/name-order'

export interface WorkerdCheck {
  key: string
  oldKey: string
  fromNode: string
  fromNodeUnderOldKey: string
  person: Person
  names: string[]
}

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
    })
  },
}
