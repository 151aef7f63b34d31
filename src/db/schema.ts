/**
 * The Drizzle schema: the single source of truth for Masthead's tables.
 * Change it, then run `npm run db:generate` and commit the SQL it writes to
 * drizzle/. A test fails when this file and the committed migrations disagree.
 * Every timestamp is timestamptz, stored in UTC.
 */
import { sql } from 'drizzle-orm'
import { check, index, integer, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core'

const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' })

export const ROLES = ['reader', 'editor', 'admin'] as const
export type Role = (typeof ROLES)[number]

/** Readers and staff share one account table; e-mail is the only identity kept. */
export const users = pgTable(
  'users',
  {
    id: text('id').primaryKey(),
    email: text('email').notNull().unique(),
    role: text('role', { enum: ROLES }).notNull().default('reader'),
    createdAt: timestamptz('created_at').notNull(),
    updatedAt: timestamptz('updated_at').notNull(),
  },
  (t) => [
    check('users_role_valid', sql`${t.role} in ('reader', 'editor', 'admin')`),
    check('users_email_lowercase', sql`${t.email} = lower(${t.email})`),
  ],
)

/** Lucia's sessions (see src/auth/sessions.ts); the column names are Lucia's. */
export const sessions = pgTable(
  'sessions',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    expiresAt: timestamptz('expires_at').notNull(),
  },
  (t) => [index('sessions_user_id_idx').on(t.userId)],
)

export const EMAIL_TOKEN_PURPOSES = ['sign_in', 'change_email'] as const

/**
 * Single-use links sent by e-mail. Only the SHA-256 of the token is kept, so
 * a copy of the database cannot be used to sign in.
 */
export const emailTokens = pgTable(
  'email_tokens',
  {
    tokenHash: text('token_hash').primaryKey(),
    purpose: text('purpose', { enum: EMAIL_TOKEN_PURPOSES }).notNull(),
    email: text('email').notNull(),
    /** The account asking to change its address (change_email only). */
    userId: text('user_id').references(() => users.id, { onDelete: 'cascade' }),
    nextPath: text('next_path'),
    createdAt: timestamptz('created_at').notNull(),
    expiresAt: timestamptz('expires_at').notNull(),
    usedAt: timestamptz('used_at'),
  },
  (t) => [
    check('email_tokens_purpose_valid', sql`${t.purpose} in ('sign_in', 'change_email')`),
    index('email_tokens_expires_at_idx').on(t.expiresAt),
  ],
)

/**
 * Fixed-window counters for rate limits, in Postgres because Workers share no
 * memory. Keys never hold an address in clear: see src/auth/rate-limit.ts.
 */
export const rateLimits = pgTable(
  'rate_limits',
  {
    key: text('key').notNull(),
    windowStart: timestamptz('window_start').notNull(),
    count: integer('count').notNull(),
  },
  (t) => [primaryKey({ columns: [t.key, t.windowStart] }), index('rate_limits_window_start_idx').on(t.windowStart)],
)

/** Development mailbox: messages the development mailer would have sent. Never used in production. */
export const devMailbox = pgTable('dev_mailbox', {
  // Insertion order is the mailbox's order, even when a test's clock stands still.
  id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
  to: text('to').notNull(),
  subject: text('subject').notNull(),
  text: text('text').notNull(),
  html: text('html').notNull(),
  createdAt: timestamptz('created_at').notNull(),
})
