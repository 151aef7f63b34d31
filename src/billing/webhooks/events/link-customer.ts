import { getTableColumns, inArray, sql, type SQL } from 'drizzle-orm'
import { newAccount } from '../../../accounts/users'
import { rowsOf } from '../../../db/client'
import { stripeCustomers, users } from '../../../db/schema'
import { addressIndexes } from '../../../privacy/blind-index'
import { bool, fixedWrite, iso, slot, text, ts, whenStored, type EventContext, type Write } from './context'

/**
 * Links a Stripe customer to the account Masthead named when it started the
 * checkout (a signed-in reader), only if that account still exists. The first
 * link wins.
 */
export function linkToAccount(ctx: EventContext, customerId: string, userId: string): Write[] {
  return [
    {
      name: 'link',
      fixed: LINK_TO_ACCOUNT,
      values: { 'link.customer': customerId, 'link.account': userId, 'link.now': iso(ctx.now) },
    },
  ]
}
const LINK_TO_ACCOUNT = fixedWrite(
  'link.account',
  sql`insert into ${stripeCustomers} (customer_id, user_id, created_at)
    select ${slot.text('link.customer')}, ${users.id}, ${slot.ts('link.now')} from ${users}
    where ${users.id} = ${slot.text('link.account')} and ${whenStored}
    on conflict do nothing`,
)

/**
 * Links a Stripe customer to the account for the address the customer gave
 * at checkout (a signed-out reader who paid), created if new. Addresses are
 * stored sealed, so the account is found by its address index (under every
 * key the keyring holds), and a new one is sealed here and inserted without
 * a place in the name order: the handler's `after` has it placed once the
 * statement has committed (`placeNewAccounts`). A customer that is already
 * linked creates no account. The lookup is made again inside the statement,
 * and the insert meets a concurrent one in the unique address index, so a
 * concurrent sign-in or delivery that created the account first is linked,
 * not duplicated.
 */
export async function linkByAddress(ctx: EventContext, customerId: string, email: string): Promise<Write[]> {
  const indexes = await addressIndexes(ctx.keyring, email)
  const [state] = await rowsOf<{ linked: boolean; known: string | null }>(
    ctx.db,
    sql`select exists (select 1 from ${stripeCustomers} where customer_id = ${text(customerId)}) as linked,
      (select id from ${users} where ${inArray(users.emailIndex, indexes)} limit 1) as known`,
  )
  if (state?.linked) return []
  const now = ts(ctx.now)
  const unlinked = sql`not exists (select 1 from ${stripeCustomers} where customer_id = ${text(customerId)})`
  const link = (accounts: SQL): Write => ({
    name: 'link',
    query: sql`insert into ${stripeCustomers} (customer_id, user_id, created_at)
      select ${text(customerId)}, id, ${now} from (${accounts}) account
      where ${whenStored} and ${unlinked}
      on conflict do nothing`,
  })
  if (state?.known) return [link(sql`select ${text(state.known)} as id`)]

  const account = await newAccount(ctx.db, ctx.keyring, ctx.config, ctx.now, { email }, { placed: false })
  const { columns, values } = insertable(account)
  return [
    { name: 'known_account', query: sql`select id from ${users} where ${inArray(users.emailIndex, indexes)}` },
    {
      name: 'new_account',
      // known_account reads the statement's snapshot: an account a concurrent delivery inserts for the same
      // address is not in it, and meets this insert in the unique index instead. Do update (to the same value),
      // not do nothing, so that the insert waits for it to commit and returns its id, and the link is made to it.
      query: sql`insert into ${users} (${columns})
        select ${values}
        where ${whenStored} and ${unlinked} and not exists (select 1 from known_account)
        on conflict (email_index) do update set email_index = excluded.email_index returning id`,
    },
    link(sql`select id from known_account union all select id from new_account`),
  ]
}

/**
 * A row of `users` as the column list and typed values of an `insert … select`
 * (where an untyped parameter would be text): whatever newAccount fills in.
 */
function insertable(row: Record<string, unknown>): { columns: SQL; values: SQL } {
  const table = getTableColumns(users)
  const entries = Object.entries(row).filter(([, value]) => value !== undefined)
  const valueOf = (value: unknown): SQL => {
    if (value instanceof Date) return ts(value)
    if (Array.isArray(value)) return sql`array(select jsonb_array_elements_text(${JSON.stringify(value)}::jsonb))`
    if (value === null || typeof value === 'string') return text(value)
    if (typeof value === 'boolean') return bool(value)
    throw new Error(`no typed parameter for a ${typeof value}`)
  }
  return {
    columns: sql.join(
      entries.map(([key]) => {
        const column = table[key as keyof typeof table]
        if (!column) throw new Error(`users has no column ${key}`)
        return sql.identifier(column.name)
      }),
      sql`, `,
    ),
    values: sql.join(
      entries.map(([, value]) => valueOf(value)),
      sql`, `,
    ),
  }
}
