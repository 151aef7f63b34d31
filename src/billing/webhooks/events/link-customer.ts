import { sql, type SQL } from 'drizzle-orm'
import { newAccount } from '../../../accounts/users'
import { fixedStatement } from '../../../db/client'
import { stripeCustomers, users } from '../../../db/schema'
import { addressIndexes } from '../../../privacy/blind-index'
import { fixedWrite, iso, slot, whenStored, type EventContext, type Write } from './context'

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
/** A new link changes the account's memberships (`changed`, for the duplicate check in `finish`). */
const LINK_TO_ACCOUNT = fixedWrite(
  'link.account',
  sql`insert into ${stripeCustomers} (customer_id, user_id, created_at)
    select ${slot.text('link.customer')}, ${users.id}, ${slot.ts('link.now')} from ${users}
    where ${users.id} = ${slot.text('link.account')} and ${whenStored}
    on conflict do nothing
    returning true as changed`,
  { tellsChange: true },
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
 * not duplicated. Every statement here is fixed text (`fixedStatement`,
 * `fixedWrite`): nothing is built per checkout.
 */
export async function linkByAddress(ctx: EventContext, customerId: string, email: string): Promise<Write[]> {
  // The address's indexes, one per key the keyring holds (two during a rotation).
  const indexes = await addressIndexes(ctx.keyring, email)
  const [state] = await linkStateFor(indexes.length)(ctx.lookupDb, [customerId, ...indexes])
  if (state?.linked) return []
  const link = { 'link.customer': customerId, 'link.now': iso(ctx.now) }
  if (state?.known) return [{ name: 'link', fixed: LINK_KNOWN, values: { ...link, 'link.account': state.known } }]

  const account = await newAccount(ctx.db, ctx.keyring, ctx.config, ctx.now, { email }, { placed: false })
  for (const column of Object.keys(account)) {
    if (!NEW_ACCOUNT_COLUMNS.has(column)) throw new Error(`new_account does not write users.${column}`)
  }
  return [
    {
      name: 'known_account',
      fixed: knownAccountFor(indexes.length),
      values: Object.fromEntries(indexes.map((index, i) => [`account.index.${i}`, index])),
    },
    {
      name: 'new_account',
      fixed: NEW_ACCOUNT,
      values: {
        'account.id': account.id,
        'account.email_index': account.emailIndex,
        'account.search_tokens': JSON.stringify(account.searchTokens ?? []),
        'account.card': account.card ?? null,
        'account.named': account.named ?? false,
        'account.name_order': account.nameOrder,
        'account.role': account.role,
        'account.created': iso(account.createdAt ?? ctx.now),
      },
    },
    { name: 'link', fixed: LINK_NEW, values: link },
  ]
}

/** One value per number of address indexes (the keys the keyring holds), made the first time it is asked for. */
function perIndexCount<T>(make: (indexes: number) => T): (indexes: number) => T {
  const made = new Map<number, T>()
  return (indexes) => {
    let value = made.get(indexes)
    if (value === undefined) made.set(indexes, (value = make(indexes)))
    return value
  }
}

/**
 * Whether the customer is linked already, and the account with the address if there is one: fixed text for
 * each number of indexes ($2, $3, …). A list of parameters (`in`), not an array built in SQL: the planner then
 * always probes the unique index on users.email_index, even for a plan made when the table was small.
 */
const linkStateFor = perIndexCount((indexes) => {
  const list = Array.from({ length: indexes }, (_, i) => `$${i + 2}::text`).join(', ')
  return fixedStatement<LinkState>(
    `select exists (select 1 from stripe_customers where customer_id = $1::text) as linked,
      (select id from users where email_index in (${list}) limit 1) as known`,
  )
})
interface LinkState {
  linked: boolean
  known: string | null
}

/** Only while no delivery has linked the customer. */
const UNLINKED = sql`not exists (select 1 from ${stripeCustomers} where customer_id = ${slot.text('link.customer')})`

const linkTo = (key: string, accounts: SQL) =>
  fixedWrite(
    key,
    sql`insert into ${stripeCustomers} (customer_id, user_id, created_at)
      select ${slot.text('link.customer')}, id, ${slot.ts('link.now')} from (${accounts}) account
      where ${whenStored} and ${UNLINKED}
      on conflict do nothing`,
  )

/** The link to the account found by the lookup. */
const LINK_KNOWN = linkTo('link.known', sql`select ${slot.text('link.account')} as id`)

/** The account for the address, as the statement's snapshot has it: one query per number of indexes, as above. */
const knownAccountFor = perIndexCount((indexes) => {
  const list = sql.join(
    Array.from({ length: indexes }, (_, i) => slot.text(`account.index.${i}`)),
    sql`, `,
  )
  return fixedWrite(`account.known.${indexes}`, sql`select id from ${users} where ${users.emailIndex} in (${list})`)
})

/** What newAccount fills in, and NEW_ACCOUNT writes: a column it comes to fill must be written there too. */
const NEW_ACCOUNT_COLUMNS = new Set([
  'id',
  'emailIndex',
  'searchTokens',
  'card',
  'named',
  'nameOrder',
  'role',
  'createdAt',
  'updatedAt',
])

/**
 * The new account, unless the snapshot has one for the address. known_account reads the statement's snapshot: an
 * account a concurrent delivery inserts for the same address is not in it, and meets this insert in the unique
 * index instead. Do update (to the same value), not do nothing, so that the insert waits for it to commit and
 * returns its id, and the link is made to it.
 */
const NEW_ACCOUNT = fixedWrite(
  'account.new',
  sql`insert into ${users} (id, email_index, search_tokens, card, named, name_order, role, created_at, updated_at)
    select ${slot.text('account.id')}, ${slot.text('account.email_index')},
      array(select jsonb_array_elements_text(${sql.placeholder('account.search_tokens')}::jsonb)),
      ${slot.text('account.card')}, ${slot.bool('account.named')}, ${slot.text('account.name_order')},
      ${slot.text('account.role')}, ${slot.ts('account.created')}, ${slot.ts('account.created')}
    where ${whenStored} and ${UNLINKED} and not exists (select 1 from known_account)
    on conflict (email_index) do update set email_index = excluded.email_index returning id`,
)

/** The link to the account found in the snapshot, or the one just inserted (or met in the index). */
const LINK_NEW = linkTo('link.new', sql`select id from known_account union all select id from new_account`)
