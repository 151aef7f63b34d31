import { asc, inArray } from 'drizzle-orm'
import { audit } from '../audit/audit'
import { Hono, type Context } from 'hono'
import * as z from 'zod'
import { emailField } from '../accounts/links'
import { requireRole } from '../accounts/session'
import { findUserByEmail, setRole, type User } from '../accounts/users'
import { users } from '../db/schema'
import { AppError } from '../http/errors'
import { fieldErrors, readBody, validationError } from '../http/input'
import type { AppEnv } from '../services'
import { page } from '../ui/layout'
import { StaffHome, StaffPage } from './pages'

const roleChange = z.object({
  email: emailField,
  role: z.enum(['editor', 'reader'], { error: 'The role must be editor or reader.' }),
})

/** Staff pages (/admin, editors and up) and staff management (admins), with its API twin. */
export const staff = new Hono<AppEnv>()
staff.use('/admin', requireRole('editor'))
staff.use('/admin/staff', requireRole('admin'))
staff.use('/api/admin/staff', requireRole('admin'))

staff.get('/admin', (c) => page(c, 'Staff', <StaffHome user={c.var.user!} />))

const listStaff = (c: Context<AppEnv>) =>
  c.var.services.db
    .select({ id: users.id, email: users.email, role: users.role })
    .from(users)
    .where(inArray(users.role, ['editor', 'admin']))
    .orderBy(asc(users.role), asc(users.email))

staff.get('/admin/staff', async (c) => page(c, 'Editors and admins', <StaffPage staff={await listStaff(c)} />))

staff.post('/admin/staff', async (c) => {
  const body = await readBody(c)
  try {
    const parsed = roleChange.safeParse(body)
    if (!parsed.success) throw validationError(fieldErrors(parsed.error))
    await changeRole(c, parsed.data.email, parsed.data.role)
    return c.redirect('/admin/staff', 303)
  } catch (error) {
    if (!(error instanceof AppError) || error.status >= 500) throw error
    const email = String(body.email ?? '')
    return page(
      c,
      'Editors and admins',
      <StaffPage staff={await listStaff(c)} error={error.message} email={email} />,
      error.status,
    )
  }
})

staff.get('/api/admin/staff', async (c) => c.json({ staff: await listStaff(c) }))

staff.post('/api/admin/staff', async (c) => {
  const parsed = roleChange.safeParse(await readBody(c))
  if (!parsed.success) throw validationError(fieldErrors(parsed.error))
  const user = await changeRole(c, parsed.data.email, parsed.data.role)
  return c.json({ user: { id: user.id, email: user.email, role: user.role } })
})

/** Promotes a reader to editor or demotes an editor. Admins come only from ADMIN_EMAILS. */
async function changeRole(c: Context<AppEnv>, email: string, role: 'editor' | 'reader'): Promise<User> {
  const { db, clock } = c.var.services
  const target = await findUserByEmail(db, email)
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
