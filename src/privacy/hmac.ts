/**
 * HMAC-SHA-256 (RFC 2104, FIPS 180-4) computed in JavaScript, for the blind indexes only.
 *
 * Why not Web Crypto, as the values themselves use: a blind index is hashed for every address
 * looked up and for every word prefix of every imported name and address, and on Node each Web
 * Crypto call is a job on libuv's thread pool costing 7-20 µs whatever it hashes; a 50,000-row
 * Patreon import computes some 140,000 of them, most of its 5 s budget (BENCHMARKS.md, patreon).
 * Here an index of a short text is two SHA-256 compressions on the calling thread, about 1-2 µs,
 * because the key's inner and outer pads are compressed once, when the key is imported.
 *
 * It is checked against Web Crypto's HMAC, on Node and in workerd, by tests/privacy/hmac.test.ts,
 * with RFC 4231's vectors and random keys and messages. Nothing secret is compared here, so
 * timing does not matter: the output is stored, not checked against an input.
 */

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
])

const INITIAL = new Uint32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
])

const BLOCK = 64

/** Compresses one 64-byte block at `offset` into `state` (eight 32-bit words), in place. */
function compress(state: Uint32Array, block: Uint8Array, offset: number, w: Uint32Array): void {
  for (let i = 0; i < 16; i++) {
    const j = offset + i * 4
    w[i] = (block[j]! << 24) | (block[j + 1]! << 16) | (block[j + 2]! << 8) | block[j + 3]!
  }
  for (let i = 16; i < 64; i++) {
    const a = w[i - 15]!
    const b = w[i - 2]!
    const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3)
    const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10)
    w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0
  }
  let a = state[0]!
  let b = state[1]!
  let c = state[2]!
  let d = state[3]!
  let e = state[4]!
  let f = state[5]!
  let g = state[6]!
  let h = state[7]!
  for (let i = 0; i < 64; i++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))
    const t1 = (h + s1 + ((e & f) ^ (~e & g)) + K[i]! + w[i]!) | 0
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))
    const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0
    h = g
    g = f
    f = e
    e = (d + t1) | 0
    d = c
    c = b
    b = a
    a = (t1 + t2) | 0
  }
  state[0] = (state[0]! + a) | 0
  state[1] = (state[1]! + b) | 0
  state[2] = (state[2]! + c) | 0
  state[3] = (state[3]! + d) | 0
  state[4] = (state[4]! + e) | 0
  state[5] = (state[5]! + f) | 0
  state[6] = (state[6]! + g) | 0
  state[7] = (state[7]! + h) | 0
}

/**
 * Scratch space for `finish`, which runs to its end without yielding, so one set serves every
 * call: a 50,000-member import hashes about a million word prefixes, and allocating these for
 * each cost a tenth of its time in the garbage collector (BENCHMARKS.md, ghost).
 */
const STATE = new Uint32Array(8)
const W = new Uint32Array(64)
const TAIL = [new Uint8Array(BLOCK), new Uint8Array(2 * BLOCK)] as const
const INNER_DIGEST = new Uint8Array(32)

/**
 * The digest of `message` hashed after `before` bytes already compressed into `from` (a whole
 * number of blocks: the HMAC pad): the rest of the message, its padding and its length; written
 * into `out` (a new array unless given).
 */
function finish(from: Uint32Array, message: Uint8Array, before: number, out = new Uint8Array(32)): Uint8Array {
  const state = STATE
  state.set(from)
  const whole = message.length - (message.length % BLOCK)
  for (let offset = 0; offset < whole; offset += BLOCK) compress(state, message, offset, W)
  const restLength = message.length - whole
  const tail = TAIL[restLength + 9 > BLOCK ? 1 : 0]
  tail.fill(0)
  tail.set(message.subarray(whole))
  tail[restLength] = 0x80
  const bits = (before + message.length) * 8
  const end = tail.length
  // Lengths here are far below 2^32 bits: the high word stays zero.
  tail[end - 4] = bits >>> 24
  tail[end - 3] = bits >>> 16
  tail[end - 2] = bits >>> 8
  tail[end - 1] = bits
  for (let offset = 0; offset < end; offset += BLOCK) compress(state, tail, offset, W)
  for (let i = 0; i < 8; i++) {
    out[i * 4] = state[i]! >>> 24
    out[i * 4 + 1] = state[i]! >>> 16
    out[i * 4 + 2] = state[i]! >>> 8
    out[i * 4 + 3] = state[i]!
  }
  return out
}

/** SHA-256 of `message`. */
export function sha256(message: Uint8Array): Uint8Array {
  return finish(INITIAL, message, 0)
}

/** An HMAC-SHA-256 key, its pads already compressed. */
export interface HmacKey {
  readonly inner: Uint32Array
  readonly outer: Uint32Array
}

export function importHmacKey(key: Uint8Array): HmacKey {
  const block = new Uint8Array(BLOCK)
  block.set(key.length > BLOCK ? sha256(key) : key)
  const pad = (byte: number) => {
    const padded = block.map((b) => b ^ byte)
    const state = INITIAL.slice()
    compress(state, padded, 0, new Uint32Array(64))
    return state
  }
  return { inner: pad(0x36), outer: pad(0x5c) }
}

/** HMAC-SHA-256 of `message` under `key`: 32 bytes. */
export function hmacSha256(key: HmacKey, message: Uint8Array): Uint8Array {
  // The inner digest goes into scratch space: the outer hash reads it before anything writes it again.
  return finish(key.outer, finish(key.inner, message, BLOCK, INNER_DIGEST), BLOCK)
}
