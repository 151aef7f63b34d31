import { createMiddleware } from 'hono/factory'
import type { Role } from '../db/schema'
import type { AppEnv } from '../services'
import { wantsJson } from './doors'
import { AppError } from './errors'
import { pathTo } from './paths'

const RANK: Record<Role, number> = { reader: 0, editor: 1, admin: 2 }

/**
 * Lets through accounts with at least `role` (c.var.user, set by the session
 * middleware). Declared once per router, on the router itself. API clients get
 * 401 or 403; people are sent to sign in, and brought back afterwards.
 */
export const requireRole = (role: Role) =>
  createMiddleware<AppEnv>(async (c, next) => {
    const user = c.var.user
    if (user && RANK[user.role] >= RANK[role]) return next()
    if (wantsJson(c)) {
      if (!user) throw new AppError('unauthorized', 'Sign in first: you are not signed in, or your session has ended.')
      throw new AppError('forbidden', `This needs the ${role} role; your account is a ${user.role}.`)
    }
    // After signing in, come back here (the request's path already has the base path); a form post
    // cannot be replayed, so go to the account instead.
    const back = c.req.method === 'GET' ? c.req.path : pathTo(c, '/account')
    const query = new URLSearchParams({ next: back })
    if (user) query.set('reason', 'role')
    return c.redirect(pathTo(c, `/auth/sign-in?${query}`), 303)
  })
