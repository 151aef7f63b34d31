/** Bytes as text and back, with the platform's btoa/atob (Workers and Node alike; no Buffer). */

export function toBase64(bytes: Uint8Array): string {
  let binary = ''
  for (const b of bytes) binary += String.fromCharCode(b)
  return btoa(binary)
}

/** URL-safe base64 without padding (RFC 4648 §5): the form every stored value uses. */
export function toBase64Url(bytes: Uint8Array): string {
  return toBase64(bytes).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '')
}

function decode(standard: string): Uint8Array<ArrayBuffer> | null {
  const padded = standard.padEnd(standard.length + ((4 - (standard.length % 4)) % 4), '=')
  try {
    return Uint8Array.from(atob(padded), (ch) => ch.charCodeAt(0))
  } catch {
    return null
  }
}

/**
 * Strict: only the URL-safe alphabet, no padding, and only the one text that encodes the bytes
 * (the spare bits of the last character zero). So a stored value altered in any character never
 * decodes to the same bytes; null when the text is not such an encoding.
 */
export function fromBase64Url(text: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null
  const bytes = decode(text.replaceAll('-', '+').replaceAll('_', '/'))
  return bytes && toBase64Url(bytes) === text ? bytes : null
}

/** Lenient, for keys people paste: either alphabet, padding optional (what `openssl rand -base64 32` prints). */
export function fromBase64(text: string): Uint8Array<ArrayBuffer> | null {
  const body = text.replace(/=+$/, '')
  if (!/^[A-Za-z0-9+/_-]*$/.test(body) || body.length % 4 === 1) return null
  return decode(body.replaceAll('-', '+').replaceAll('_', '/'))
}
