import { sql } from 'drizzle-orm'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { syncAllToStripe } from '../../src/billing/tiers/stripe-sync'
import { rowsOf } from '../../src/db/client'
import { startStripeStandIn } from '../../src/dev/stripe-stand-in'
import type { TestApp } from '../helpers/app'
import { PROTECTED, PUBLIC, roleWorld, type Who } from '../helpers/routes'

/**
 * No bad input reaches a 500: generated path parameters, query strings, bodies (JSON, forms,
 * broken multipart), cookies and content types, sent to every route the app serves (the role
 * test's list) as each role. Any 5xx fails, and so does a refused request (4xx) that changed the
 * database. Fixed seed and budget, so `npm test` (and .ci/run) runs the same requests every time;
 * FUZZ_RUNS and FUZZ_SEED run more or others.
 */

const RUNS = Number(process.env.FUZZ_RUNS ?? 400)
const SEED = Number(process.env.FUZZ_SEED ?? 20261205)

/** The pieces of hostile input: encodings, control characters, prototype names, dates that do not exist, sizes. */
const TRICKY = [
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
const FIELDS = [
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

const ROUTES = [...PUBLIC.map((r) => ({ ...r, role: 'anonymous' as const })), ...PROTECTED]

const request = fc.record({
  route: fc.constantFrom(...ROUTES),
  who: fc.constantFrom<Who>('anonymous', 'reader', 'editor', 'admin'),
  param: text,
  query: fields,
  body,
  cookie: fc.option(fc.constantFrom('masthead_session=%00', 'masthead_session=%FF', 'x=%FF', 'masthead_view=%E0'), {
    nil: undefined,
  }),
})

let t: TestApp
let cookies: Record<Who, string | undefined>
let standIn: Awaited<ReturnType<typeof startStripeStandIn>>

// Payments configured (the local Stripe stand-in): without them checkout answers 503 and the
// webhook 500 by design, which would hide what bad input does to them.
beforeAll(async () => {
  standIn = await startStripeStandIn({ now: () => new Date('2026-11-25T12:00:00Z'), deliver: null })
  ;({ t, cookies } = await roleWorld({
    STRIPE_SECRET_KEY: standIn.secretKey,
    STRIPE_WEBHOOK_SECRET: standIn.webhookSecret,
    STRIPE_API_URL: standIn.url,
  }))
  await syncAllToStripe(t.services)
}, 60_000)
afterAll(async () => {
  await standIn?.close()
  await t?.close()
})

/**
 * What a refused request must leave as it was: every table that holds what people and staff
 * wrote. Not the counters and caches that a request may touch whatever its answer: rate limits,
 * sessions (renewed when used), the supporters summary (refreshed on reading).
 */
const TABLES = [
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
  'email_tokens',
  'audit_log',
  'dev_mailbox',
  'stripe_events',
]

async function fingerprint(): Promise<string> {
  const present = await rowsOf<{ name: string }>(
    t.services.db,
    sql`select table_name as name from information_schema.tables
        where table_schema = 'public' and table_name in (${sql.join(
          TABLES.map((name) => sql`${name}`),
          sql`, `,
        )})`,
  )
  const parts = await Promise.all(
    present.map(async ({ name }) => {
      const [row] = await rowsOf<{ digest: string | null }>(
        t.services.db,
        sql`select md5(string_agg(r::text, ',' order by r::text)) as digest from ${sql.identifier(name)} r`,
      )
      return `${name}:${row?.digest ?? ''}`
    }),
  )
  return parts.sort().join(' ')
}

describe('no bad input reaches a 500', () => {
  it('answers every generated request below 500, and a refused one changes nothing', async () => {
    expect(ROUTES.length).toBeGreaterThan(50)
    await fc.assert(
      fc.asyncProperty(request, async ({ route, who, param, query, body, cookie }) => {
        const path = route.path.replace(/:[a-z]+/g, encodeURIComponent(param.replace(/[\uD800-\uDFFF]/gu, '\uFFFD')))
        const search = new URLSearchParams(query).toString()
        const headers: Record<string, string> = { 'Content-Type': body.type }
        const jar = [cookies[who], cookie].filter(Boolean).join('; ')
        if (jar) headers.Cookie = jar
        const before = await fingerprint()
        const res = await t.app.request(`${path}${search ? `?${search}` : ''}`, {
          method: route.method,
          headers,
          ...(route.method === 'GET' ? {} : { body: body.bytes }),
        })
        const label = `${route.method} ${path}?${search} as ${who}, ${body.type}: ${body.bytes.slice(0, 200)}`
        expect(res.status, label).toBeLessThan(500)
        await res.arrayBuffer()
        if (res.status >= 400) expect(await fingerprint(), `${label} answered ${res.status}`).toBe(before)
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    )
  }, 300_000)
})
