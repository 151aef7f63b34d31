import { and, asc, eq, gte, lt, sql } from 'drizzle-orm'
import type { Config } from '../../config'
import { rowsOf, type Database } from '../../db/client'
import { payments, stripeCustomers } from '../../db/schema'
import { AppError } from '../../http/errors'

/**
 * A donor's payments for a calendar year, read from the ledger (`payments`) through the
 * account's Stripe customers (`stripe_customers`): what the statement page, its JSON and the
 * year-end e-mail all show. Years are calendar years in UTC, as every timestamp is stored.
 */

/** The first year a statement can be asked for: nothing Masthead recorded is older. */
export const FIRST_YEAR = 2000

/** One payment as the statement lists it; a refund's amount is negative, as in the ledger. */
export interface StatementLine {
  id: string
  kind: string
  occurredAt: Date
  amount: number
  /** The part of `amount` the donor added to cover the processing fees (signed like `amount`; 0: none). */
  feeCover: number
  currency: string
}

/** The sums of one currency: never added to another's. */
export interface CurrencyTotal {
  currency: string
  /** Everything paid, refunds left out. */
  paid: number
  /** Refunds, as a negative amount (0: none). */
  refunded: number
  /** `paid` + `refunded`. */
  net: number
  /** The fee-cover parts, net of refunded ones. */
  feeCover: number
}

export interface Statement {
  year: number
  lines: StatementLine[]
  totals: CurrencyTotal[]
  /** Whether any line has a fee-cover part (the statement then shows that column). */
  hasFeeCover: boolean
}

/** Who issues receipts and statements, and what they say (config: ORG_LEGAL_NAME, ORG_TAX_ID, STATEMENT_TEXT). */
export interface Issuer {
  legalName: string
  taxId: string | null
  text: string
}

export const issuerOf = (
  config: Pick<Config, 'ORG_LEGAL_NAME' | 'ORG_TAX_ID' | 'STATEMENT_TEXT' | 'PUBLICATION_NAME'>,
): Issuer => ({
  legalName: config.ORG_LEGAL_NAME ?? config.PUBLICATION_NAME,
  taxId: config.ORG_TAX_ID ?? null,
  text: config.STATEMENT_TEXT,
})

/** What a ledger row of each kind is called on a statement. */
const KIND_NAMES: Record<string, string> = {
  donation: 'One-time donation',
  subscription: 'Membership or recurring gift',
  refund: 'Refund',
  gift: 'Gift membership',
}
export const kindName = (kind: string) => KIND_NAMES[kind] ?? 'Payment'

/** [1 January of `year`, 1 January of the next), in UTC. */
export const yearBounds = (year: number): [Date, Date] => [
  new Date(Date.UTC(year, 0, 1)),
  new Date(Date.UTC(year + 1, 0, 1)),
]

/**
 * A year as a statement's address names it: four digits, else 400; a year before FIRST_YEAR or
 * after the current one has no statement, 404.
 */
export function yearFromPath(text: string, now: Date): number {
  if (!/^\d{4}$/.test(text)) throw new AppError('bad_request', 'A statement’s year is four digits, such as 2025.')
  const year = Number(text)
  const current = now.getUTCFullYear()
  if (year < FIRST_YEAR || year > current) {
    throw new AppError('not_found', `There are statements only for the years ${FIRST_YEAR} to ${current}.`)
  }
  return year
}

/** The years in which an account made (or was refunded) a payment, newest first. */
export async function statementYears(db: Database, userId: string): Promise<number[]> {
  const rows = await rowsOf<{ year: number | string }>(
    db,
    sql`select distinct extract(year from p.occurred_at at time zone 'UTC')::integer as year
      from ${payments} p join ${stripeCustomers} sc on sc.customer_id = p.customer_id
      where sc.user_id = ${userId}
      order by year desc`,
  )
  return rows.map((r) => Number(r.year))
}

/** An account's statement for a year: every payment in date order, and the sums per currency. */
export async function statementOf(db: Database, userId: string, year: number): Promise<Statement> {
  const [start, end] = yearBounds(year)
  const rows = await db
    .select({
      id: payments.id,
      kind: payments.kind,
      occurredAt: payments.occurredAt,
      amount: payments.amount,
      feeCoverAmount: payments.feeCoverAmount,
      currency: payments.currency,
    })
    .from(payments)
    .innerJoin(stripeCustomers, eq(stripeCustomers.customerId, payments.customerId))
    .where(and(eq(stripeCustomers.userId, userId), gte(payments.occurredAt, start), lt(payments.occurredAt, end)))
    .orderBy(asc(payments.occurredAt), asc(payments.id))
  const lines = rows.map((r): StatementLine => ({
    id: r.id,
    kind: r.kind,
    occurredAt: r.occurredAt,
    amount: r.amount,
    feeCover: Math.sign(r.amount) * r.feeCoverAmount,
    currency: r.currency.toLowerCase(),
  }))
  return { year, lines, totals: totalsOf(lines), hasFeeCover: lines.some((l) => l.feeCover !== 0) }
}

/** Sums per currency, in integer minor units, currencies in alphabetical order. */
export function totalsOf(lines: readonly StatementLine[]): CurrencyTotal[] {
  const byCurrency = new Map<string, CurrencyTotal>()
  for (const line of lines) {
    let total = byCurrency.get(line.currency)
    if (!total) {
      total = { currency: line.currency, paid: 0, refunded: 0, net: 0, feeCover: 0 }
      byCurrency.set(line.currency, total)
    }
    if (line.amount < 0) total.refunded += line.amount
    else total.paid += line.amount
    total.net += line.amount
    total.feeCover += line.feeCover
  }
  return [...byCurrency.values()].sort((a, b) => a.currency.localeCompare(b.currency))
}

/** A statement as the JSON API gives it: dates as ISO days, amounts in minor units with their currency. */
export const statementJson = (statement: Statement, issuer: Issuer) => ({
  year: statement.year,
  issuer,
  payments: statement.lines.map((l) => ({
    id: l.id,
    date: isoDay(l.occurredAt),
    kind: l.kind,
    amount: l.amount,
    feeCover: l.feeCover,
    currency: l.currency,
  })),
  totals: statement.totals,
})

export const isoDay = (d: Date) => d.toISOString().slice(0, 10)
