import * as z from 'zod'
import { deleteAccount } from '../accounts/account-data'
import type { SessionUser } from '../accounts/sessions'
import { audit } from '../audit/audit'
import type { Database } from '../db/client'
import { AppError } from '../http/errors'
import type { Keyring } from '../privacy/keys'

/** The page's confirmation: the word typed, as the reader types DELETE for their own account. */
export const eraseInput = z.object({
  confirm: z.string({ error: 'Type ERASE to confirm.' }).refine((v) => v.trim().toUpperCase() === 'ERASE', {
    error: 'Type ERASE to confirm.',
  }),
})

/**
 * An admin erases a supporter on their request: exactly what deleting their
 * own account does (deleteAccount, with its refusal while Stripe still bills a
 * membership), and in the same transaction an audit entry `supporter.erased`
 * that names the account by id, never by address or name.
 */
export async function eraseSupporter(
  db: Database,
  keyring: Keyring,
  now: Date,
  actor: Pick<SessionUser, 'id'>,
  userId: string,
): Promise<void> {
  await db.transaction(async (tx) => {
    const deleted = await deleteAccount(tx, keyring, userId)
    if (!deleted) throw new AppError('not_found', 'There is no supporter with that id.')
    await audit(tx, now, actor, 'supporter.erased', userId)
  })
}
