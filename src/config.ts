// A namespace import lets the bundler drop zod's unused locales: it halves the Worker bundle.
import * as z from 'zod'
import { toBase64 } from './privacy/base64'
import { parseDataKey, readDataKey } from './privacy/keys'
import { parseMajorUnits } from './util/money'
import { isStripeCurrency } from './util/currencies'

/**
 * Every setting Masthead reads, in one schema. Both entries pass their raw
 * environment (process.env on Node, the Worker's `env` bindings) through
 * `loadConfig`, so a setting means the same thing wherever the app runs.
 */
const port = z.coerce
  .number({ error: 'must be a whole number between 1 and 65535' })
  .int('must be a whole number between 1 and 65535')
  .min(1, 'must be a whole number between 1 and 65535')
  .max(65535, 'must be a whole number between 1 and 65535')

/** A data encryption key, `k1:` and 32 random bytes in base64 (src/privacy/keys.ts); the message never repeats it. */
const dataKey = z.string().superRefine((text, ctx) => {
  const read = readDataKey(text)
  if (!read.ok) ctx.addIssue({ code: 'custom', message: read.problem })
})

const postgresUrl = z.string().regex(/^postgres(ql)?:\/\/\S+$/, 'must be a postgres:// connection URL')

// ---- Giving and the join page (src/billing: join-page.tsx, giving.ts, fee-cover.ts, goal.ts, theme.ts)
const SUGGESTED =
  'must be 1 to 6 amounts in major units, comma-separated, one marked * as the default, such as 5,10*,25'
/** "5,10*,25": amounts in major units of the main currency; the starred one is chosen at first (else the middle one). */
const suggestedAmounts = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((list, ctx) => {
      const items = list.split(',').map((item) => item.trim())
      const valid = (item: string) => /^\d{1,9}(\.\d{1,3})?\*?$/.test(item) && Number(item.replace('*', '')) > 0
      if (items.length > 6 || !items.every(valid) || items.filter((item) => item.endsWith('*')).length > 1) {
        ctx.addIssue({ code: 'custom', message: SUGGESTED })
        return z.NEVER
      }
      const starred = items.findIndex((item) => item.endsWith('*'))
      return {
        amounts: items.map((item) => item.replace('*', '')),
        defaultIndex: starred >= 0 ? starred : (items.length - 1) >> 1,
      }
    })
/** A percentage with at most two decimals, as basis points (2.9 → 290). */
const percentInBasisPoints = z
  .string()
  .regex(/^\d{1,2}(\.\d{1,2})?$/, 'must be a percentage from 0 to 20 with at most two decimals, such as 2.9')
  .transform((text) => {
    const [whole = '0', fraction = ''] = text.split('.')
    return Number(whole) * 100 + Number(fraction.padEnd(2, '0'))
  })
  .refine((basisPoints) => basisPoints <= 2000, 'must be at most 20')
/** "0.30" (the main currency) or "usd:0.30,eur:0.25,jpy:40": major units per currency; a currency not named adds none. */
const feeCoverFixed = z
  .string()
  .transform((list) => list.toLowerCase().replace(/\s/g, ''))
  .pipe(
    z
      .string()
      .regex(
        /^(\d{1,6}(\.\d{1,3})?|[a-z]{3}:\d{1,6}(\.\d{1,3})?(,[a-z]{3}:\d{1,6}(\.\d{1,3})?)*)$/,
        'must be an amount in major units (0.30) or a list such as usd:0.30,eur:0.25,jpy:40',
      ),
  )
  .transform((list) =>
    list.split(',').map((item) => {
      const [currency, amount] = item.includes(':') ? item.split(':') : [null, item]
      return { currency: currency ?? null, amount }
    }),
  )
// ---- end of giving and the join page

const fields = z.object({
  APP_ENV: z
    .enum(['development', 'test', 'production'], {
      error: 'must be one of development, test, production',
    })
    .default('development'),
  APP_URL: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL such as https://news.example.org' }).optional(),
  DATABASE_URL: postgresUrl.optional(),
  /**
   * Connections the Node server opens to DATABASE_URL. Few is faster: single
   * statements from concurrent requests are pipelined on a connection, one
   * socket write for many (BENCHMARKS.md, webhooks).
   */
  DATABASE_POOL_SIZE: z.coerce
    .number({ error: 'must be a number of connections' })
    .int('must be a whole number of connections')
    .min(1, 'must be at least 1')
    .max(100, 'must be at most 100')
    .default(4),
  PORT: port.default(8787),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATA_DIR: z.string().min(1).default('.data'),
  MAX_BODY_BYTES: z.coerce
    .number({ error: 'must be a number of bytes' })
    .int('must be a whole number of bytes')
    .min(1024, 'must be at least 1024 bytes')
    .max(50 * 1024 * 1024, 'must be at most 52428800 bytes (50 MiB)')
    .default(1024 * 1024),
  /**
   * Invitations e-mailed per request (each is one call to the mail provider). Workers allow 50
   * subrequests per invocation on the free plan, so wrangler.toml sets 40 there.
   */
  INVITATIONS_PER_BATCH: z.coerce
    .number({ error: 'must be a number of invitations' })
    .int('must be a whole number of invitations')
    .min(1, 'must be at least 1')
    .max(100, 'must be at most 100')
    .default(100),
  /** Days after a Patreon patron's invitation that the one reminder goes, if they have not moved (0: none). */
  PATREON_REMINDER_DAYS: z.coerce
    .number({ error: 'must be a number of days' })
    .int('must be a whole number of days')
    .min(0, 'must be 0 (no reminder) or more')
    .max(365, 'must be at most 365')
    .default(14),
  PUBLICATION_NAME: z.string().trim().min(1).max(120).default('Masthead'),
  ADMIN_EMAILS: z
    .string()
    .transform((list) =>
      list
        .split(',')
        .map((e) => e.trim().toLowerCase())
        .filter(Boolean),
    )
    .pipe(z.array(z.email({ error: 'must be a comma-separated list of e-mail addresses' })))
    .default([]),
  RESEND_API_KEY: z
    .string()
    .regex(/^re_\S+$/, 'must be a Resend API key (it starts with re_)')
    .optional(),
  MAIL_FROM: z
    .string()
    .regex(/^[^<>]*<[^\s@<>]+@[^\s@<>]+>$|^[^\s@<>]+@[^\s@<>]+$/, {
      error: 'must be an address such as "The Ledger <news@example.org>"',
    })
    .optional(),
  SIGN_IN_LIMIT: z.coerce.number().int().min(1, 'must be at least 1').max(1000).default(5),
  SIGN_IN_WINDOW_MINUTES: z.coerce
    .number()
    .int()
    .min(1, 'must be at least 1')
    .max(24 * 60)
    .default(15),
  TRUST_PROXY: z.stringbool({ error: 'must be true or false' }).default(false),
  STRIPE_SECRET_KEY: z
    .string()
    .regex(/^(sk|rk)_(test|live)_\S+$/, 'must be a Stripe secret key (sk_test_… or sk_live_…)')
    .optional(),
  STRIPE_WEBHOOK_SECRET: z
    .string()
    .regex(/^whsec_\S+$/, 'must be a Stripe webhook signing secret (whsec_…)')
    .optional(),
  /** The secret of the webhook registered on Patreon (src/imports/webhook-routes.ts); unset: the route answers 404. */
  PATREON_WEBHOOK_SECRET: z.string().trim().min(1, 'must not be empty').optional(),
  STRIPE_API_URL: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL such as http://127.0.0.1:12111' })
    .optional(),
  SUPPORTED_CURRENCIES: z
    .string()
    .transform((list) =>
      list
        .split(',')
        .map((c) => c.trim().toLowerCase())
        .filter(Boolean),
    )
    .pipe(
      z
        .array(z.string().regex(/^[a-z]{3}$/, 'must be a comma-separated list of three-letter currency codes'))
        .min(1, 'must name at least one currency')
        // Only currencies Stripe charges in (src/util/currencies.ts).
        .refine((list) => list.every(isStripeCurrency), {
          error: (issue) =>
            `must be currencies Stripe charges in, which ${(issue.input as string[])
              .filter((code) => !isStripeCurrency(code))
              .join(', ')
              .toUpperCase()} is not`,
        }),
    )
    .default(['usd', 'eur', 'gbp']),
  DONATION_MIN: z.coerce
    .number()
    .int('must be a whole number of minor units')
    .min(50, 'must be at least 50')
    .default(100),
  DONATION_MAX: z.coerce.number().int('must be a whole number of minor units').max(100_000_000).default(1_000_000),
  PAST_DUE_GRACE_DAYS: z.coerce.number().int().min(0).max(60).default(7),
  /** A one-time donation hides the support prompts for this many days. */
  DONATION_BENEFIT_DAYS: z.coerce
    .number({ error: 'must be a number of days' })
    .int('must be a whole number of days')
    .min(0, 'must be 0 or more')
    .max(3650, 'must be at most 3650')
    .default(90),
  // ---- Receipts and year-end statements (src/billing/statements)
  /** The legal name printed on donation receipts and year-end statements (default: PUBLICATION_NAME). */
  ORG_LEGAL_NAME: z.string().max(200, 'must be at most 200 characters').optional(),
  /** The tax id printed beside it (an EIN, a VAT or charity number); unset: none is printed. */
  ORG_TAX_ID: z
    .string()
    .regex(/^[\p{L}\p{N}][\p{L}\p{N} .,:#/-]{0,63}$/u, {
      error: 'must be up to 64 letters, digits, spaces and . , : # / - (such as EIN 12-3456789)',
    })
    .optional(),
  /** The sentence receipts and statements end with, such as the tax authority's wording. */
  STATEMENT_TEXT: z
    .string()
    .max(1000, 'must be at most 1000 characters')
    .default('No goods or services were provided in exchange for these contributions.'),
  /** Year-end statements e-mailed per step of the statements job (a step a minute), 1 to 100. */
  STATEMENTS_PER_BATCH: z.coerce
    .number({ error: 'must be a number of statements' })
    .int('must be a whole number of statements')
    .min(1, 'must be at least 1')
    .max(100, 'must be at most 100')
    .default(40),
  // ---- end of receipts and statements
  // ---- Giving and the join page (README, "Configuration")
  SUGGESTED_AMOUNTS_ONCE: suggestedAmounts('25,50*,100'),
  SUGGESTED_AMOUNTS_MONTH: suggestedAmounts('5,10*,25'),
  SUGGESTED_AMOUNTS_YEAR: suggestedAmounts('50,100*,250'),
  /** A goal shown as a meter on the join page and in support prompts: a number of supporters… */
  GOAL_SUPPORTERS: z.coerce
    .number({ error: 'must be a number of supporters' })
    .int('must be a whole number of supporters')
    .min(1, 'must be at least 1')
    .max(100_000_000, 'must be at most 100000000')
    .optional(),
  /** …or an amount a month, in major units of the main currency (the first of SUPPORTED_CURRENCIES). */
  GOAL_MONTHLY_AMOUNT: z
    .string()
    .regex(/^\d{1,9}(\.\d{1,3})?$/, 'must be an amount in major units, such as 5000')
    .optional(),
  /** The publication's colour, #rrggbb; text on it and links in it are made readable (WCAG AA) by src/billing/theme.ts. */
  ACCENT_COLOR: z
    .string()
    .regex(/^#?([0-9a-f]{3}|[0-9a-f]{6})$/i, 'must be a colour such as #0b5cad')
    .transform((hex) => {
      const digits = hex.replace('#', '').toLowerCase()
      return `#${digits.length === 3 ? [...digits].map((d) => d + d).join('') : digits}`
    })
    .optional(),
  /** The publication's logo, on this site's own origin: a path such as /logo.svg, or a URL on APP_URL's origin. */
  LOGO_URL: z.string().max(500, 'must be at most 500 characters').optional(),
  /** Covering the card fees: a percentage of the amount (rounded up to the minor unit) plus FEE_COVER_FIXED; both 0 turns it off. */
  FEE_COVER_PERCENT: percentInBasisPoints.default(0),
  FEE_COVER_FIXED: feeCoverFixed.default([]),
  /** The fee-cover checkbox's words; {publication} becomes PUBLICATION_NAME. */
  FEE_COVER_WORDING: z
    .string()
    .min(1)
    .max(200, 'must be at most 200 characters')
    .default('Cover the card fees, so all of my support reaches {publication}'),
  /** Stripe promotion codes accepted at checkout for memberships (allow_promotion_codes). */
  ALLOW_PROMOTION_CODES: z.stringbool({ error: 'must be true or false' }).default(false),
  // ---- end of giving and the join page
  /** Signs the entitlement tokens that a publication's own site or CDN verifies (HS256). */
  ENTITLEMENT_TOKEN_SECRET: z.string().min(32, 'must be at least 32 characters (e.g. openssl rand -hex 32)').optional(),
  /**
   * Encrypts e-mail addresses and names at rest and keys their blind indexes (ARCHITECTURE.md,
   * "Personal data at rest"). Make one with `npm run keys:generate`.
   */
  DATA_ENCRYPTION_KEY: dataKey.optional(),
  /** Keys replaced by a rotation, comma-separated: still read, never written with. */
  DATA_ENCRYPTION_KEYS_OLD: z
    .string()
    .transform((list) =>
      list
        .split(',')
        .map((k) => k.trim())
        .filter(Boolean),
    )
    .pipe(z.array(dataKey))
    .default([]),
  ENTITLEMENT_TOKEN_TTL_SECONDS: z.coerce
    .number({ error: 'must be a number of seconds' })
    .int('must be a whole number of seconds')
    .min(300, 'must be at least 300 (5 minutes)')
    .max(900, 'must be at most 900 (15 minutes)')
    .default(600),
  /** Gateway mode: the publication's own site, which Masthead stands in front of (README, "Gateway"). */
  ORIGIN_URL: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL such as https://origin.example.org' })
    .optional(),
  /** Where Masthead's own routes live: /members by default in gateway mode, the root otherwise. */
  MASTHEAD_PATH: z
    .string()
    .regex(/^(\/[A-Za-z0-9._~-]+)+$/, 'must be a path such as /members (no trailing slash)')
    .optional(),
  /** Extra CSS selectors of the origin's ads, removed for ad-free readers (for themes that cannot be edited). */
  AD_SELECTORS: z
    .string()
    .transform((list) =>
      list
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .default([]),
  /** How long the gateway waits for the origin's response headers before answering 504. */
  ORIGIN_TIMEOUT_MS: z.coerce
    .number({ error: 'must be a number of milliseconds' })
    .int('must be a whole number of milliseconds')
    .min(100, 'must be at least 100')
    .max(120_000, 'must be at most 120000')
    .default(10_000),
  /**
   * Gateway mode on Node: megabytes of rewritten pages kept in the server's memory, per URL and
   * benefit set, for as long as the origin lets shared caches keep them (0: none). Workers use
   * Cloudflare's cache instead.
   */
  GATEWAY_CACHE_MB: z.coerce
    .number({ error: 'must be a number of megabytes' })
    .int('must be a whole number of megabytes')
    .min(0, 'must be 0 (no cache) or more')
    .max(4096, 'must be at most 4096')
    .default(32),
  /** Origin paths the gateway answers 404 itself (glob patterns: feeds, JSON APIs, AMP pages that would leak gated text). */
  ORIGIN_BLOCKED_PATHS: z
    .string()
    .transform((list) =>
      list
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean),
    )
    .pipe(
      z.array(
        z.string().regex(/^\//, 'must be a comma-separated list of paths starting with /, such as /feed*,/wp-json/*'),
      ),
    )
    .default([]),
})

const productionFields = fields.pick({
  APP_ENV: true,
  APP_URL: true,
  RESEND_API_KEY: true,
  MAIL_FROM: true,
  STRIPE_SECRET_KEY: true,
  STRIPE_WEBHOOK_SECRET: true,
  ENTITLEMENT_TOKEN_SECRET: true,
  DATA_ENCRYPTION_KEY: true,
})
const donationFields = fields.pick({ DONATION_MIN: true, DONATION_MAX: true })
// ---- Giving and the join page
const GIVING_CHECKED = [
  'APP_URL',
  'PORT',
  'SUPPORTED_CURRENCIES',
  'SUGGESTED_AMOUNTS_ONCE',
  'SUGGESTED_AMOUNTS_MONTH',
  'SUGGESTED_AMOUNTS_YEAR',
  'GOAL_SUPPORTERS',
  'GOAL_MONTHLY_AMOUNT',
  'LOGO_URL',
  'FEE_COVER_FIXED',
]
type GivingFields = Pick<
  z.output<typeof fields>,
  | 'APP_URL'
  | 'PORT'
  | 'SUPPORTED_CURRENCIES'
  | 'SUGGESTED_AMOUNTS_ONCE'
  | 'SUGGESTED_AMOUNTS_MONTH'
  | 'SUGGESTED_AMOUNTS_YEAR'
  | 'GOAL_SUPPORTERS'
  | 'GOAL_MONTHLY_AMOUNT'
  | 'LOGO_URL'
  | 'FEE_COVER_FIXED'
>

/** What no one field can tell: amounts in the main currency's decimals, one goal at most, the logo on this site. */
function givingProblems(raw: GivingFields): [string, string][] {
  const problems: [string, string][] = []
  const main = raw.SUPPORTED_CURRENCIES[0]!
  const inMain = (name: string, amounts: string[]) => {
    const refused = amounts.map((amount) => parseMajorUnits(amount, main)).find((parsed) => !parsed.ok)
    if (refused)
      problems.push([name, `is read in ${main.toUpperCase()}, the first of SUPPORTED_CURRENCIES: ${refused.message}`])
  }
  inMain('SUGGESTED_AMOUNTS_ONCE', raw.SUGGESTED_AMOUNTS_ONCE.amounts)
  inMain('SUGGESTED_AMOUNTS_MONTH', raw.SUGGESTED_AMOUNTS_MONTH.amounts)
  inMain('SUGGESTED_AMOUNTS_YEAR', raw.SUGGESTED_AMOUNTS_YEAR.amounts)
  if (raw.GOAL_MONTHLY_AMOUNT !== undefined) inMain('GOAL_MONTHLY_AMOUNT', [raw.GOAL_MONTHLY_AMOUNT])
  if (raw.GOAL_SUPPORTERS !== undefined && raw.GOAL_MONTHLY_AMOUNT !== undefined) {
    problems.push(['GOAL_MONTHLY_AMOUNT', 'cannot be set with GOAL_SUPPORTERS: choose one goal'])
  }
  for (const { currency, amount } of raw.FEE_COVER_FIXED) {
    const parsed = parseMajorUnits(amount, currency ?? main)
    if (!parsed.ok)
      problems.push(['FEE_COVER_FIXED', `${(currency ?? main).toUpperCase()} ${amount}: ${parsed.message}`])
  }
  if (raw.LOGO_URL !== undefined && !isOnOwnOrigin(raw.LOGO_URL, raw.APP_URL ?? `http://localhost:${raw.PORT}`)) {
    problems.push([
      'LOGO_URL',
      "must be on this site's own origin: a path such as /logo.svg, or a URL starting with APP_URL's origin",
    ])
  }
  return problems
}

/** A path on this origin (not //host, no backslash or space), or an absolute URL on `appUrl`'s origin. */
function isOnOwnOrigin(text: string, appUrl: string): boolean {
  if (/[\s\\"'<>]/.test(text)) return false
  if (text.startsWith('/')) return !text.startsWith('//')
  try {
    return new URL(text).origin === new URL(appUrl).origin
  } catch {
    return false
  }
}
// ---- end of giving and the join page

/** Never secret: production refuses to start without ENTITLEMENT_TOKEN_SECRET. */
export const DEVELOPMENT_TOKEN_SECRET = 'masthead-development-entitlement-secret-never-use-in-production'

/**
 * Never secret: its 32 bytes spell "masthead public development key!". Production refuses to
 * start with it, or without DATA_ENCRYPTION_KEY. Its id, k0, is never generated.
 */
export const DEVELOPMENT_DATA_ENCRYPTION_KEY = 'k0:bWFzdGhlYWQgcHVibGljIGRldmVsb3BtZW50IGtleSE='

/** Production's two rules for DATA_ENCRYPTION_KEY, also applied by the tools that need only the keys (src/cli/data-keys.ts). */
export const PRODUCTION_KEY_PROBLEMS = {
  missing: 'is required in production (it encrypts e-mail addresses and names; make one with npm run keys:generate)',
  development:
    'is the public development key, which must never be used in production (make one with npm run keys:generate)',
} as const

/** The development key however it is written (either base64 alphabet, any id): its bytes. */
export const isDevelopmentKey = (text: string | undefined) => {
  const read = text === undefined ? undefined : readDataKey(text)
  return read?.ok === true && toBase64(read.key.bytes) === toBase64(parseDataKey(DEVELOPMENT_DATA_ENCRYPTION_KEY).bytes)
}

/** The key ids of the keys given, the current one first (ids are not secret). */
const keyIdsOf = (raw: { DATA_ENCRYPTION_KEY?: string; DATA_ENCRYPTION_KEYS_OLD: string[] }) =>
  [raw.DATA_ENCRYPTION_KEY ?? DEVELOPMENT_DATA_ENCRYPTION_KEY, ...raw.DATA_ENCRYPTION_KEYS_OLD].map(
    (key) => key.split(':')[0]!,
  )

export const configSchema = fields
  // `when` lets these run even if another variable is invalid, so one message lists every problem.
  .refine((raw) => raw.APP_ENV !== 'production' || raw.APP_URL !== undefined, {
    path: ['APP_URL'],
    message: 'is required in production',
    when: (payload) => productionFields.safeParse(payload.value).success,
  })
  .refine((raw) => raw.APP_ENV !== 'production' || !raw.APP_URL?.startsWith('http://'), {
    path: ['APP_URL'],
    message: 'must use https in production',
    when: (payload) => productionFields.safeParse(payload.value).success,
  })
  .refine((raw) => raw.APP_ENV !== 'production' || raw.RESEND_API_KEY !== undefined, {
    path: ['RESEND_API_KEY'],
    message: 'is required in production (Masthead sends sign-in links by e-mail)',
    when: (payload) => productionFields.safeParse(payload.value).success,
  })
  .refine((raw) => raw.RESEND_API_KEY === undefined || raw.MAIL_FROM !== undefined, {
    path: ['MAIL_FROM'],
    message: 'is required when RESEND_API_KEY is set',
    when: (payload) => productionFields.safeParse(payload.value).success,
  })
  .refine((raw) => raw.APP_ENV !== 'production' || raw.STRIPE_SECRET_KEY !== undefined, {
    path: ['STRIPE_SECRET_KEY'],
    message: 'is required in production',
    when: (payload) => productionFields.safeParse(payload.value).success,
  })
  .refine((raw) => raw.STRIPE_SECRET_KEY === undefined || raw.STRIPE_WEBHOOK_SECRET !== undefined, {
    path: ['STRIPE_WEBHOOK_SECRET'],
    message: 'is required when STRIPE_SECRET_KEY is set',
    when: (payload) => productionFields.safeParse(payload.value).success,
  })
  .refine((raw) => raw.APP_ENV !== 'production' || raw.ENTITLEMENT_TOKEN_SECRET !== undefined, {
    path: ['ENTITLEMENT_TOKEN_SECRET'],
    message: 'is required in production (it signs the entitlement tokens your site verifies)',
    when: (payload) => productionFields.safeParse(payload.value).success,
  })
  .refine((raw) => raw.APP_ENV !== 'production' || raw.DATA_ENCRYPTION_KEY !== undefined, {
    path: ['DATA_ENCRYPTION_KEY'],
    message: PRODUCTION_KEY_PROBLEMS.missing,
    when: (payload) => productionFields.safeParse(payload.value).success,
  })
  .refine((raw) => raw.APP_ENV !== 'production' || !isDevelopmentKey(raw.DATA_ENCRYPTION_KEY), {
    path: ['DATA_ENCRYPTION_KEY'],
    message: PRODUCTION_KEY_PROBLEMS.development,
    when: (payload) => productionFields.safeParse(payload.value).success,
  })
  .superRefine(
    (raw, ctx) => {
      const ids = keyIdsOf(raw)
      const repeated = ids.find((id, i) => ids.indexOf(id) !== i)
      if (repeated) {
        ctx.addIssue({
          code: 'custom',
          path: ['DATA_ENCRYPTION_KEYS_OLD'],
          message: `holds a second key with the id ${repeated}: each key needs its own id (a new key takes the next one, as npm run keys:generate does)`,
        })
      }
    },
    {
      // Not through a pick of the fields, as above: the list is already an array here.
      when: (payload) =>
        !payload.issues.some((issue) =>
          ['DATA_ENCRYPTION_KEY', 'DATA_ENCRYPTION_KEYS_OLD'].includes(String(issue.path?.[0])),
        ),
    },
  )
  .refine((raw) => raw.DONATION_MIN <= raw.DONATION_MAX, {
    path: ['DONATION_MAX'],
    message: 'must not be less than DONATION_MIN',
    when: (payload) => donationFields.safeParse(payload.value).success,
  })
  // ---- Giving and the join page: amounts read in the main currency, the logo on this origin.
  .superRefine(
    (raw, ctx) =>
      givingProblems(raw).forEach(([path, message]) => ctx.addIssue({ code: 'custom', path: [path], message })),
    {
      // Not through a pick of the fields: the lists are already read here.
      when: (payload) => !payload.issues.some((issue) => GIVING_CHECKED.includes(String(issue.path?.[0]))),
    },
  )
  .transform((raw) => ({
    ...raw,
    // Outside production a bare machine needs no setup: default to the local server.
    APP_URL: (raw.APP_URL ?? `http://localhost:${raw.PORT}`).replace(/\/+$/, ''),
    // Outside production only: a fixed, public development secret, so tokens survive restarts.
    ENTITLEMENT_TOKEN_SECRET: raw.ENTITLEMENT_TOKEN_SECRET ?? DEVELOPMENT_TOKEN_SECRET,
    // Likewise: a fixed, public development key, so a development database stays readable across restarts.
    DATA_ENCRYPTION_KEY: raw.DATA_ENCRYPTION_KEY ?? DEVELOPMENT_DATA_ENCRYPTION_KEY,
    ORIGIN_URL: raw.ORIGIN_URL?.replace(/\/+$/, ''),
    MASTHEAD_PATH: raw.MASTHEAD_PATH ?? (raw.ORIGIN_URL ? '/members' : ''),
  }))

export type Config = z.output<typeof configSchema>

/** Thrown when the environment does not describe a runnable app; its message is for people. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(
      [
        'Masthead cannot start: the configuration is invalid.',
        ...problems.map((p) => `  - ${p}`),
        'Set these environment variables (README.md, "Configuration") and start again.',
      ].join('\n'),
    )
    this.name = 'ConfigError'
  }
}

/**
 * Validates the raw environment. Only string values are read (Worker bindings
 * such as HYPERDRIVE are objects and are ignored here); empty strings count as
 * unset, as they do in most .env files. Values never appear in the error, as
 * some of them are secrets.
 */
export function loadConfig(source: Record<string, unknown>): Config {
  const raw: Record<string, string> = {}
  for (const [key, value] of Object.entries(source)) {
    if (typeof value === 'string' && value.trim() !== '') raw[key] = value.trim()
  }
  const parsed = configSchema.safeParse(raw)
  if (parsed.success) return parsed.data
  const problems = parsed.error.issues.map((issue) => {
    const name = issue.path.join('.') || 'configuration'
    const message = issue.code === 'invalid_type' && raw[name] === undefined ? 'is required' : issue.message
    return `${name}: ${message}`
  })
  throw new ConfigError(problems)
}

/** Live Stripe keys move real money; anything else shows the TEST MODE banner. */
export const isTestMode = (config: Config) => !config.STRIPE_SECRET_KEY?.startsWith('sk_live_')
