/**
 * Sessions, behind plain functions. Lucia v3 is deprecated upstream, so it is
 * used here and nowhere else: replacing it means rewriting this file only.
 */
import { DrizzlePostgreSQLAdapter } from '@lucia-auth/adapter-drizzle'
import type { Context } from 'hono'
import { Lucia, TimeSpan } from 'lucia'
import type { Config } from '../config'
import type { Database } from '../db/client'
import { sessions, users, type Role } from '../db/schema'

export const SESSION_COOKIE = 'masthead_session'

export interface SessionUser {
  id: string
  email: string
  role: Role
}

export interface Session {
  id: string
  userId: string
  expiresAt: Date
}

declare module 'lucia' {
  interface Register {
    Lucia: ReturnType<typeof lucia>
    DatabaseUserAttributes: { email: string; role: Role }
  }
}

/** Secure cookies everywhere but plain-http localhost, where browsers would drop them. */
export function cookieIsSecure(config: Config): boolean {
  const url = new URL(config.APP_URL)
  return !(url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname))
}

// Built per call: the database handle is per request on Workers, and Lucia holds it.
function lucia(db: Database, config: Config) {
  return new Lucia(new DrizzlePostgreSQLAdapter(db, sessions, users), {
    // Sliding expiry: a session used in its second half is extended to 30 days again.
    sessionExpiresIn: new TimeSpan(30, 'd'),
    sessionCookie: { name: SESSION_COOKIE, attributes: { secure: cookieIsSecure(config), sameSite: 'lax' } },
    getUserAttributes: (attributes) => ({ email: attributes.email, role: attributes.role }),
  })
}

export async function createSession(db: Database, config: Config, userId: string): Promise<Session> {
  const session = await lucia(db, config).createSession(userId, {})
  return { id: session.id, userId: session.userId, expiresAt: session.expiresAt }
}

/** The session and its user, or nulls for an unknown, expired or tampered id. `fresh` means the cookie must be re-sent. */
export async function validateSession(
  db: Database,
  config: Config,
  sessionId: string,
): Promise<{ session: Session & { fresh: boolean }; user: SessionUser } | { session: null; user: null }> {
  const result = await lucia(db, config).validateSession(sessionId)
  if (!result.session) return { session: null, user: null }
  const { session, user } = result
  return {
    session: { id: session.id, userId: session.userId, expiresAt: session.expiresAt, fresh: session.fresh },
    user: { id: user.id, email: user.email, role: user.role },
  }
}

export async function invalidateSession(db: Database, config: Config, sessionId: string): Promise<void> {
  await lucia(db, config).invalidateSession(sessionId)
}

export async function invalidateUserSessions(db: Database, config: Config, userId: string): Promise<void> {
  await lucia(db, config).invalidateUserSessions(userId)
}

export function readSessionCookie(db: Database, config: Config, cookieHeader: string): string | null {
  return lucia(db, config).readSessionCookie(cookieHeader)
}

export function setSessionCookie(c: Context, db: Database, config: Config, sessionId: string): void {
  c.header('Set-Cookie', lucia(db, config).createSessionCookie(sessionId).serialize(), { append: true })
}

export function clearSessionCookie(c: Context, db: Database, config: Config): void {
  c.header('Set-Cookie', lucia(db, config).createBlankSessionCookie().serialize(), { append: true })
}
