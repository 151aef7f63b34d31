/**
 * src/privacy/hmac.ts, the blind indexes' HMAC-SHA-256 computed in JavaScript, against RFC 4231's
 * test vectors and against Web Crypto's own HMAC and SHA-256 for random keys and messages of
 * every length around the block boundaries. tests/privacy/workerd.test.ts checks it in workerd.
 */
import { describe, expect, it } from 'vitest'
import { hmacSha256, importHmacKey, sha256 } from '../../src/privacy/hmac'

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')
const fromHex = (text: string) => new Uint8Array(Buffer.from(text, 'hex'))
const text = (s: string) => new TextEncoder().encode(s)

async function webCryptoHmac(key: Uint8Array<ArrayBuffer>, message: Uint8Array<ArrayBuffer>): Promise<string> {
  const imported = await crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  return hex(new Uint8Array(await crypto.subtle.sign('HMAC', imported, message)))
}

describe('HMAC-SHA-256 in JavaScript', () => {
  it('gives RFC 4231’s results', () => {
    const cases: [Uint8Array, Uint8Array, string][] = [
      [fromHex('0b'.repeat(20)), text('Hi There'), 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7'],
      [
        text('Jefe'),
        text('what do ya want for nothing?'),
        '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
      ],
      [
        fromHex('aa'.repeat(20)),
        fromHex('dd'.repeat(50)),
        '773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe',
      ],
      [
        fromHex('0102030405060708090a0b0c0d0e0f10111213141516171819'),
        fromHex('cd'.repeat(50)),
        '82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b',
      ],
      [
        fromHex('aa'.repeat(131)),
        text('Test Using Larger Than Block-Size Key - Hash Key First'),
        '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
      ],
      [
        fromHex('aa'.repeat(131)),
        text(
          'This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.',
        ),
        '9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2',
      ],
    ]
    for (const [key, message, expected] of cases) expect(hex(hmacSha256(importHmacKey(key), message))).toBe(expected)
  })

  it('agrees with Web Crypto for random keys and messages of every length about the block boundaries', async () => {
    const lengths = [...Array.from({ length: 140 }, (_, i) => i), 191, 192, 255, 256, 1000]
    for (const keyLength of [1, 16, 32, 63, 64, 65, 100]) {
      const key = crypto.getRandomValues(new Uint8Array(keyLength))
      const imported = importHmacKey(key)
      for (const length of lengths) {
        const message = crypto.getRandomValues(new Uint8Array(length))
        expect(hex(hmacSha256(imported, message)), `key ${keyLength} B, message ${length} B`).toBe(
          await webCryptoHmac(key, message),
        )
      }
    }
  })

  it('computes SHA-256 as Web Crypto does', async () => {
    expect(hex(sha256(new Uint8Array(0)))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
    for (const length of [1, 55, 56, 63, 64, 65, 119, 120, 128, 300]) {
      const message = crypto.getRandomValues(new Uint8Array(length))
      expect(hex(sha256(message))).toBe(hex(new Uint8Array(await crypto.subtle.digest('SHA-256', message))))
    }
  })

  it('leaves the key usable: many messages under one key give what each would alone', () => {
    const key = importHmacKey(text('a key'))
    const first = hex(hmacSha256(key, text('one')))
    hmacSha256(key, text('two'.repeat(100)))
    expect(hex(hmacSha256(key, text('one')))).toBe(first)
  })
})
