/**
 * The Drizzle schema: the single source of truth for Masthead's tables.
 * Change it, then run `npm run db:generate` and commit the SQL it writes to
 * drizzle/. A test fails when this file and the committed migrations disagree.
 * Every timestamp is timestamptz, stored in UTC.
 */
import { sql } from 'drizzle-orm'
import {
  bigint,
  bigserial,
  boolean,
  check,
  index,
  integer,
  json,
  jsonb,
  pgTable,
  pgView,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core'

const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' })

export const ROLES = ['reader', 'editor', 'admin'] as const
export type Role = (typeof ROLES)[number]

/**
 * Readers and staff share one account table; e-mail is the only identity kept.
 * The address and the name are stored encrypted, together, in `card`
 * (src/privacy/cipher.ts, values `v1.<key id>.…`, context `users.card`); the account is
 * found by `email_index` (an HMAC of the normalised address), searched by
 * `search_tokens` (HMACs of word prefixes) and sorted by `name_order` (an
 * order key: ARCHITECTURE.md, "Personal data at rest"). src/accounts/users.ts
 * writes them together.
 */
export const users = pgTable(
  'users',
  {
    id: text('id').primaryKey(),
    /**
     * Only in a database from before the card (drizzle/0015): the address encrypted (`users.email`)
     * or, from before drizzle/0014, in clear, until the pass after the migrations
     * (src/accounts/seal-existing.ts) moves it into `card` and clears it. Null for every account since.
     */
    email: text('email'),
    /** HMAC of the normalised address under the current key's address-index key; unique. */
    emailIndex: text('email_index').notNull(),
    /** Like `email`: the name from before the card, until the pass moves it into `card`. */
    name: text('name'),
    /** Whether the account has a name (in its card): a Patreon import fills only a missing one. */
    named: boolean('named').notNull().default(false),
    /** HMACs of the word prefixes of the name and the address (editors' search), sorted. */
    searchTokens: text('search_tokens')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    /** The account's place in the name order (src/privacy/name-order.ts); compared bytewise. */
    nameOrder: text('name_order').notNull(),
    /**
     * The address and the name, as one encrypted value (`users.card`, src/privacy/people.ts): the
     * only place either is kept, one AES-GCM value an account. Null only for an account from before
     * the card that the pass after the migrations has not reached yet.
     */
    card: text('card'),
    role: text('role', { enum: ROLES }).notNull().default('reader'),
    createdAt: timestamptz('created_at').notNull(),
    updatedAt: timestamptz('updated_at').notNull(),
  },
  (t) => [
    check('users_role_valid', sql`${t.role} in ('reader', 'editor', 'admin')`),
    uniqueIndex('users_email_index_key').on(t.emailIndex),
    // Placements walk the name order a page at a time (src/accounts/name-order.ts): bytewise, id for ties.
    index('users_name_order_idx').using('btree', sql`${t.nameOrder} collate "C"`, t.id),
  ],
)

/** Lucia's sessions (see src/accounts/sessions.ts); the column names are Lucia's. The id is the SHA-256 of the cookie's token, never the token. */
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
    /** Encrypted (`email_tokens.email`): where the link was sent. */
    email: text('email').notNull(),
    /** The address index of `email`, so that deleting an account finds the links sent to it. */
    emailIndex: text('email_index').notNull(),
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
    index('email_tokens_email_index_idx').on(t.emailIndex),
  ],
)

/**
 * Fixed-window counters for rate limits, in Postgres because Workers share no
 * memory. Keys never hold an address in clear: see src/accounts/rate-limit.ts.
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
  /** Encrypted (`dev_mailbox.to`). */
  to: text('to').notNull(),
  /** The address index of `to`: the mailbox is read by recipient. */
  toIndex: text('to_index').notNull(),
  subject: text('subject').notNull(),
  text: text('text').notNull(),
  html: text('html').notNull(),
  createdAt: timestamptz('created_at').notNull(),
})

// ---------------------------------------------------------------- billing

export const BENEFITS = ['adFree', 'hideSupportPrompts', 'supportersOnlyContent', 'earlyAccess'] as const
export type Benefit = (typeof BENEFITS)[number]
export const INTERVALS = ['month', 'year'] as const
export type Interval = (typeof INTERVALS)[number]

/** What readers can buy. Prices are integer minor units in the tier's currency. */
export const tiers = pgTable(
  'tiers',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    currency: text('currency').notNull(),
    monthlyAmount: integer('monthly_amount').notNull(),
    yearlyAmount: integer('yearly_amount').notNull(),
    position: integer('position').notNull().default(0),
    active: boolean('active').notNull().default(true),
    benefits: text('benefits')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    stripeProductId: text('stripe_product_id'),
    stripeMonthlyPriceId: text('stripe_monthly_price_id'),
    stripeYearlyPriceId: text('stripe_yearly_price_id'),
    /** Days of free trial a new subscription to this tier starts with (0: none). */
    trialDays: integer('trial_days').notNull().default(0),
    createdAt: timestamptz('created_at').notNull(),
    updatedAt: timestamptz('updated_at').notNull(),
  },
  (t) => [
    check('tiers_amounts_positive', sql`${t.monthlyAmount} > 0 and ${t.yearlyAmount} > 0`),
    check('tiers_currency_code', sql`${t.currency} ~ '^[a-z]{3}$'`),
    check('tiers_trial_days_range', sql`${t.trialDays} between 0 and 730`),
  ],
)

/**
 * A tier's prices in currencies other than its own (`tiers.currency`), so a reader may choose
 * which to pay in. Integer minor units of that currency (zero-decimal currencies have none).
 */
export const tierPrices = pgTable(
  'tier_prices',
  {
    tierId: text('tier_id')
      .notNull()
      .references(() => tiers.id, { onDelete: 'cascade' }),
    currency: text('currency').notNull(),
    monthlyAmount: integer('monthly_amount').notNull(),
    yearlyAmount: integer('yearly_amount').notNull(),
    stripeMonthlyPriceId: text('stripe_monthly_price_id'),
    stripeYearlyPriceId: text('stripe_yearly_price_id'),
    createdAt: timestamptz('created_at').notNull(),
    updatedAt: timestamptz('updated_at').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.tierId, t.currency] }),
    check('tier_prices_amounts_positive', sql`${t.monthlyAmount} > 0 and ${t.yearlyAmount} > 0`),
    check('tier_prices_currency_code', sql`${t.currency} ~ '^[a-z]{3}$'`),
  ],
)

/** Stripe objects Masthead owns that are not tiers (the pledge product), by a stable key. */
export const stripeObjects = pgTable('stripe_objects', {
  key: text('key').primaryKey(),
  stripeId: text('stripe_id').notNull(),
})

/** Which Stripe customer is which account. E-mail and name stay in Stripe and in users. */
export const stripeCustomers = pgTable(
  'stripe_customers',
  {
    customerId: text('customer_id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    createdAt: timestamptz('created_at').notNull(),
  },
  (t) => [index('stripe_customers_user_id_idx').on(t.userId)],
)

/**
 * Masthead's copy of each subscription: the most recent state Stripe has
 * sent or been asked for, so delivery order cannot matter (snapshot_at).
 */
export const subscriptions = pgTable(
  'subscriptions',
  {
    id: text('id').primaryKey(),
    customerId: text('customer_id').notNull(),
    /** Null for a custom "pledge what you like" amount. */
    tierId: text('tier_id').references(() => tiers.id, { onDelete: 'set null' }),
    priceId: text('price_id').notNull(),
    interval: text('interval', { enum: INTERVALS }).notNull(),
    amount: integer('amount').notNull(),
    /** The part of `amount` the donor added to cover the processing fees (0: none). */
    feeCoverAmount: integer('fee_cover_amount').notNull().default(0),
    currency: text('currency').notNull(),
    status: text('status').notNull(),
    cancelAtPeriodEnd: boolean('cancel_at_period_end').notNull(),
    currentPeriodEnd: timestamptz('current_period_end'),
    endedAt: timestamptz('ended_at'),
    stripeCreatedAt: timestamptz('stripe_created_at').notNull(),
    /** When Masthead first saw it past due: the grace period counts from here. */
    pastDueSince: timestamptz('past_due_since'),
    /** The failed invoice the member was told about, so they are told once. */
    notifiedInvoiceId: text('notified_invoice_id'),
    /**
     * The Stripe second the stored state is from: the `created` of the event
     * whose snapshot it is, or of the event that prompted a re-fetch. A later
     * second replaces it; a snapshot of the same second is settled by asking
     * Stripe (src/billing/webhooks).
     */
    snapshotAt: timestamptz('snapshot_at').notNull(),
    /** Set when the stored state was re-fetched from Stripe: of two reads for one second, the later one wins. */
    fetchedAt: timestamptz('fetched_at'),
    updatedAt: timestamptz('updated_at').notNull(),
  },
  (t) => [index('subscriptions_customer_id_idx').on(t.customerId)],
)

export const PAYMENT_KINDS = ['subscription', 'donation', 'refund', 'gift'] as const

/**
 * The payments ledger: every paid invoice, donation, gift membership bought and refund, in integer
 * minor units (refunds negative). Rows keep no name or address and outlive
 * account deletion; the customer id links them to a person only while the
 * account exists (stripe_customers).
 */
export const payments = pgTable(
  'payments',
  {
    /** The Stripe object it comes from: in_…, pi_… (a donation or a gift bought), or refund:ch_…. */
    id: text('id').primaryKey(),
    kind: text('kind', { enum: PAYMENT_KINDS }).notNull(),
    customerId: text('customer_id'),
    subscriptionId: text('subscription_id'),
    paymentIntentId: text('payment_intent_id'),
    amount: integer('amount').notNull(),
    /** The part of `amount` the donor added to cover the processing fees, recorded as its own part (0: none). */
    feeCoverAmount: integer('fee_cover_amount').notNull().default(0),
    currency: text('currency').notNull(),
    occurredAt: timestamptz('occurred_at').notNull(),
    /** When the donation's receipt e-mail went out (one-time donations only): it goes out once. */
    receiptSentAt: timestamptz('receipt_sent_at'),
  },
  (t) => [
    check('payments_kind_valid', sql`${t.kind} in ('subscription', 'donation', 'refund', 'gift')`),
    check('payments_fee_cover_within', sql`${t.feeCoverAmount} >= 0 and ${t.feeCoverAmount} <= abs(${t.amount})`),
    index('payments_customer_id_idx').on(t.customerId),
    index('payments_payment_intent_id_idx').on(t.paymentIntentId),
  ],
)

/** Every Stripe event handled, stored in the same transaction as its effects: a duplicate changes nothing. */
export const stripeEvents = pgTable('stripe_events', {
  id: text('id').primaryKey(),
  type: text('type').notNull(),
  /** The customer it is about, for the supporter's timeline; null for events about no customer. */
  customerId: text('customer_id'),
  stripeCreatedAt: timestamptz('stripe_created_at').notNull(),
  /** processed, or ignored (unknown type, foreign product, unknown customer). */
  outcome: text('outcome').notNull(),
  receivedAt: timestamptz('received_at').notNull(),
})

export const ACCESS_LEVELS = ['public', 'members', 'supporters', 'tiers'] as const
export type AccessLevel = (typeof ACCESS_LEVELS)[number]

/**
 * Articles. The body is kept as the editor's Markdown and as the sanitized
 * HTML rendered from it on save, so a page view never renders Markdown.
 * Unpublished while published_at is null.
 */
export const articles = pgTable(
  'articles',
  {
    id: text('id').primaryKey(),
    slug: text('slug').notNull().unique(),
    title: text('title').notNull(),
    excerpt: text('excerpt').notNull(),
    author: text('author').notNull(),
    bodyMarkdown: text('body_markdown').notNull(),
    bodyHtml: text('body_html').notNull(),
    /** public, members (signed in), supporters (supportersOnlyContent), or tiers (those in access_tier_ids). */
    access: text('access', { enum: ACCESS_LEVELS }).notNull(),
    accessTierIds: text('access_tier_ids')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    /** Until then only readers with the earlyAccess benefit may read it; afterwards, its access level applies. */
    earlyAccessUntil: timestamptz('early_access_until'),
    publishedAt: timestamptz('published_at'),
    createdAt: timestamptz('created_at').notNull(),
    updatedAt: timestamptz('updated_at').notNull(),
  },
  (t) => [
    check('articles_access_valid', sql`${t.access} in ('public', 'members', 'supporters', 'tiers')`),
    check('articles_slug_format', sql`${t.slug} ~ '^[a-z0-9]+(-[a-z0-9]+)*$'`),
    index('articles_published_at_idx').on(t.publishedAt),
  ],
)

export const GRANT_SOURCES = ['comp', 'patreon', 'gift'] as const
export type GrantSource = (typeof GRANT_SOURCES)[number]

/**
 * Comps: memberships an editor grants without Stripe billing them; and gifts
 * (`source = 'gift'`): a gift membership redeemed, of its tier for its months,
 * ending by itself (src/billing/gifts). A
 * Patreon membership is kept on its patreon_members row instead, and
 * `allGrants` reads the two as one. A paid Stripe membership always takes
 * precedence (src/entitlements/entitlements.ts).
 */
export const grants = pgTable(
  'grants',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    source: text('source', { enum: GRANT_SOURCES }).notNull(),
    tierId: text('tier_id').references(() => tiers.id, { onDelete: 'set null' }),
    startsAt: timestamptz('starts_at').notNull(),
    /** Null: until revoked. */
    endsAt: timestamptz('ends_at'),
    note: text('note'),
    grantedBy: text('granted_by').references(() => users.id, { onDelete: 'set null' }),
    revokedAt: timestamptz('revoked_at'),
    revokedBy: text('revoked_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: timestamptz('created_at').notNull(),
    updatedAt: timestamptz('updated_at').notNull(),
  },
  (t) => [check('grants_source_valid', sql`${t.source} in ('comp', 'gift')`), index('grants_user_id_idx').on(t.userId)],
)

/**
 * One row per account, kept by the database itself (triggers on every table
 * it is derived from, drizzle/0006_supporters.sql): the editors' supporter
 * list filters, sorts and pages this one table. Time-dependent states (grace
 * periods, period ends, grant ends) are decided when queried, from the raw
 * fields kept here (src/supporters/list.ts).
 */
export const supporters = pgTable(
  'supporters',
  {
    userId: text('user_id')
      .primaryKey()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** Copies of users.email and users.name as stored: null but for an account from before the card. */
    email: text('email'),
    name: text('name'),
    searchTokens: text('search_tokens')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    nameOrder: text('name_order').notNull(),
    /** Copy of users.card (context `users.card`). */
    card: text('card'),
    /** When support began (first subscription, grant or payment); null if it never did. */
    since: timestamptz('since'),
    /** stripe, comp, patreon or donation: the current membership's source, else the last one's. */
    source: text('source'),
    tierId: text('tier_id'),
    interval: text('interval'),
    /** The paid subscription's amount per interval, minor units. */
    amount: integer('amount'),
    currency: text('currency'),
    subscriptionId: text('subscription_id'),
    subStatus: text('sub_status'),
    cancelAtPeriodEnd: boolean('cancel_at_period_end').notNull().default(false),
    currentPeriodEnd: timestamptz('current_period_end'),
    pastDueSince: timestamptz('past_due_since'),
    grantSource: text('grant_source'),
    grantTierId: text('grant_tier_id'),
    grantStartsAt: timestamptz('grant_starts_at'),
    grantEndsAt: timestamptz('grant_ends_at'),
    /** Payments net of refunds, minor units; `lifetime_currency` is null when they span currencies. */
    lifetimeAmount: bigint('lifetime_amount', { mode: 'number' }).notNull().default(0),
    lifetimeCurrency: text('lifetime_currency'),
    lastPaymentAt: timestamptz('last_payment_at'),
    /** From a Patreon import: the patron's status there, and whether they have since subscribed through Stripe. */
    patreonStatus: text('patreon_status'),
    movedFromPatreon: boolean('moved_from_patreon').notNull().default(false),
    updatedAt: timestamptz('updated_at').notNull(),
  },
  (t) => [
    index('supporters_lifetime_idx').on(t.lifetimeAmount, t.userId),
    // Sorted bytewise (collate "C"), and searched by token: drizzle/0014_personal_data_at_rest.sql.
    index('supporters_name_order_idx').using('btree', sql`${t.nameOrder} collate "C"`, t.userId),
    index('supporters_search_tokens_idx').using('gin', t.searchTokens),
  ],
)

/**
 * Each account's entitlement facts as last read (the JSON of src/db/facts-sql.ts), kept so that a
 * signed-in request reads one row instead of computing them from six tables. Every statement
 * that changes what they are computed from marks the account's row out of date (facts null, the
 * generation one higher) in its own transaction (trigger functions masthead_mark_by_user,
 * masthead_mark_by_customer and masthead_tier_changed, src/db/routines.ts); the next session
 * lookup computes them and stores them back only if the generation it read is still the row's
 * (masthead_entitlement_facts), so a change committed meanwhile is never overwritten by
 * facts from before it.
 */
export const entitlementFacts = pgTable('entitlement_facts', {
  userId: text('user_id')
    .primaryKey()
    .references(() => users.id, { onDelete: 'cascade' }),
  /** One higher at every change to what the facts are computed from. */
  generation: bigint('generation', { mode: 'number' }).notNull(),
  /** Null: out of date, computed again at the account's next session lookup. */
  facts: json('facts'),
})

/**
 * Who did what to whom, append-only (a trigger refuses updates and deletes):
 * views of a supporter's details, exports, role, tier and comp changes,
 * imports, erasures. Accounts are named by id only, never by address (pages
 * look the actor's address up while the account exists), and what staff
 * typed into a search is kept as a keyed hash (src/audit/search-terms.ts), so
 * deleting an account leaves no address or name here (drizzle/0013).
 */
export const auditLog = pgTable(
  'audit_log',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    at: timestamptz('at').notNull(),
    actorId: text('actor_id'),
    action: text('action').notNull(),
    subjectUserId: text('subject_user_id'),
    details: jsonb('details')
      .notNull()
      .default(sql`'{}'::jsonb`),
  },
  (t) => [index('audit_log_at_idx').on(t.at), index('audit_log_subject_idx').on(t.subjectUserId)],
)

export const PATRON_STATUSES = ['active', 'declined', 'former', 'none'] as const

/**
 * What a Patreon import keeps of each patron: only what membership and the
 * supporter history need. Address, phone, Discord, Twitter and "Additional
 * Details" are never read from the export (src/imports/patreon-csv.ts).
 */
export const patreonMembers = pgTable(
  'patreon_members',
  {
    userId: text('user_id')
      .primaryKey()
      .references(() => users.id, { onDelete: 'cascade' }),
    patreonUserId: text('patreon_user_id'),
    status: text('status', { enum: PATRON_STATUSES }).notNull(),
    patreonTier: text('patreon_tier'),
    tierId: text('tier_id').references(() => tiers.id, { onDelete: 'set null' }),
    pledgeAmount: integer('pledge_amount'),
    lifetimeAmount: integer('lifetime_amount'),
    currency: text('currency'),
    chargeFrequency: text('charge_frequency'),
    patronSince: timestamptz('patron_since'),
    lastChargeAt: timestamptz('last_charge_at'),
    nextChargeAt: timestamptz('next_charge_at'),
    accessExpiresAt: timestamptz('access_expires_at'),
    /**
     * The membership the import granted, of `tier_id`'s benefits: from the
     * first import that granted one until the paid-through date plus the
     * grace period. Null when no import has granted one (former patrons,
     * free members, members whose Stripe subscription wins).
     */
    accessStartsAt: timestamptz('access_starts_at'),
    accessEndsAt: timestamptz('access_ends_at'),
    /** When the invitation to continue through Stripe was sent. */
    invitedAt: timestamptz('invited_at'),
    /** SHA-256 of the token in the invitation's unsubscribe link (the token itself is only in the e-mail). */
    unsubscribeTokenHash: text('unsubscribe_token_hash'),
    /** When the one reminder went out (PATREON_REMINDER_DAYS after the invitation). */
    remindedAt: timestamptz('reminded_at'),
    /** When the patron asked for no more e-mails about moving from Patreon. */
    unsubscribedAt: timestamptz('unsubscribed_at'),
    importedAt: timestamptz('imported_at').notNull(),
    updatedAt: timestamptz('updated_at').notNull(),
    /**
     * The order of the facts a Patreon webhook last applied (src/imports/patreon-webhooks.ts): the
     * payload's own date, a delete after an update of that date, then a digest of the facts, as one
     * sortable text. A delivery whose key is not greater is ignored. Null until a webhook applies one.
     */
    webhookFactsKey: text('webhook_facts_key'),
  },
  (t) => [
    check('patreon_members_status_valid', sql`${t.status} in ('active', 'declined', 'former', 'none')`),
    uniqueIndex('patreon_members_unsubscribe_token_key').on(t.unsubscribeTokenHash),
  ],
)

/**
 * The Patreon tier → Masthead tier mapping that webhooks use: each confirmed import (page, API or
 * command) saves the entries it was confirmed with over the ones before (src/imports/tier-mapping.ts).
 * A tier deleted here takes its entries with it.
 */
export const patreonTierMappings = pgTable('patreon_tier_mappings', {
  patreonTier: text('patreon_tier').primaryKey(),
  tierId: text('tier_id')
    .notNull()
    .references(() => tiers.id, { onDelete: 'cascade' }),
  savedAt: timestamptz('saved_at').notNull(),
})

export const PATREON_WEBHOOK_OUTCOMES = ['applied', 'ignored', 'rejected'] as const
export type PatreonWebhookOutcome = (typeof PATREON_WEBHOOK_OUTCOMES)[number]

/**
 * How many signed Patreon webhooks were applied, ignored (older than what is stored) or rejected
 * (as an import would reject the row: its tier not mapped, an active patron with no tier), and when
 * the last came; `detail` says why one was rejected (a Patreon tier's name, never a person's data).
 * Counters only: nothing here names a patron.
 */
export const patreonWebhookCounts = pgTable(
  'patreon_webhook_counts',
  {
    outcome: text('outcome', { enum: PATREON_WEBHOOK_OUTCOMES }).notNull(),
    detail: text('detail').notNull().default(''),
    count: integer('count').notNull().default(0),
    lastAt: timestamptz('last_at').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.outcome, t.detail] }),
    check('patreon_webhook_counts_outcome_valid', sql`${t.outcome} in ('applied', 'ignored', 'rejected')`),
  ],
)

/**
 * A previewed import waiting for confirmation (src/imports/previews.ts): what the file held, never
 * the file (it holds postal addresses and phone numbers). Its rows are in `import_batch_parts`.
 * Deleted once imported; stale ones are refused after an hour.
 */
export const importBatches = pgTable('import_batches', {
  id: text('id').primaryKey(),
  createdBy: text('created_by').references(() => users.id, { onDelete: 'cascade' }),
  /** Which layout of the export the file has: Patreon's 'current' or 'older', Ghost's 'ghost' or 'ghost-older'. */
  variant: text('variant').notNull().default('current'),
  /** Records in the file, imported or not, and how many parts hold them. */
  total: integer('total').notNull().default(0),
  parts: integer('parts').notNull().default(0),
  createdAt: timestamptz('created_at').notNull(),
})

/**
 * A preview's rows a part at a time (about a thousand rows each), as the upload was read: neither
 * reading the file, nor planning, nor importing it ever holds every row at once. Each part's
 * rows and rejected lines, addresses and names included, are one JSON document, encrypted
 * (context `import_batches.rows`, which these documents were written under before they had parts).
 */
export const importBatchParts = pgTable(
  'import_batch_parts',
  {
    batchId: text('batch_id')
      .notNull()
      .references(() => importBatches.id, { onDelete: 'cascade' }),
    part: integer('part').notNull(),
    rows: text('rows').notNull(),
  },
  (t) => [primaryKey({ columns: [t.batchId, t.part] })],
)

export const JOB_KINDS = [
  'patreon_import',
  'patreon_invitations',
  'ghost_import',
  'year_end_statements',
  'gift_delivery',
  'gift_start',
] as const
export type JobKind = (typeof JOB_KINDS)[number]
export const JOB_STATES = ['queued', 'running', 'done', 'failed'] as const
export type JobState = (typeof JOB_STATES)[number]

/**
 * Work too long for one request (src/jobs): a Patreon import, the invitations, a Ghost import. A job runs in
 * steps, each bounded, claimed under a lease (`lease`, `locked_until`) by the Worker's Cron
 * Trigger or the Node server's loop. `payload` and `progress` hold ids, counts and settings,
 * never an address or a name. At most one open job per `kind` and `key`.
 */
export const jobs = pgTable(
  'jobs',
  {
    id: text('id').primaryKey(),
    kind: text('kind', { enum: JOB_KINDS }).notNull(),
    key: text('key').notNull(),
    state: text('state', { enum: JOB_STATES }).notNull(),
    payload: jsonb('payload').notNull(),
    progress: jsonb('progress').notNull(),
    /** Not before: a step waits for it (invitations go out a batch a minute; a failed step backs off). */
    runAt: timestamptz('run_at').notNull(),
    lease: text('lease'),
    lockedUntil: timestamptz('locked_until'),
    /** Failed steps in a row; a job fails for good after a few. */
    attempts: integer('attempts').notNull().default(0),
    /** Why the last step failed, for the admin: a sentence, never personal data. */
    lastError: text('last_error'),
    createdBy: text('created_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: timestamptz('created_at').notNull(),
    updatedAt: timestamptz('updated_at').notNull(),
    finishedAt: timestamptz('finished_at'),
  },
  (t) => [
    check(
      'jobs_kind_valid',
      sql`${t.kind} in ('patreon_import', 'patreon_invitations', 'ghost_import', 'year_end_statements', 'gift_delivery', 'gift_start')`,
    ),
    check('jobs_state_valid', sql`${t.state} in ('queued', 'running', 'done', 'failed')`),
    uniqueIndex('jobs_one_open_per_key')
      .on(t.kind, t.key)
      .where(sql`${t.state} in ('queued', 'running')`),
    index('jobs_due')
      .on(t.runAt)
      .where(sql`${t.state} in ('queued', 'running')`),
    index('jobs_recent').on(t.kind, t.createdAt),
  ],
)

/** Year-end statements sent: one row per account and calendar year, so nobody gets two. */
export const statementSends = pgTable(
  'statement_sends',
  {
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    year: integer('year').notNull(),
    sentAt: timestamptz('sent_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.year] })],
)

/** Welcome e-mails sent: one per membership (Stripe subscription), whatever the order webhooks arrive in. */
export const welcomeMails = pgTable('welcome_mails', {
  subscriptionId: text('subscription_id').primaryKey(),
  sentAt: timestamptz('sent_at').notNull(),
})

export const GIFT_MONTHS = [3, 6, 12] as const

/**
 * Gift memberships (src/billing/gifts): months of a tier bought by one person for another, paid
 * once through Checkout, e-mailed on `deliver_at` with a link that signs the recipient in and
 * starts the gift (a grant with source 'gift'). Personal data is kept only while needed, encrypted
 * (src/privacy/cipher.ts, context `gifts.<column>`): the message until it is delivered, the
 * recipient's address and the giver's until the gift is redeemed (then null). The link's token is
 * kept only as its SHA-256. A gift never paid is deleted after 30 days.
 */
export const gifts = pgTable(
  'gifts',
  {
    id: text('id').primaryKey(),
    tierId: text('tier_id').references(() => tiers.id, { onDelete: 'set null' }),
    months: integer('months').notNull(),
    /** What was charged, minor units of `currency`. */
    amount: integer('amount').notNull(),
    currency: text('currency').notNull(),
    /** The giver's account, when they were signed in. */
    giverUserId: text('giver_user_id').references(() => users.id, { onDelete: 'set null' }),
    /** Encrypted (`gifts.giver_email`): where the receipt and a later start go; null once redeemed. */
    giverEmail: text('giver_email'),
    /** Encrypted (`gifts.recipient_email`); null once redeemed (the account holds the address then). */
    recipientEmail: text('recipient_email'),
    /** The address index of the recipient's address, so that deleting an account finds gifts to it. */
    recipientEmailIndex: text('recipient_email_index'),
    /** Encrypted (`gifts.message`); null once delivered. */
    message: text('message'),
    /** When the e-mail goes to the recipient (the start of the chosen day, UTC). */
    deliverAt: timestamptz('deliver_at').notNull(),
    checkoutSessionId: text('checkout_session_id'),
    paymentIntentId: text('payment_intent_id'),
    paidAt: timestamptz('paid_at'),
    receiptSentAt: timestamptz('receipt_sent_at'),
    /** SHA-256 of the token in the recipient's link (the token itself is only in the e-mail). */
    tokenHash: text('token_hash'),
    deliveredAt: timestamptz('delivered_at'),
    redeemedAt: timestamptz('redeemed_at'),
    recipientUserId: text('recipient_user_id').references(() => users.id, { onDelete: 'set null' }),
    grantId: text('grant_id').references(() => grants.id, { onDelete: 'set null' }),
    createdAt: timestamptz('created_at').notNull(),
    updatedAt: timestamptz('updated_at').notNull(),
  },
  (t) => [
    check('gifts_months_valid', sql`${t.months} in (3, 6, 12)`),
    check('gifts_amount_positive', sql`${t.amount} > 0`),
    check('gifts_currency_code', sql`${t.currency} ~ '^[a-z]{3}$'`),
    uniqueIndex('gifts_checkout_session_key').on(t.checkoutSessionId),
    uniqueIndex('gifts_token_hash_key').on(t.tokenHash),
    index('gifts_recipient_email_index_idx').on(t.recipientEmailIndex),
    index('gifts_recipient_user_id_idx').on(t.recipientUserId),
    index('gifts_giver_user_id_idx').on(t.giverUserId),
  ],
)

/**
 * Every membership not billed by Stripe, read as one: comps (`grants`) and
 * Patreon memberships (`patreon_members` rows with access), with the same
 * columns; a Patreon membership's id is `patreon:<user id>`. A view, defined
 * in drizzle/0010_patreon_access.sql; read-only.
 */
export const allGrants = pgView('all_grants', {
  id: text('id').notNull(),
  userId: text('user_id').notNull(),
  source: text('source', { enum: GRANT_SOURCES }).notNull(),
  tierId: text('tier_id'),
  startsAt: timestamptz('starts_at').notNull(),
  endsAt: timestamptz('ends_at'),
  note: text('note'),
  grantedBy: text('granted_by'),
  revokedAt: timestamptz('revoked_at'),
  revokedBy: text('revoked_by'),
  createdAt: timestamptz('created_at').notNull(),
  updatedAt: timestamptz('updated_at').notNull(),
}).existing()
