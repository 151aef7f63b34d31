import { execFile } from 'node:child_process'
import { eq } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { findUserByEmail } from '../../src/accounts/users'
import { auditLog, stripeCustomers, subscriptions } from '../../src/db/schema'
import { useBillingWorld } from '../helpers/billing'

/** `npm run import:stripe` against the stand-in: subscriptions made outside Masthead become its own. */
const w = useBillingWorld({ live: true })
const db = () => w.t.services.db

/** Runs the command asynchronously: the stand-in answering it runs in this process. */
function importStripe(...argv: string[]): Promise<{ status: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/import-stripe.ts', ...argv],
      {
        encoding: 'utf8',
        env: { ...process.env, ...w.standIn.env, DATABASE_URL: w.t.database.url ?? '', APP_ENV: 'development' },
        timeout: 90_000,
      },
      (error, stdout, stderr) =>
        resolve({ status: error ? ((error as { code?: number }).code ?? 1) : 0, output: `${stdout}\n${stderr}` }),
    )
  })
}

describe('adopting subscriptions made outside Masthead', () => {
  it('plans by default, refuses unmapped prices, adopts on --confirm, changes nothing again, and webhooks follow', async () => {
    if (!w.t.database.url) return // the command needs a server database it can reach
    const product = await w.stripe.products.create({ name: 'Old membership' })
    const price = await w.stripe.prices.create({
      product: product.id,
      currency: 'usd',
      unit_amount: 600,
      recurring: { interval: 'month' },
    })
    const customer = await w.stripe.customers.create({ email: 'Margaret@Stripe.example', name: 'Margaret Hamilton' })
    const sub = await w.stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] })
    await w.standIn.idle()

    const plan = await importStripe('--map', 'auto')
    expect(plan.status).toBe(0)
    // Nearest monthly price: 6.00 is nearest the Reader tier's 5.00.
    expect(plan.output).toContain(`price ${price.id} (product "Old membership", 6.00 USD a month): 1 → reader`)
    expect(plan.output).toContain('Dry run: nothing was written.')
    expect(plan.output).not.toMatch(/margaret|hamilton/i)
    expect(await db().select().from(subscriptions).where(eq(subscriptions.id, sub.id))).toEqual([])

    const unmapped = await importStripe('--confirm')
    expect(unmapped.status).toBe(1)
    expect(unmapped.output).toContain('Nothing was adopted: 1 price is not mapped')
    expect((await importStripe('--map', 'nonsense', '--confirm')).status).toBe(2)
    const typo = await importStripe('--map', `${price.id}=gold`, '--confirm')
    expect(typo.status).toBe(1)
    expect(typo.output).toContain('which is not a tier here')

    const run = await importStripe('--map', `${price.id}=patron`, '--confirm')
    expect(run.output).toContain('Adopted 1 subscriptions (1 new accounts)')
    expect(run.status).toBe(0)
    await w.standIn.idle()
    const account = (await findUserByEmail(db(), await w.t.services.keyring, 'margaret@stripe.example'))!
    expect(await db().select().from(stripeCustomers).where(eq(stripeCustomers.userId, account.id))).toMatchObject([
      { customerId: customer.id },
    ])
    const [stored] = await db().select().from(subscriptions).where(eq(subscriptions.id, sub.id))
    expect(stored).toMatchObject({ tierId: 'patron', status: 'active', amount: 600 })
    expect(await db().select().from(auditLog).where(eq(auditLog.action, 'stripe.adopted'))).toHaveLength(1)

    const snapshot = await w.snapshot()
    const again = await importStripe('--map', `${price.id}=patron`, '--confirm')
    expect(again.status).toBe(0)
    expect(again.output).toContain('1 already adopted')
    expect(again.output).toContain('Adopted 0 subscriptions (0 new accounts)')
    expect(again.output).toContain('0 subscriptions marked')
    expect(await w.snapshot()).toEqual(snapshot)
    expect(await db().select().from(auditLog).where(eq(auditLog.action, 'stripe.adopted'))).toHaveLength(1)

    w.clock.advance(5000)
    await w.standIn.setCancelAtPeriodEnd(sub.id, true)
    const [updated] = await db().select().from(subscriptions).where(eq(subscriptions.id, sub.id))
    expect(updated).toMatchObject({ tierId: 'patron', cancelAtPeriodEnd: true })
  }, 180_000)
})
