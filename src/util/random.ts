import * as nodeCrypto from 'node:crypto'
/** Random identifiers and secrets from the platform's CSPRNG (Web Crypto works on Workers and Node). */

function base64url(bytes: Uint8Array): string {
  let binary = ''
  for (const b of bytes) binary += String.fromCharCode(b)
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '')
}

/**
 * Random bytes for ids, drawn from the system's generator 1,024 ids at a time: one call per id
 * cost a twentieth of a 50,000-member import (BENCHMARKS.md, ghost). Each byte is used once; the
 * pool is replaced, never refilled in place.
 */
const ID_BYTES = 15
let idPool = new Uint8Array(0)
let nextId = 0

/** A URL-safe id: 15 random bytes, 20 characters. */
export function randomId(): string {
  if (nextId + ID_BYTES > idPool.length) {
    idPool = crypto.getRandomValues(new Uint8Array(ID_BYTES * 1024))
    nextId = 0
  }
  const bytes = idPool.subarray(nextId, nextId + ID_BYTES)
  nextId += ID_BYTES
  return base64url(bytes)
}

/** A URL-safe secret for links: 32 random bytes. */
export function randomToken(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(32)))
}

/** Hex SHA-256, to store and look up secrets without keeping them. */
export function sha256Hex(text: string): string {
  // node:crypto (workerd has it under nodejs_compat): every signed-in request hashes its session
  // token, and Web Crypto's digest cost about 40 µs of CPU on Node here, this about 2; synchronous,
  // so that a request that hashes and reads nothing else awaits nothing for it.
  // The one-shot hash (Node 21.7+) makes no Hash object per call; where it is missing, createHash.
  return oneShot ? oneShot('sha256', text, 'hex') : nodeCrypto.createHash('sha256').update(text).digest('hex')
}

const oneShot = (nodeCrypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash
