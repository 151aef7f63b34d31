/**
 * Sessions, behind plain functions. Lucia v3 is deprecated upstream, so it is
 * used here and nowhere else: replacing it means rewriting this file only.
 *
 * The cookie carries a random token; the `sessions` row's id is the token's
 * SHA-256 (lower-case hex, as the e-mailed links store theirs), so a copy of
 * the table signs no one in. Lucia only ever sees the id: the token is hashed
 * here on the way in and goes back into the cookie from the caller's hands.
 */
import { DrizzlePostgreSQLAdapter } from '@lucia-auth/adapter-drizzle'
import type { Context } from 'hono'
import { Lucia, TimeSpan, type DatabaseSession, type DatabaseUser } from 'lucia'
import { parseEntitlementFacts, type EntitlementFacts } from '../entitlements/facts'
import type { Config } from '../config'
import { fixedStatement, type Database } from '../db/client'
import { sendCookie } from '../http/cookies'
import { sessions, users, type Role } from '../db/schema'
import { randomToken, sha256Hex } from '../util/random'
import type { StoredPerson } from '../privacy/people'

export const SESSION_COOKIE = 'masthead_session'

export interface SessionUser {
  id: string
  /** The address and the name as stored, encrypted: `openAddress(keyring, user.stored)` where a page shows them. */
  stored: StoredPerson
  role: Role
}

export interface Session {
  /** The SHA-256 of the cookie's token, never the token: it cannot sign anyone in. */
  id: string
  userId: string
  expiresAt: Date
}

declare module 'lucia' {
  interface Register {
    Lucia: ReturnType<typeof createLucia>
    DatabaseUserAttributes: { stored: StoredPerson; role: Role; facts: EntitlementFacts }
  }
}

interface SessionRow {
  id: string
  user_id: string
  expires_at: Date | string
  card: string | null
  email: string | null
  name: string | null
  role: Role
  facts: unknown
}

/** The session, its account and the account's entitlement facts, for a session id: the one query of every signed-in request (the view: src/db/routines.ts). */
const sessionWithFacts = fixedStatement<SessionRow>(
  'select id, user_id, expires_at, card, email, name, role, facts from reader_sessions where id = $1',
)

/**
 * The Drizzle adapter, but the session lookup also reads the account's
 * entitlement facts in the same statement: every signed-in request learns
 * who it is and what they may read in one database round trip.
 */
class EntitledSessionAdapter extends DrizzlePostgreSQLAdapter {
  constructor(private readonly database: Database) {
    super(database, sessions, users)
  }

  override async getSessionAndUser(sessionId: string): Promise<[DatabaseSession | null, DatabaseUser | null]> {
    const [row] = await sessionWithFacts(this.database, [sessionId])
    if (!row) return [null, null]
    return [
      { id: row.id, userId: row.user_id, expiresAt: new Date(row.expires_at), attributes: {} },
      {
        id: row.user_id,
        attributes: {
          stored: { card: row.card, email: row.email, name: row.name },
          role: row.role,
          facts: parseEntitlementFacts(row.facts),
        },
      },
    ]
  }
}

/** Secure cookies everywhere but plain-http localhost, where browsers would drop them. */
export function cookieIsSecure(config: Config): boolean {
  let secure = secureByConfig.get(config)
  if (secure === undefined) {
    const url = new URL(config.APP_URL)
    secure = !(url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname))
    secureByConfig.set(config, secure) // read on every reader's request: parsing the URL each time cost
  }
  return secure
}
const secureByConfig = new WeakMap<Config, boolean>()

function createLucia(db: Database, config: Config) {
  return new Lucia(new EntitledSessionAdapter(db), {
    // Sliding expiry: a session used in its second half is extended to 30 days again.
    sessionExpiresIn: new TimeSpan(30, 'd'),
    sessionCookie: { name: SESSION_COOKIE, attributes: { secure: cookieIsSecure(config), sameSite: 'lax' } },
    getUserAttributes: (attributes) => ({ stored: attributes.stored, role: attributes.role, facts: attributes.facts }),
  })
}

/**
 * One Lucia per database handle and configuration: on Node, one for the process (its pool lives as
 * long); on Workers, one per request, whose database handle is its own. Building one per call cost
 * two per signed-in request.
 */
const lucias = new WeakMap<Database, WeakMap<Config, ReturnType<typeof createLucia>>>()
function lucia(db: Database, config: Config) {
  let byConfig = lucias.get(db)
  if (!byConfig) lucias.set(db, (byConfig = new WeakMap()))
  let found = byConfig.get(config)
  if (!found) byConfig.set(config, (found = createLucia(db, config)))
  return found
}

/** The stored id of the session a cookie's token opens: its SHA-256, lower-case hex (also what drizzle/0012 computes). */
export function sessionIdOf(token: string): string {
  return sha256Hex(token)
}

/** Stores a new session under its token's hash; the token is returned only to be put in the cookie. */
export async function createSession(
  db: Database,
  config: Config,
  userId: string,
): Promise<{ session: Session; token: string }> {
  const token = randomToken()
  const session = await lucia(db, config).createSession(userId, {}, { sessionId: sessionIdOf(token) })
  return { session: { id: session.id, userId: session.userId, expiresAt: session.expiresAt }, token }
}

/**
 * The session a cookie's token opens, and its user, or nulls for an unknown,
 * expired or tampered token. A stored id presented as a token is hashed again
 * and matches nothing. `fresh` means the cookie must be re-sent: with the
 * token the caller holds, since the session knows only its hash.
 */
export async function validateSession(
  db: Database,
  config: Config,
  token: string,
): Promise<
  | { session: Session & { fresh: boolean }; user: SessionUser; facts: EntitlementFacts }
  | { session: null; user: null; facts: null }
> {
  const result = await lucia(db, config).validateSession(sessionIdOf(token))
  if (!result.session) return { session: null, user: null, facts: null }
  const { session, user } = result
  return {
    session: { id: session.id, userId: session.userId, expiresAt: session.expiresAt, fresh: session.fresh },
    user: { id: user.id, stored: user.stored, role: user.role },
    facts: user.facts,
  }
}

export async function invalidateSession(db: Database, config: Config, sessionId: string): Promise<void> {
  await lucia(db, config).invalidateSession(sessionId)
}

export async function invalidateUserSessions(db: Database, config: Config, userId: string): Promise<void> {
  await lucia(db, config).invalidateUserSessions(userId)
}

/** Sets the session cookie to a token (from createSession, or the one the request came with); never to a session id. */
export function setSessionCookie(c: Context, db: Database, config: Config, token: string): void {
  sendCookie(c, lucia(db, config).createSessionCookie(token).serialize())
}

export function clearSessionCookie(c: Context, db: Database, config: Config): void {
  sendCookie(c, lucia(db, config).createBlankSessionCookie().serialize())
}
