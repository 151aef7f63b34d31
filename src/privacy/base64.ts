/**
 * Bytes as text and back (Workers and Node alike; no Buffer). Every stored value is decoded on
 * every read, so these are table-driven loops rather than btoa/atob round trips: a decryption
 * spent a third of its time here before (BENCHMARKS.md, supporters).
 */

const STANDARD = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
const URL_SAFE = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** Each character code's 6-bit value, or 255 outside the alphabet; one table per alphabet. */
function table(alphabet: string): Uint8Array {
  const values = new Uint8Array(128).fill(255)
  for (let i = 0; i < alphabet.length; i++) values[alphabet.charCodeAt(i)] = i
  return values
}
const URL_SAFE_VALUES = table(URL_SAFE)
/** Either alphabet: what people paste as a key may be either. */
const ANY_VALUES = (() => {
  const values = table(STANDARD)
  values['-'.charCodeAt(0)] = 62
  values['_'.charCodeAt(0)] = 63
  return values
})()

function encode(bytes: Uint8Array, alphabet: string, pad: boolean): string {
  let out = ''
  let i = 0
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!
    out += alphabet[n >> 18]! + alphabet[(n >> 12) & 63]! + alphabet[(n >> 6) & 63]! + alphabet[n & 63]!
  }
  const rest = bytes.length - i
  if (rest === 1) {
    const n = bytes[i]! << 16
    out += alphabet[n >> 18]! + alphabet[(n >> 12) & 63]! + (pad ? '==' : '')
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8)
    out += alphabet[n >> 18]! + alphabet[(n >> 12) & 63]! + alphabet[(n >> 6) & 63]! + (pad ? '=' : '')
  }
  return out
}

/**
 * Unpadded text in the alphabet of `values` to bytes, or null: a character outside it, a length
 * no encoding has, or (`strict`) spare bits in the last character that are not zero, which would
 * let two texts stand for the same bytes.
 */
function decode(text: string, values: Uint8Array, strict: boolean): Uint8Array<ArrayBuffer> | null {
  const length = text.length
  if (length % 4 === 1) return null
  const bytes = new Uint8Array(Math.floor((length * 3) / 4))
  let buffer = 0
  let bits = 0
  let o = 0
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i)
    const value = code < 128 ? values[code]! : 255
    if (value === 255) return null
    buffer = ((buffer << 6) | value) & 0xffffff
    bits += 6
    if (bits >= 8) {
      bits -= 8
      bytes[o++] = (buffer >> bits) & 0xff
    }
  }
  if (strict && (buffer & ((1 << bits) - 1)) !== 0) return null
  return bytes
}

export function toBase64(bytes: Uint8Array): string {
  return encode(bytes, STANDARD, true)
}

/** URL-safe base64 without padding (RFC 4648 §5): the form every stored value uses. */
export function toBase64Url(bytes: Uint8Array): string {
  return encode(bytes, URL_SAFE, false)
}

/**
 * Strict: only the URL-safe alphabet, no padding, and only the one text that encodes the bytes
 * (the spare bits of the last character zero). So a stored value altered in any character never
 * decodes to the same bytes; null when the text is not such an encoding.
 */
export function fromBase64Url(text: string): Uint8Array<ArrayBuffer> | null {
  return decode(text, URL_SAFE_VALUES, true)
}

/** Lenient, for keys people paste: either alphabet, padding optional (what `openssl rand -base64 32` prints). */
export function fromBase64(text: string): Uint8Array<ArrayBuffer> | null {
  return decode(text.replace(/=+$/, ''), ANY_VALUES, false)
}
