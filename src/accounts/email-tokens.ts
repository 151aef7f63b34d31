import { and, eq, isNull, gt, lt } from 'drizzle-orm'
import type { Database } from '../db/client'
import { emailTokens, EMAIL_TOKEN_PURPOSES } from '../db/schema'
import { AppError } from '../http/errors'
import { addressIndex, normalizeAddress } from '../privacy/blind-index'
import { decrypt, encrypt } from '../privacy/cipher'
import type { Keyring } from '../privacy/keys'
import { CONTEXT } from '../privacy/people'
import { randomToken, sha256Hex } from '../util/random'

export type EmailTokenPurpose = (typeof EMAIL_TOKEN_PURPOSES)[number]
/** A token's row as stored: `email` is encrypted (`email_tokens.email`). */
export type EmailToken = typeof emailTokens.$inferSelect

/** How long an e-mailed link works. */
export const EMAIL_TOKEN_TTL_MS = 15 * 60 * 1000

/**
 * Stores the hash of a new single-use token and returns the token itself, to be e-mailed. The
 * address is stored encrypted, with its index so that deleting the account finds the link.
 */
export async function issueEmailToken(
  db: Database,
  keyring: Keyring,
  now: Date,
  fields: { purpose: EmailTokenPurpose; email: string; userId?: string; nextPath?: string },
): Promise<{ token: string; tokenHash: string }> {
  const token = randomToken()
  const email = normalizeAddress(fields.email)
  const tokenHash = sha256Hex(token)
  const [sealedEmail, emailIndex] = await Promise.all([
    encrypt(keyring, email, CONTEXT.tokenEmail),
    addressIndex(keyring, email),
  ])
  // Links past their time are useless; clear them while we are here.
  await db.delete(emailTokens).where(lt(emailTokens.expiresAt, new Date(now.getTime() - 24 * 3600 * 1000)))
  await db.insert(emailTokens).values({
    tokenHash,
    purpose: fields.purpose,
    email: sealedEmail,
    emailIndex,
    userId: fields.userId ?? null,
    nextPath: fields.nextPath ?? null,
    createdAt: now,
    expiresAt: new Date(now.getTime() + EMAIL_TOKEN_TTL_MS),
  })
  return { token, tokenHash }
}

export async function discardEmailToken(db: Database, tokenHash: string): Promise<void> {
  await db.delete(emailTokens).where(eq(emailTokens.tokenHash, tokenHash))
}

/** Why a token cannot be used, in words for the person holding the link. */
function rejection(token: EmailToken | undefined, now: Date): AppError {
  if (!token) return new AppError('invalid_token', 'This link is not valid. Ask for a new one.')
  if (token.usedAt) return new AppError('invalid_token', 'This link has already been used. Ask for a new one.')
  if (token.expiresAt <= now) return new AppError('invalid_token', 'This link has expired. Ask for a new one.')
  return new AppError('invalid_token', 'This link is not valid. Ask for a new one.')
}

async function find(db: Database, tokenHash: string) {
  const [row] = await db.select().from(emailTokens).where(eq(emailTokens.tokenHash, tokenHash))
  return row
}

/**
 * Looks at a token without using it (for the page a mail scanner may fetch), its address left
 * encrypted: that page shows none. Throws when it is unusable.
 */
export async function peekEmailToken(db: Database, now: Date, token: string): Promise<EmailToken> {
  const row = await find(db, sha256Hex(token))
  if (!row || row.usedAt || row.expiresAt <= now) throw rejection(row, now)
  return row
}

/**
 * Uses a token up, and answers with its row, the address it was sent to
 * decrypted (the account it proves is found by that address). The
 * conditional update makes it single-use even when two requests race: only one
 * of them gets the row back.
 */
export async function consumeEmailToken(db: Database, keyring: Keyring, now: Date, token: string): Promise<EmailToken> {
  const tokenHash = sha256Hex(token)
  const [row] = await db
    .update(emailTokens)
    .set({ usedAt: now })
    .where(and(eq(emailTokens.tokenHash, tokenHash), isNull(emailTokens.usedAt), gt(emailTokens.expiresAt, now)))
    .returning()
  if (!row) throw rejection(await find(db, tokenHash), now)
  return { ...row, email: await decrypt(keyring, row.email, CONTEXT.tokenEmail) }
}
