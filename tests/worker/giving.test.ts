/**
 * Giving inside workerd (the real Worker, bundled by wrangler, on a fresh database through
 * Hyperdrive, paying through the local Stripe stand-in, which signs its events and delivers them
 * to the Worker as Stripe would): a year's statements sent by the Cron Trigger a batch per run, a
 * gift membership from purchase to redemption, a one-time donation's receipt under a repeated
 * delivery, and the join page's yearly gift reaching Checkout as a yearly price.
 * The same features on Node: tests/billing/statements-sending.test.ts, gifts.test.ts,
 * receipts.test.ts and join.test.ts.
 */
import postgres from 'postgres'
import type Stripe from 'stripe'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { syncAllToStripe } from '../../src/billing/tiers/stripe-sync'
import type { Config } from '../../src/config'
import { connectPostgres, type DatabaseHandle } from '../../src/db/client'
import { payments, stripeCustomers } from '../../src/db/schema'
import { seedDemoTiers } from '../../src/dev/demo-tiers'
import { startStripeStandIn, type StripeStandIn } from '../../src/dev/stripe-stand-in'
import { createServices } from '../../src/services'
import { insertAccount } from '../helpers/sealed'
import { deliverTo, postStripeEvent, startTestWorker, type TestWorker } from './harness'
import { signInWorker, structuredLogs, workerConfig } from './session'

const ADMIN = 'worker-giving-admin@ledger.example'
const BATCH = 2

let standIn: StripeStandIn
let worker: TestWorker
let database: DatabaseHandle
let sql: postgres.Sql
let stripe: Stripe
let config: Config
let admin: string

beforeAll(async () => {
  standIn = await startStripeStandIn({ deliver: deliverTo(() => worker) })
  const vars = {
    ADMIN_EMAILS: ADMIN,
    SIGN_IN_LIMIT: '1000',
    STATEMENTS_PER_BATCH: String(BATCH),
    SUGGESTED_AMOUNTS_YEAR: '40,80*,160',
    ...standIn.env,
  }
  worker = await startTestWorker(vars)
  config = workerConfig(vars)
  database = connectPostgres(worker.databaseUrl, { max: 2 })
  sql = postgres(worker.databaseUrl, { max: 1, onnotice: () => {} })
  await seedDemoTiers(database.db, new Date())
  const services = createServices({ config, db: database.db })
  stripe = services.stripe!
  await syncAllToStripe(services)
  admin = await signInWorker(worker, ADMIN)
}, 120_000)
afterAll(async () => {
  await sql?.end()
  await database?.close()
  await worker?.stop()
  await standIn?.close()
})

interface Mail {
  to: string
  subject: string
  text: string
}

/** The development mailbox's messages to one address (newest first), as the Worker serves it. */
async function mailsTo(email: string): Promise<Mail[]> {
  const res = await worker.fetch(`/dev/mailbox.json?to=${encodeURIComponent(email)}`)
  expect(res.status).toBe(200)
  return ((await res.json()) as { messages: Mail[] }).messages.filter((m) => m.to === email)
}

const json = (cookie?: string): Record<string, string> => ({
  'Content-Type': 'application/json',
  ...(cookie ? { Cookie: cookie } : {}),
})

/** Delivers an event the stand-in made once more, signed as Stripe signs it: a duplicated delivery. */
async function redeliver(event: Stripe.Event): Promise<number> {
  const payload = JSON.stringify(event)
  const res = await postStripeEvent(worker, payload, standIn.sign(payload))
  await res.arrayBuffer()
  return res.status
}

const completedEventOf = (sessionId: string) =>
  standIn
    .events()
    .find((e) => e.type === 'checkout.session.completed' && (e.data.object as { id: string }).id === sessionId)

const everyDeliveryTaken = () =>
  expect(standIn.deliveries().map((d) => d.status)).toEqual(standIn.deliveries().map(() => 200))

describe('a year’s statements sent by the Cron Trigger inside workerd', () => {
  const year = new Date().getUTCFullYear() - 1
  const donors = [1, 2, 3, 4, 5].map((n) => `worker-statement-${n}@ledger.example`)
  const notThatYear = 'worker-statement-this-year@ledger.example'

  it('sends each donor of the year one statement, at most STATEMENTS_PER_BATCH a run', async () => {
    const now = new Date()
    let n = 0
    const donor = async (email: string, paidAt: string[]) => {
      const user = await insertAccount(database.db, config, now, { email })
      const customerId = `cus_worker_statement_${(n += 1)}`
      await database.db.insert(stripeCustomers).values({ customerId, userId: user.id, createdAt: now })
      await database.db.insert(payments).values(
        paidAt.map((iso, i) => ({
          id: `pi_${customerId}_${i}`,
          kind: 'donation' as const,
          customerId,
          paymentIntentId: `pi_${customerId}_${i}`,
          amount: 1000 + i * 500,
          currency: 'usd',
          occurredAt: new Date(iso),
        })),
      )
    }
    await donor(donors[0]!, [`${year}-02-01T10:00:00Z`, `${year}-11-30T10:00:00Z`])
    for (const email of donors.slice(1)) await donor(email, [`${year}-06-15T10:00:00Z`])
    await donor(notThatYear, [`${year + 1}-01-02T10:00:00Z`])

    const started = await worker.fetch('/api/admin/statements', {
      method: 'POST',
      headers: json(admin),
      body: JSON.stringify({ year }),
    })
    const body = (await started.json()) as { created: boolean; job: { id: string }; error?: unknown }
    expect(started.status, JSON.stringify(body.error)).toBe(202)
    expect(body).toMatchObject({ created: true, job: { progress: { year, donors: 5, sent: 0, remaining: 5 } } })

    const subject = `Your ${year} statement from %`
    const statementMails = async () =>
      (await sql<{ n: number }[]>`select count(*)::int as n from dev_mailbox where subject like ${subject}`)[0]!.n
    const progress = async () =>
      (await (await worker.fetch(`/api/admin/statements/${year}`, { headers: json(admin) })).json()) as {
        sent: number
        remaining: number
        job: { state: string; progress: { sent: number } }
      }

    const perRun: number[] = []
    for (let run = 0; run < 6 && (await progress()).job.state !== 'done'; run++) {
      const before = await statementMails()
      await worker.scheduled()
      perRun.push((await statementMails()) - before)
      // The next batch waits a minute: as if it had passed.
      await sql`update jobs set run_at = now() where id = ${body.job.id} and state = 'queued'`
    }
    // Five donors, two a run: three runs, none over the batch.
    expect(perRun).toEqual([2, 2, 1])
    expect(await progress()).toMatchObject({ sent: 5, remaining: 0, job: { state: 'done', progress: { sent: 5 } } })
    const runs = structuredLogs(worker).filter((line) => line.event === 'jobs_run')
    expect(runs.map((line) => line.steps)).toEqual([1, 1, 1])

    // Each donor exactly one statement, with their own payments; the donor of another year none.
    for (const email of donors) {
      const mails = (await mailsTo(email)).filter((m) => m.subject.startsWith(`Your ${year} statement from `))
      expect(mails, email).toHaveLength(1)
      expect(mails[0]!.text).toContain(`/account/statements/${year}`)
    }
    expect((await mailsTo(donors[0]!))[0]!.text).toContain('$15.00')
    expect(await mailsTo(notThatYear)).toEqual([])
    expect(await statementMails()).toBe(5)

    // A further run, and a second start, send nobody another.
    await worker.scheduled()
    const again = await worker.fetch('/api/admin/statements', {
      method: 'POST',
      headers: json(admin),
      body: JSON.stringify({ year }),
    })
    expect(again.status).toBe(202)
    for (let run = 0; run < 2; run++) await worker.scheduled()
    expect(await statementMails()).toBe(5)
  })
})

describe('a gift membership inside workerd', () => {
  const GIVER = 'worker-gift-giver@ledger.example'
  const FRIEND = 'worker-gift-friend@ledger.example'

  it('is paid by a signed webhook, delivered once by the Cron Trigger, and redeemed into a grant', async () => {
    const today = new Date().toISOString().slice(0, 10)
    const bought = await worker.fetch('/billing/gift', {
      method: 'POST',
      headers: json(),
      body: JSON.stringify({
        tier: 'reader',
        months: 6,
        recipient_email: FRIEND,
        deliver_on: today,
        message: 'Read the long ones.',
        from_name: 'Aunt Ada',
        email: GIVER,
      }),
    })
    const body = (await bought.json()) as { url: string; kind: string; giftId: string; error?: unknown }
    expect(bought.status, JSON.stringify(body.error)).toBe(200)
    expect(body.kind).toBe('checkout')
    const sessionId = body.url.split('/').at(-1)!
    expect(await stripe.checkout.sessions.retrieve(sessionId)).toMatchObject({
      mode: 'payment',
      amount_total: 3000,
      metadata: { kind: 'gift', gift_id: body.giftId },
    })
    const [unpaid] = await sql`select paid_at, recipient_email from gifts where id = ${body.giftId}`
    expect(unpaid).toMatchObject({ paid_at: null, recipient_email: expect.stringMatching(/^v1\./) })

    await standIn.completeCheckout(sessionId)
    everyDeliveryTaken()
    const [paid] = await sql`select paid_at from gifts where id = ${body.giftId}`
    expect(paid!.paid_at).not.toBeNull()
    expect(await sql`select amount from payments where kind = 'gift'`).toEqual([{ amount: 3000 }])
    const [job] = await sql`select kind, state from jobs where key = ${body.giftId}`
    expect(job).toEqual({ kind: 'gift_delivery', state: 'queued' })
    expect(await mailsTo(GIVER)).toHaveLength(1) // the receipt
    // The same event again: no second receipt.
    expect(await redeliver(completedEventOf(sessionId)!)).toBe(200)
    expect(await mailsTo(GIVER)).toHaveLength(1)
    expect(await mailsTo(FRIEND)).toHaveLength(0) // not before the Cron Trigger runs

    await worker.scheduled()
    await worker.scheduled()
    const mails = await mailsTo(FRIEND)
    expect(mails).toHaveLength(1)
    expect(mails[0]!.subject).toContain('Aunt Ada gave you a membership')
    expect(mails[0]!.text).toContain('Read the long ones.')
    const token = mails[0]!.text.match(/\/gift\/redeem\?token=([\w-]+)/)?.[1]
    expect(token).toBeTruthy()
    expect((await sql`select state from jobs where key = ${body.giftId}`)[0]).toEqual({ state: 'done' })

    const shown = await worker.fetch(`/gift/redeem?token=${token}`)
    expect(shown.status).toBe(200)
    expect(await shown.text()).toContain('Start my gift')
    const redeem = () =>
      worker.fetch('/gift/redeem', {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: token! }),
        redirect: 'manual',
      })
    const redeemed = await redeem()
    expect(redeemed.status).toBe(303)
    expect(redeemed.headers.get('location')).toBe('/account?notice=gift-started')
    const cookie = redeemed.headers
      .getSetCookie()
      .find((c) => c.startsWith('masthead_session='))
      ?.split(';')[0]
    expect(cookie).toBeTruthy()

    // Signed in as the recipient, whose account the redemption made.
    const me = (await (await worker.fetch('/api/account', { headers: { Cookie: cookie! } })).json()) as {
      user: { id: string; email: string }
    }
    expect(me.user.email).toBe(FRIEND)
    const grants = await sql`select source, tier_id, revoked_at from grants where user_id = ${me.user.id}`
    expect(grants).toEqual([{ source: 'gift', tier_id: 'reader', revoked_at: null }])
    const entitlements = (await (await worker.fetch('/api/entitlements', { headers: { Cookie: cookie! } })).json()) as {
      tiers: string[]
      membership: { source: string; entitled: boolean; tierId: string }
    }
    expect(entitlements.membership).toMatchObject({ source: 'gift', entitled: true, tierId: 'reader' })
    expect(entitlements.tiers).toContain('reader')
    expect(await (await worker.fetch('/account', { headers: { Cookie: cookie! } })).text()).toContain(
      'Gift memberships',
    )
    // The link is used up.
    const twice = await redeem()
    expect(twice.status).toBe(400)
    expect(await sql`select count(*)::int as n from grants where user_id = ${me.user.id}`).toEqual([{ n: 1 }])
  })
})

describe('a one-time donation’s receipt inside workerd', () => {
  const DONOR = 'worker-receipt@ledger.example'

  it('is e-mailed once, however often the signed event is delivered', async () => {
    const cookie = await signInWorker(worker, DONOR)
    const res = await worker.fetch('/billing/donate', {
      method: 'POST',
      headers: json(cookie),
      body: JSON.stringify({ amount: 2500, currency: 'usd' }),
    })
    expect(res.status).toBe(200)
    const sessionId = ((await res.json()) as { url: string }).url.split('/').at(-1)!
    await standIn.completeCheckout(sessionId)
    everyDeliveryTaken()
    const receipts = async () => (await mailsTo(DONOR)).filter((m) => m.subject.startsWith('Your receipt: '))
    expect(await receipts()).toHaveLength(1)
    expect((await receipts())[0]!.text).toContain('$25.00')

    const event = completedEventOf(sessionId)!
    expect(await redeliver(event)).toBe(200)
    expect(await redeliver(event)).toBe(200)
    expect(await receipts()).toHaveLength(1)
    const paymentIntent = (await stripe.checkout.sessions.retrieve(sessionId)).payment_intent as string
    const rows = await sql`select amount, receipt_sent_at from payments where payment_intent_id = ${paymentIntent}`
    expect(rows).toEqual([{ amount: 2500, receipt_sent_at: expect.any(Date) }])
  })
})

describe('the join page’s checkout inside workerd', () => {
  it('a suggested yearly gift reaches Checkout as a yearly price of that amount', async () => {
    const res = await worker.fetch('/billing/donate', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        currency: 'usd',
        email: 'worker-yearly@ledger.example',
        frequency: 'yearly',
        suggested_once: '50',
        suggested_yearly: '160',
      }),
      redirect: 'manual',
    })
    expect(res.status).toBe(303)
    const url = res.headers.get('location')!
    expect(url).toMatch(new RegExp(`^${standIn.url}/checkout/cs_test_\\w+$`))
    const session = await stripe.checkout.sessions.retrieve(url.split('/').at(-1)!, { expand: ['line_items'] })
    expect(session.mode).toBe('subscription')
    expect(
      session.line_items!.data.map((li) => ({
        amount: li.price!.unit_amount,
        currency: li.price!.currency,
        interval: li.price!.recurring?.interval ?? null,
      })),
    ).toEqual([{ amount: 16000, currency: 'usd', interval: 'year' }])
    expect(session.metadata).toMatchObject({ kind: 'pledge', interval: 'year' })
  })
})
