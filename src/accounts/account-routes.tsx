import { Hono, type Context } from 'hono'
import * as z from 'zod'
import { customerIdOf } from '../billing/customers'
import { membershipOf } from '../entitlements/membership'
import { AppError } from '../http/errors'
import { fieldErrors, readBody, validationError } from '../http/input'
import type { AppEnv } from '../services'
import { AccountDeleted, AccountPage, EmailChangeSent } from './account-pages'
import { page } from '../ui/layout'
import { deleteAccount, exportAccount } from './account-data'
import { emailField, sendEmailLink } from './links'
import { changeEmailMessage } from './messages'
import { requireUser } from './session'
import { hitRateLimit } from './rate-limit'
import { clearSessionCookie } from './sessions'

const changeEmailInput = z.object({ email: emailField })
const deleteInput = z.object({
  confirm: z.string({ error: 'Type DELETE to confirm.' }).refine((v) => v.trim().toUpperCase() === 'DELETE', {
    error: 'Type DELETE to confirm.',
  }),
})

/** The signed-in reader's own account: pages under /account, JSON under /api/account. */
export const account = new Hono<AppEnv>()
account.use('/account', requireUser)
account.use('/account/*', requireUser)
account.use('/api/account', requireUser)
account.use('/api/account/*', requireUser)

account.get('/account', (c) => accountPage(c, { notice: c.req.query('notice') }))

account.get('/api/account', async (c) => {
  const { db, clock, config } = c.var.services
  const membership = await membershipOf(db, c.var.user!.id, clock.now(), config.PAST_DUE_GRACE_DAYS)
  return c.json({ user: c.var.user, membership })
})

account.post('/account/email', async (c) => {
  const body = await readBody(c)
  const parsed = changeEmailInput.safeParse(body)
  const problem = parsed.success
    ? parsed.data.email === c.var.user!.email
      ? 'That is already your e-mail address.'
      : undefined
    : fieldErrors(parsed.error).email
  if (problem || !parsed.success) {
    const newEmail = String(body.email ?? '')
    return accountPage(c, { emailError: problem, newEmail }, 422)
  }
  await requestEmailChange(c, parsed.data.email)
  return page(c, 'Check your new inbox', <EmailChangeSent />)
})

account.post('/api/account/email', async (c) => {
  const parsed = changeEmailInput.safeParse(await readBody(c))
  if (!parsed.success) throw validationError(fieldErrors(parsed.error))
  if (parsed.data.email === c.var.user!.email) throw validationError({ email: 'That is already your e-mail address.' })
  await requestEmailChange(c, parsed.data.email)
  return c.json({ ok: true, message: 'A confirmation link was sent to the new address.' }, 202)
})

const download = async (c: Context<AppEnv>) => {
  const { db, clock } = c.var.services
  const data = await exportAccount(db, c.var.user!.id, clock.now())
  if (!data) throw new AppError('not_found', 'This account no longer exists.')
  c.header('Cache-Control', 'no-store')
  c.header('Content-Disposition', 'attachment; filename="my-account-data.json"')
  return c.json(data)
}
account.get('/account/data', download)
account.get('/api/account/data', download)

account.post('/account/delete', async (c) => {
  const parsed = deleteInput.safeParse(await readBody(c))
  if (!parsed.success) {
    const error = fieldErrors(parsed.error).confirm
    return accountPage(c, { deleteError: error }, 422)
  }
  await removeAccount(c)
  return page(c, 'Account deleted', <AccountDeleted />)
})

account.delete('/api/account', async (c) => {
  await removeAccount(c)
  return c.json({ ok: true })
})

async function removeAccount(c: Context<AppEnv>) {
  const { db, config } = c.var.services
  await deleteAccount(db, c.var.user!.id)
  clearSessionCookie(c, db, config)
  c.set('user', null)
  c.set('session', null)
}

/** The account page with the member's billing state, and whatever the form needs to say. */
async function accountPage(
  c: Context<AppEnv>,
  extra: Omit<Parameters<typeof AccountPage>[0], 'user' | 'membership' | 'hasBillingAccount'>,
  status: 200 | 422 = 200,
) {
  const { db, clock, config } = c.var.services
  const user = c.var.user!
  const membership = await membershipOf(db, user.id, clock.now(), config.PAST_DUE_GRACE_DAYS)
  const hasBillingAccount = (await customerIdOf(db, user.id)) !== null
  return page(
    c,
    'Your account',
    <AccountPage user={user} membership={membership} hasBillingAccount={hasBillingAccount} {...extra} />,
    status,
  )
}

/** Starts a change of address: the new address must prove itself with a link. */
async function requestEmailChange(c: Context<AppEnv>, newEmail: string): Promise<void> {
  const { services } = c.var
  const user = c.var.user!
  const now = services.clock.now()
  const rule = { limit: services.config.SIGN_IN_LIMIT, windowMs: services.config.SIGN_IN_WINDOW_MINUTES * 60_000 }
  await hitRateLimit(services.db, now, { scope: 'change-email:user', subject: user.id, ...rule })
  await sendEmailLink(
    services,
    c.get('requestId'),
    { purpose: 'change_email', email: newEmail, userId: user.id, nextPath: '/account' },
    (link) => changeEmailMessage(newEmail, services.config.PUBLICATION_NAME, link),
  )
}
