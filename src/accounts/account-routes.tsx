import { Hono, type Context } from 'hono'
import * as z from 'zod'
import { AppError } from '../http/errors'
import { answerFormError, submitForm, type RenderForm } from '../http/forms'
import { requireRole } from '../http/guards'
import { emailField, fieldErrors, readBody, typed, validationError } from '../http/input'
import { pathTo } from '../http/paths'
import { openAddress } from '../privacy/people'
import type { AppEnv } from '../services'
import { AccountDeleted, AccountPage, EmailChangeSent } from './account-pages'
import { page } from '../ui/layout'
import { deleteAccount, hasBillingAccount } from './account-data'
import { exportAccount } from './account-export'
import { sendEmailLink } from './links'
import { changeEmailMessage } from './messages'
import { hitRateLimit } from './rate-limit'
import { clearSessionCookie } from './sessions'

const changeEmailInput = z.object({ email: emailField })
const SAME_ADDRESS = 'That is already your e-mail address.'
const deleteInput = z.object({
  confirm: z.string({ error: 'Type DELETE to confirm.' }).refine((v) => v.trim().toUpperCase() === 'DELETE', {
    error: 'Type DELETE to confirm.',
  }),
})

/** The signed-in reader's own account, as pages under /account. */
export const accountPages = new Hono<AppEnv>().use(requireRole('reader'))

/** The same for API clients, under /api/account. */
export const accountApi = new Hono<AppEnv>().use(requireRole('reader'))

/** The signed-in account with its address decrypted, for what shows it (the session keeps it encrypted). */
async function signedInAccount(c: Context<AppEnv>) {
  const { id, stored, role } = c.var.user!
  return { id, email: await openAddress(await c.var.services.keyring, stored), role }
}

accountPages.get('/', (c) => accountPage(c, { notice: c.req.query('notice') }))

accountApi.get('/', async (c) =>
  c.json({
    user: await signedInAccount(c),
    membership: c.var.entitlements.paid,
    // Gift memberships received, as the account page lists them (src/billing/gifts).
    gifts: c.var.entitlements.gifts,
  }),
)

accountPages.post('/email', async (c) => {
  const body = await readBody(c)
  const newEmail = typed(body.email)
  const rerender: RenderForm = (errors, status) =>
    accountPage(c, { emailError: errors.email ?? errors.form, newEmail }, status as 422)
  const parsed = changeEmailInput.safeParse(body)
  if (!parsed.success) return answerFormError(c, fieldErrors(parsed.error), rerender)
  if (parsed.data.email === (await signedInAccount(c)).email)
    return answerFormError(c, { email: SAME_ADDRESS }, rerender)
  await requestEmailChange(c, parsed.data.email)
  return page(c, 'Check your new inbox', <EmailChangeSent />)
})

accountApi.post('/email', async (c) => {
  const parsed = changeEmailInput.safeParse(await readBody(c))
  if (!parsed.success) throw validationError(fieldErrors(parsed.error))
  if (parsed.data.email === (await signedInAccount(c)).email) throw validationError({ email: SAME_ADDRESS })
  await requestEmailChange(c, parsed.data.email)
  return c.json({ ok: true, message: 'A confirmation link was sent to the new address.' }, 202)
})

const download = async (c: Context<AppEnv>) => {
  const { db, clock, keyring } = c.var.services
  const data = await exportAccount(db, await keyring, c.var.user!.id, clock.now())
  if (!data) throw new AppError('not_found', 'This account no longer exists.')
  c.header('Cache-Control', 'no-store')
  c.header('Content-Disposition', 'attachment; filename="my-account-data.json"')
  return c.json(data)
}
accountPages.get('/data', download)
accountApi.get('/data', download)

accountPages.post('/delete', async (c) => {
  const rerender: RenderForm = (errors, status) =>
    accountPage(c, { deleteError: errors.confirm ?? errors.form }, status as 409 | 422)
  const parsed = deleteInput.safeParse(await readBody(c))
  if (!parsed.success) return answerFormError(c, fieldErrors(parsed.error), rerender)
  // Refused while Stripe still bills a membership (409): the page says so beside the button.
  return submitForm(
    c,
    async () => {
      await removeAccount(c)
      return page(c, 'Account deleted', <AccountDeleted />)
    },
    rerender,
  )
})

accountApi.delete('/', async (c) => {
  await removeAccount(c)
  return c.json({ ok: true })
})

/** Deletes the account (deleteAccount: everything about the person, in every table) and signs the reader out. */
async function removeAccount(c: Context<AppEnv>) {
  const { db, config, keyring } = c.var.services
  await deleteAccount(db, await keyring, c.var.user!.id)
  clearSessionCookie(c, db, config)
  c.set('user', null)
  c.set('session', null)
}

/** The account page with the member's billing state (read with the session), and whatever the form needs to say. */
async function accountPage(
  c: Context<AppEnv>,
  extra: Omit<Parameters<typeof AccountPage>[0], 'user' | 'membership' | 'hasBillingAccount'>,
  status: 200 | 409 | 422 = 200,
) {
  const [user, hasBilling] = await Promise.all([
    signedInAccount(c),
    hasBillingAccount(c.var.services.db, c.var.user!.id),
  ])
  return page(
    c,
    'Your account',
    <AccountPage
      user={user}
      membership={c.var.entitlements.paid}
      hasBillingAccount={hasBilling}
      gifts={{ list: c.var.entitlements.gifts, now: c.var.services.clock.now() }} // gift memberships (src/billing/gifts)
      {...extra}
    />,
    status,
  )
}

/** Starts a change of address: the new address must prove itself with a link. */
async function requestEmailChange(c: Context<AppEnv>, newEmail: string): Promise<void> {
  const { services } = c.var
  const user = c.var.user!
  const now = services.clock.now()
  const rule = { limit: services.config.SIGN_IN_LIMIT, windowMs: services.config.SIGN_IN_WINDOW_MINUTES * 60_000 }
  await hitRateLimit(services.db, await services.keyring, now, {
    scope: 'change-email:user',
    subject: user.id,
    ...rule,
  })
  await sendEmailLink(
    services,
    c.get('requestId'),
    { purpose: 'change_email', email: newEmail, userId: user.id, nextPath: pathTo(c, '/account') },
    (link) => changeEmailMessage(newEmail, services.config.PUBLICATION_NAME, link),
  )
}
