import { inArray } from 'drizzle-orm'
import { audit } from '../audit/audit'
import { Hono, type Context } from 'hono'
import * as z from 'zod'
import { findUserByEmail, setRole, type User } from '../accounts/users'
import { users } from '../db/schema'
import { AppError } from '../http/errors'
import { answerFormError, submitForm, type RenderForm } from '../http/forms'
import { requireRole } from '../http/guards'
import { emailField, fieldErrors, readBody, typed, validationError } from '../http/input'
import { pathTo } from '../http/paths'
import { openAddress } from '../privacy/people'
import type { AppEnv } from '../services'
import { page } from '../ui/layout'
import { StaffHome, StaffPage } from './pages'

const roleChange = z.object({
  email: emailField,
  role: z.enum(['editor', 'reader'], { error: 'The role must be editor or reader.' }),
})

/**
 * The staff area's front page, /admin (editors and up). Its one route carries
 * the guard, so that it does not reach the other routers under /admin.
 */
export const staffHome = new Hono<AppEnv>().get('/', requireRole('editor'), async (c) => {
  const { stored, role } = c.var.user!
  const email = await openAddress(await c.var.services.keyring, stored)
  return page(c, 'Staff', <StaffHome user={{ email, role }} />)
})

/** Who is an editor, for admins: /admin/staff. */
export const staffPages = new Hono<AppEnv>().use(requireRole('admin'))

/** The same for API clients: /api/admin/staff. */
export const staffApi = new Hono<AppEnv>().use(requireRole('admin'))

/**
 * Editors and admins, by role then by address. Addresses are encrypted, so they
 * are sorted here, after decryption: staff are a handful of accounts.
 */
async function listStaff(c: Context<AppEnv>) {
  const { db } = c.var.services
  const keyring = await c.var.services.keyring
  const rows = await db
    .select({ id: users.id, card: users.card, email: users.email, name: users.name, role: users.role })
    .from(users)
    .where(inArray(users.role, ['editor', 'admin']))
  const opened = await Promise.all(
    rows.map(async ({ id, role, ...stored }) => ({ id, email: await openAddress(keyring, stored), role })),
  )
  return opened.sort((a, b) => a.role.localeCompare(b.role) || (a.email < b.email ? -1 : a.email > b.email ? 1 : 0))
}

staffPages.get('/', async (c) => page(c, 'Editors and admins', <StaffPage staff={await listStaff(c)} />))

staffPages.post('/', async (c) => {
  const body = await readBody(c)
  const rerender: RenderForm = async (errors, status) =>
    page(
      c,
      'Editors and admins',
      <StaffPage staff={await listStaff(c)} error={Object.values(errors)[0]} email={typed(body.email)} />,
      status,
    )
  const parsed = roleChange.safeParse(body)
  if (!parsed.success) return answerFormError(c, fieldErrors(parsed.error), rerender)
  const { email, role } = parsed.data
  return submitForm(
    c,
    async () => {
      await changeRole(c, email, role)
      return c.redirect(pathTo(c, '/admin/staff'), 303)
    },
    rerender,
  )
})

staffApi.get('/', async (c) => c.json({ staff: await listStaff(c) }))

staffApi.post('/', async (c) => {
  const parsed = roleChange.safeParse(await readBody(c))
  if (!parsed.success) throw validationError(fieldErrors(parsed.error))
  const user = await changeRole(c, parsed.data.email, parsed.data.role)
  const email = await openAddress(await c.var.services.keyring, user)
  return c.json({ user: { id: user.id, email, role: user.role } })
})

/** Promotes a reader to editor or demotes an editor. Admins come only from ADMIN_EMAILS. */
async function changeRole(c: Context<AppEnv>, email: string, role: 'editor' | 'reader'): Promise<User> {
  const { db, clock, keyring } = c.var.services
  const target = await findUserByEmail(db, await keyring, email)
  if (!target) {
    throw new AppError(
      'not_found',
      'No account uses that address. They must sign in once before they can be made an editor.',
    )
  }
  if (target.role === 'admin') {
    throw new AppError('conflict', 'Admins are set by ADMIN_EMAILS and cannot be changed here.')
  }
  if (target.role === role) return target
  const changed = await setRole(db, clock.now(), target.id, role)
  await audit(db, clock.now(), c.var.user, 'role.changed', target.id, { from: target.role, to: role })
  return changed
}
