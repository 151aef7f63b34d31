import { sql } from 'drizzle-orm'
import fc from 'fast-check'
import { rowsOf, type Database } from '../../src/db/client'
import { PROTECTED, PUBLIC, type Who } from './routes'

/**
 * The fuzz suite's pieces, shared by the Node run (tests/http/fuzz.test.ts, through app.request)
 * and the workerd run (tests/worker/fuzz.test.ts, over HTTP): generated path parameters, query
 * strings, bodies (JSON, forms, broken multipart), cookies and content types for every route of
 * the role test as each role, and the database fingerprint that a refused request must leave as
 * it was. Both runs use one seed, FUZZ_SEED or FUZZ_DEFAULT_SEED, so they send the same requests.
 */

export const FUZZ_DEFAULT_SEED = 20261205

/** The seed both runs use: FUZZ_SEED runs others. */
export const fuzzSeed = () => Number(process.env.FUZZ_SEED ?? FUZZ_DEFAULT_SEED)

/** The pieces of hostile input: encodings, control characters, prototype names, dates that do not exist, sizes. */
export const TRICKY = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\r\n',
  '\uFFFD',
  '\uD800',
  'é',
  '💥',
  '%',
  '%00',
  '%FF',
  '%E0%A4%A',
  '..',
  '../..',
  '//evil.example',
  '/.//evil.example',
  'javascript:alert(1)',
  '<script>',
  "'; drop table users; --",
  'constructor',
  '__proto__',
  'toString',
  '2026-02-31',
  '0000-00-00',
  '9999-12-31',
  '-1',
  '0',
  '1e309',
  '99999999999999999999',
  'NaN',
  'true',
  'null',
  '[]',
  '{}',
  'x'.repeat(5000),
  'reader',
  'patron',
  'month',
  'year',
  'once',
  'usd',
  'editor',
  'admin',
  'active',
  'a@b.c',
  'A@B.C',
  'name@example.org',
  'eyJ4IjoxfQ',
  'WyJ4IiwieSJd',
]

const text = fc.oneof(
  fc.constantFrom(...TRICKY),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
)

/** Field names the routes read, so generated bodies and queries reach their validation. */
export const FIELDS = [
  'email',
  'name',
  'next',
  'token',
  'tier',
  'interval',
  'amount',
  'currency',
  'frequency',
  'role',
  'note',
  'endsAt',
  'title',
  'slug',
  'excerpt',
  'author',
  'bodyMarkdown',
  'access',
  'accessTierIds',
  'earlyAccessUntil',
  'monthlyAmount',
  'yearlyAmount',
  'description',
  'benefits',
  'active',
  'q',
  'status',
  'source',
  'patreon',
  'since_from',
  'since_to',
  'sort',
  'limit',
  'cursor',
  'before',
  'action',
  'mapping',
  'notice',
  'confirm',
]

const json: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    text,
    fc.integer(),
    fc.double(),
    fc.constantFrom(null, true, false, Number.MAX_SAFE_INTEGER, -1, 1e21),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom(...FIELDS), tie('value'), { maxKeys: 3 }),
  ),
})).value

const fields = fc.dictionary(fc.constantFrom(...FIELDS), text, { maxKeys: 5 })

/** A body, as the bytes and content type sent: JSON of any shape, forms, and the broken kinds. */
const body = fc.oneof(
  fc.dictionary(fc.constantFrom(...FIELDS), json, { maxKeys: 5 }).map((v) => ({
    type: 'application/json',
    bytes: JSON.stringify(v),
  })),
  json.map((v) => ({ type: 'application/json', bytes: JSON.stringify(v) ?? '' })),
  fields.map((v) => ({ type: 'application/x-www-form-urlencoded', bytes: new URLSearchParams(v).toString() })),
  fields.map((v) => ({
    type: 'multipart/form-data; boundary=fuzz',
    bytes:
      Object.entries(v)
        .map(([k, x]) => `--fuzz\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${x}\r\n`)
        .join('') + '--fuzz--\r\n',
  })),
  text.map((t) => ({ type: 'multipart/form-data; boundary=fuzz', bytes: `--fuzz\r\n${t}` })),
  text.map((t) => ({ type: 'application/json', bytes: `{"email":${t}` })),
  fc
    .tuple(
      fc.constantFrom(
        'text/plain',
        'application/xml',
        '*/*',
        'application/json; charset=utf-16',
        'multipart/form-data',
        'multipart/form-data; boundary=',
        'application/x-www-form-urlencoded; charset=latin1',
      ),
      text,
    )
    .map(([type, t]) => ({ type, bytes: t })),
)

/** Every route of the role test: the public ones as anonymous, the protected ones with the least role they need. */
export const ROUTES = [...PUBLIC.map((r) => ({ ...r, role: 'anonymous' as const })), ...PROTECTED]

/** One generated request: a route, who sends it, and what it carries. */
export const fuzzRequest = fc.record({
  route: fc.constantFrom(...ROUTES),
  who: fc.constantFrom<Who>('anonymous', 'reader', 'editor', 'admin'),
  param: text,
  query: fields,
  body,
  cookie: fc.option(fc.constantFrom('masthead_session=%00', 'masthead_session=%FF', 'x=%FF', 'masthead_view=%E0'), {
    nil: undefined,
  }),
})

export type FuzzRequest = typeof fuzzRequest extends fc.Arbitrary<infer T> ? T : never

/**
 * A generated request as sent: the path and query (every `:param` of the route replaced by the
 * generated text, lone surrogates made U+FFFD since no URL can carry them), the init with the
 * role's session cookie beside any planted one, and a label that says what was sent.
 */
export function requestFor(
  { route, who, param, query, body, cookie }: FuzzRequest,
  cookies: Record<Who, string | undefined>,
): { url: string; init: RequestInit; label: string } {
  const path = route.path.replace(/:[a-z]+/g, encodeURIComponent(param.replace(/[\uD800-\uDFFF]/gu, '\uFFFD')))
  const search = new URLSearchParams(query).toString()
  const headers: Record<string, string> = { 'Content-Type': body.type }
  const jar = [cookies[who], cookie].filter(Boolean).join('; ')
  if (jar) headers.Cookie = jar
  return {
    url: `${path}${search ? `?${search}` : ''}`,
    init: { method: route.method, headers, ...(route.method === 'GET' ? {} : { body: body.bytes }) },
    label: `${route.method} ${path}?${search} as ${who}, ${body.type}: ${body.bytes.slice(0, 200)}`,
  }
}

/**
 * What a refused request must leave as it was: every table that holds what people and staff
 * wrote. Not the counters and caches that a request may touch whatever its answer: rate limits,
 * sessions (renewed when used), the supporters summary (refreshed on reading), the stored
 * entitlement facts (stored by the session lookup that computes them).
 */
export const TABLES = [
  'users',
  'grants',
  'tiers',
  'tier_prices',
  'articles',
  'subscriptions',
  'payments',
  'stripe_customers',
  'patreon_members',
  'import_batches',
  'import_batch_parts',
  'jobs',
  'email_tokens',
  'audit_log',
  'dev_mailbox',
  'stripe_events',
  'gifts',
  'statement_sends',
  'welcome_mails',
  'patreon_tier_mappings',
  'stripe_objects',
]

/**
 * The tables left out of TABLES, with why: each is written whatever a request's answer (a
 * refused request may still count, renew or refresh). Every other table must be in TABLES
 * (tests/http/fuzz-tables.test.ts checks the schema against both lists).
 */
export const UNCHECKED_TABLES: Record<string, string> = {
  rate_limits: 'counters a refused request still counts',
  sessions: 'renewed when used',
  supporters: 'the summary, refreshed on reading',
  supporters_dirty: 'the summary refresh queue',
  entitlement_facts: "a copy of each account's entitlement facts, stored by the session lookup that computes them",
  patreon_webhook_counts: 'counters of signed Patreon webhooks (refused ones counted as rejected)',
}

/**
 * A digest of every row of those tables that exist (a table of a migration not yet applied is
 * left out): equal before and after means nothing was written.
 */
export async function fingerprint(db: Database): Promise<string> {
  const present = await rowsOf<{ name: string }>(
    db,
    sql`select table_name as name from information_schema.tables
        where table_schema = 'public' and table_name in (${sql.join(
          TABLES.map((name) => sql`${name}`),
          sql`, `,
        )})`,
  )
  const parts = await Promise.all(
    present.map(async ({ name }) => {
      const [row] = await rowsOf<{ digest: string | null }>(
        db,
        sql`select md5(string_agg(r::text, ',' order by r::text)) as digest from ${sql.identifier(name)} r`,
      )
      return `${name}:${row?.digest ?? ''}`
    }),
  )
  return parts.sort().join(' ')
}
