import { lt, sql } from 'drizzle-orm'
import type { Database } from '../db/client'
import { rateLimits } from '../db/schema'
import { AppError } from '../http/errors'
import { addressIndex, addressIndexes } from '../privacy/blind-index'
import type { Keyring } from '../privacy/keys'
import { sha256Hex } from '../util/random'

export interface RateLimit {
  /** What is being limited, e.g. "sign-in:email". */
  scope: string
  /** Who is being limited: an address, an account id or an IP. Stored only as a hash. */
  subject: string
  limit: number
  windowMs: number
}

/**
 * The scopes that count per person, by their address or by their account (the others count
 * per client IP and name no one): src/accounts/sign-in-routes.tsx, account-routes.tsx and
 * src/billing/checkout-routes.tsx. "Download my data" lists these counters and deleting the
 * account removes them.
 */
export const ADDRESS_SCOPES = ['sign-in:email', 'checkout:email'] as const
export const ACCOUNT_SCOPES = ['change-email:user'] as const

const isAddressScope = (scope: string) => (ADDRESS_SCOPES as readonly string[]).includes(scope)

/**
 * The stored key of a scope and subject, the subject only as a hash: for an address scope its
 * address index under the current key (a keyed hash, so a copy of the table cannot test a list
 * of guessed addresses against it, as it could a plain SHA-256); for the others, which count
 * IPs and account ids, a SHA-256.
 */
export async function rateLimitKey(keyring: Keyring, scope: string, subject: string): Promise<string> {
  const hash = isAddressScope(scope) ? await addressIndex(keyring, subject) : sha256Hex(subject.toLowerCase())
  return `${scope}:${hash}`
}

/**
 * Every key a scope and subject may be stored under: for an address scope, one per key the
 * keyring holds, as counters written before a rotation keep their old index until their window
 * ends. What "download my data" lists and deleting an account removes.
 */
export async function rateLimitKeys(keyring: Keyring, scope: string, subject: string): Promise<string[]> {
  if (!isAddressScope(scope)) return [await rateLimitKey(keyring, scope, subject)]
  return (await addressIndexes(keyring, subject)).map((hash) => `${scope}:${hash}`)
}

/**
 * Counts one attempt in a fixed window and throws 429 with Retry-After when
 * the limit is passed. One upsert, so concurrent requests count correctly.
 */
export async function hitRateLimit(db: Database, keyring: Keyring, now: Date, rule: RateLimit): Promise<void> {
  const windowStart = new Date(Math.floor(now.getTime() / rule.windowMs) * rule.windowMs)
  const key = await rateLimitKey(keyring, rule.scope, rule.subject)
  const [row] = await db
    .insert(rateLimits)
    .values({ key, windowStart, count: 1 })
    .onConflictDoUpdate({
      target: [rateLimits.key, rateLimits.windowStart],
      set: { count: sql`${rateLimits.count} + 1` },
    })
    .returning({ count: rateLimits.count })
  const count = row?.count ?? 1
  if (count === 1) {
    // A new window has begun for this key: forget windows that are over for everyone.
    await db.delete(rateLimits).where(lt(rateLimits.windowStart, new Date(now.getTime() - 24 * 3600 * 1000)))
  }
  if (count > rule.limit) {
    const retryAfter = Math.max(1, Math.ceil((windowStart.getTime() + rule.windowMs - now.getTime()) / 1000))
    const minutes = Math.ceil(retryAfter / 60)
    throw new AppError(
      'rate_limited',
      `Too many attempts. Please wait ${minutes} minute${minutes === 1 ? '' : 's'} and try again.`,
      { headers: { 'Retry-After': String(retryAfter) } },
    )
  }
}
