import { sql } from 'drizzle-orm'
import { newAccount } from '../../../accounts/users'
import { stripeCustomers, users } from '../../../db/schema'
import { text, ts, whenStored, type EventContext, type Write } from './context'

/**
 * Links a Stripe customer to an account: the one Masthead named when it
 * started the checkout, else the account for the customer's e-mail, created
 * if new (a signed-out reader who paid). The first link wins, and a customer
 * that is already linked creates no account.
 */
export function linkCustomer(
  ctx: EventContext,
  customerId: string,
  hints: { userId?: string | null | undefined; email?: string | null | undefined },
): Write[] {
  const now = ts(ctx.now)
  if (hints.userId) {
    // Only if that account still exists.
    return [
      {
        name: 'link',
        query: sql`insert into ${stripeCustomers} (customer_id, user_id, created_at)
          select ${text(customerId)}, ${users.id}, ${now} from ${users}
          where ${users.id} = ${text(hints.userId)} and ${whenStored}
          on conflict do nothing`,
      },
    ]
  }
  if (!hints.email) return []
  const account = newAccount(ctx.config, ctx.now, { email: hints.email })
  const unlinked = sql`not exists (select 1 from ${stripeCustomers} where customer_id = ${text(customerId)})`
  return [
    { name: 'known_account', query: sql`select id from ${users} where email = ${text(account.email)}` },
    {
      name: 'new_account',
      query: sql`insert into ${users} (id, email, role, created_at, updated_at)
        select ${text(account.id)}, ${text(account.email)}, ${text(account.role)}, ${now}, ${now}
        where ${whenStored} and ${unlinked} and not exists (select 1 from known_account)
        on conflict (email) do nothing returning id`,
    },
    {
      name: 'link',
      query: sql`insert into ${stripeCustomers} (customer_id, user_id, created_at)
        select ${text(customerId)}, id, ${now} from (select id from known_account union all select id from new_account) account
        where ${whenStored} and ${unlinked}
        on conflict do nothing`,
    },
  ]
}
