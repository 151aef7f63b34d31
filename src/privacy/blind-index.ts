import { toBase64Url } from './base64'
import type { Keyring, KeySet } from './keys'
import { hmacSha256, type HmacKey } from './hmac'

/**
 * Blind indexes: keyed hashes (HMAC-SHA-256 under subkeys of the data key) that let the
 * database find encrypted rows by equality without holding the text. Without the key a copy of
 * the database cannot compute one, so it cannot test guesses against them as it could a plain
 * SHA-256 of an address. What they still reveal is written down in ARCHITECTURE.md ("Personal
 * data at rest"): which rows share an address, which share a word prefix, and how often.
 */

/** Prefixes from this many characters (code points) are indexed; shorter query words are ignored. */
export const MIN_PREFIX = 3
/** ...up to this many: a longer query word is searched by its first 12 characters. */
export const MAX_PREFIX = 12
/** A search token keeps 96 bits of its HMAC: 16 characters, and no collision in any plausible table. */
const TOKEN_BYTES = 12
const encoder = new TextEncoder()

/** A blind index: the first `bytes` of the HMAC, in base64url (computed here: src/privacy/hmac.ts says why). */
function mac(key: HmacKey, text: string, bytes: number): string {
  return toBase64Url(hmacSha256(key, encoder.encode(text)).subarray(0, bytes))
}

/**
 * An address as lookups compare it: trimmed, lower-cased whole, and in Unicode NFC, so that the
 * same address typed in another case, with stray spaces, or with its accents composed another
 * way, is the same. The local part is lower-cased too although RFC 5321 lets a server tell
 * cases apart: no provider does, and Masthead has always kept addresses lower-case. Dots and
 * `+tags` are kept: they make different addresses at most providers, and folding them would
 * merge different people's accounts.
 */
export function normalizeAddress(email: string): string {
  return email.trim().toLowerCase().normalize('NFC')
}

/** The blind index of an address under the current key (43 characters): what is stored beside it. */
export function addressIndex(keyring: Keyring, email: string): Promise<string> {
  return Promise.resolve(mac(keyring.current.addressIndex, normalizeAddress(email), 32))
}

/**
 * The blind index of an address under every key the keyring holds, the current key's first: a
 * lookup matches any of them (`email_index = any(…)`), so rows not yet re-encrypted by a
 * rotation are still found.
 */
export function addressIndexes(keyring: Keyring, email: string): Promise<string[]> {
  const normalized = normalizeAddress(email)
  return Promise.resolve([...keyring.byId.values()].map((key) => mac(key.addressIndex, normalized, 32)))
}

/** Letters NFKD leaves whole, spelled the way people type them on a keyboard without them. */
const SPELLED_OUT: Record<string, string> = {
  ß: 'ss',
  æ: 'ae',
  œ: 'oe',
  ø: 'o',
  ł: 'l',
  đ: 'd',
  ð: 'd',
  þ: 'th',
  ı: 'i',
  ς: 'σ',
}

/** Text as the search compares it: NFKD, marks (diacritics) removed, lower-cased, a few letters spelled out. */
export function foldForSearch(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[ßæœøłđðþıς]/gu, (ch) => SPELLED_OUT[ch]!)
}

const APOSTROPHES = /['‘’ʼ`]/gu
/** Anything but a letter, a digit or an apostrophe separates words: spaces, and in addresses @ . _ - +. */
const SEPARATORS = /[^\p{L}\p{N}'‘’ʼ`]+/u

/**
 * The words of a name or an address as the index keeps them. A word with an apostrophe is kept
 * without it and also as its parts, so "O'Brien" is found by "obrien", "o'brien" and "brien".
 * An address needs nothing of its own: @ and the separators of its local part (. _ - +) and of
 * its domain (.) all split words, so `ana.lopez+news@bücher.example` gives ana, lopez, news,
 * bucher and example.
 */
export function indexWords(text: string): string[] {
  const words = new Set<string>()
  for (const chunk of foldForSearch(text).split(SEPARATORS)) {
    const parts = chunk.split(APOSTROPHES)
    words.add(parts.join(''))
    if (parts.length > 1) for (const part of parts) words.add(part)
  }
  words.delete('')
  return [...words]
}

/** The words of what an editor typed: the same folding, apostrophes dropped. */
export function queryWords(q: string): string[] {
  const words = foldForSearch(q)
    .split(SEPARATORS)
    .map((chunk) => chunk.replace(APOSTROPHES, ''))
  return [...new Set(words)].filter(Boolean)
}

/** Each word's prefixes of MIN_PREFIX to MAX_PREFIX code points; words shorter than MIN_PREFIX give none. */
export function prefixesOf(words: readonly string[]): string[] {
  const prefixes = new Set<string>()
  for (const word of words) {
    // By code points, without splitting the word into an array: an import cuts some 900,000 prefixes.
    let end = 0
    let count = 0
    for (const char of word) {
      end += char.length
      count += 1
      if (count > MAX_PREFIX) break
      if (count >= MIN_PREFIX) prefixes.add(word.slice(0, end))
    }
  }
  return [...prefixes]
}

export interface Person {
  name: string | null
  email: string
}

/** The prefixes a person is found by: of the words of their name and of the parts of their address, as one set. */
export function searchPrefixes(person: Person): string[] {
  return prefixesOf([...indexWords(person.name ?? ''), ...indexWords(normalizeAddress(person.email))])
}

/**
 * The search tokens of many people, each distinct prefix hashed once (an import shares most of
 * its prefixes: "gmail", "com", "joh"), at most 256 hashes in flight.
 */
export async function searchTokensOfMany(keyring: Keyring, people: readonly Person[]): Promise<string[][]> {
  const prefixes = people.map(searchPrefixes)
  const tokens = await tokensOf(keyring.current, [...new Set(prefixes.flat())])
  // Sorted, so the order of a row's tokens says nothing of which came from the name or the address.
  return prefixes.map((list) => [...new Set(list.map((p) => tokens.get(p)!))].sort())
}

/**
 * A person's search tokens under the current key: deduplicated and sorted, for a `text[]`
 * column with a GIN index (`search_tokens @> $query`).
 */
export async function searchTokens(keyring: Keyring, person: Person): Promise<string[]> {
  const [tokens] = await searchTokensOfMany(keyring, [person])
  return tokens!
}

/**
 * The tokens to search for what an editor typed: each word of `q` as one prefix (its first
 * MAX_PREFIX characters); words shorter than MIN_PREFIX are ignored, since no shorter prefix is
 * indexed. A row matches when its tokens contain every token of one set. One set per key the
 * keyring holds, the current key's first, so rows a rotation has not reached yet are found too;
 * no set at all (an empty array) when `q` has no word long enough.
 */
export async function queryTokens(keyring: Keyring, q: string): Promise<string[][]> {
  const prefixes = [
    ...new Set(
      queryWords(q)
        .map((word) => Array.from(word))
        .filter((chars) => chars.length >= MIN_PREFIX)
        .map((chars) => chars.slice(0, MAX_PREFIX).join('')),
    ),
  ]
  if (prefixes.length === 0) return []
  const sets = [...keyring.byId.values()].map(async (key) => {
    const tokens = await tokensOf(key, prefixes)
    return [...tokens.values()].sort()
  })
  return Promise.all(sets)
}

function tokensOf(key: KeySet, prefixes: readonly string[]): Promise<Map<string, string>> {
  const tokens = new Map<string, string>()
  for (const prefix of prefixes) tokens.set(prefix, mac(key.searchIndex, prefix, TOKEN_BYTES))
  return Promise.resolve(tokens)
}
