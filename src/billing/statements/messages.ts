import type { MailMessage } from '../../mail/mailer'
import { escapeHtml as escape } from '../../util/html'
import { formatMoney } from '../../util/money'
import { isoDay, kindName, type Issuer, type Statement } from './ledger'

/** The issuer's block, as lines: legal name, and the tax id when there is one. */
const issuerLines = (issuer: Issuer) => [issuer.legalName, ...(issuer.taxId ? [`Tax id: ${issuer.taxId}`] : [])]

/** Paragraphs as HTML, a line break where the text has one. */
const paragraphsHtml = (paragraphs: string[]) =>
  paragraphs.map((p) => `<p>${escape(p).replaceAll('\n', '<br>')}</p>`).join('')

const mailHtml = (body: string) =>
  `<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">${body}</body></html>`

/**
 * The receipt for a one-time donation, sent once (receipts.ts). `statements` is the statements
 * page's absolute URL (absoluteUrl(config, '/account/statements')), or null for a donor
 * without an account.
 */
export function receiptMessage(
  to: string,
  issuer: Issuer,
  donation: { id: string; amount: number; feeCover: number; currency: string; occurredAt: Date },
  statements: string | null,
): MailMessage {
  const amount = formatMoney(donation.amount, donation.currency)
  const paragraphs = [
    `Thank you for your donation of ${amount} to ${issuer.legalName}.`,
    [
      `Date: ${isoDay(donation.occurredAt)}`,
      `Amount: ${amount}`,
      ...(donation.feeCover > 0
        ? [`Of which you added to cover the processing fees: ${formatMoney(donation.feeCover, donation.currency)}`]
        : []),
      `Receipt number: ${donation.id}`,
    ].join('\n'),
    issuerLines(issuer).join('\n'),
    issuer.text,
    ...(statements
      ? [`Every January we send a statement of the year's gifts; you can see it any time at ${statements}`]
      : []),
  ]
  return {
    to,
    subject: `Your receipt: ${amount} to ${issuer.legalName}`,
    text: `${paragraphs.join('\n\n')}\n`,
    html: mailHtml(paragraphsHtml(paragraphs)),
  }
}

/**
 * The year-end statement, in full, with a link to the printable page (`url`, absolute). Like every
 * message, it names the publication, not the person: the development mailbox keeps bodies in clear.
 */
export function statementMessage(to: string, issuer: Issuer, statement: Statement, url: string): MailMessage {
  const { year } = statement
  const fee = statement.hasFeeCover
  const row = (l: Statement['lines'][number]) => [
    isoDay(l.occurredAt),
    kindName(l.kind),
    formatMoney(l.amount, l.currency),
    ...(fee ? [l.feeCover !== 0 ? formatMoney(l.feeCover, l.currency) : ''] : []),
  ]
  const totals = statement.totals.map(
    (t) =>
      `${t.currency.toUpperCase()}: paid ${formatMoney(t.paid, t.currency)}, refunded ${formatMoney(t.refunded, t.currency)}, ` +
      `total ${formatMoney(t.net, t.currency)}${fee ? ` (fee cover ${formatMoney(t.feeCover, t.currency)})` : ''}`,
  )
  const intro = [
    `This is your statement of payments to ${issuer.legalName} in ${year}, for your records and your taxes.`,
    issuerLines(issuer).join('\n'),
  ]
  const outro = [issuer.text, `To see or print this statement: ${url}`]
  const header = ['Date', 'Kind', 'Amount', ...(fee ? ['Of which fee cover'] : [])]
  const totalsText = `Totals, per currency:\n${totals.join('\n')}`
  const text = [
    ...intro,
    statement.lines.map((l) => row(l).filter(Boolean).join('  ')).join('\n'),
    totalsText,
    ...outro,
  ]
  const cell = (tag: 'th' | 'td', value: string) =>
    `<${tag} style="text-align:left;padding:2px 12px 2px 0">${escape(value)}</${tag}>`
  const table = `<table style="border-collapse:collapse"><thead><tr>${header.map((h) => cell('th', h)).join('')}</tr></thead><tbody>${statement.lines
    .map(
      (l) =>
        `<tr>${row(l)
          .map((v) => cell('td', v))
          .join('')}</tr>`,
    )
    .join('')}</tbody></table>`
  return {
    to,
    subject: `Your ${year} statement from ${issuer.legalName}`,
    text: `${text.join('\n\n')}\n`,
    html: mailHtml(paragraphsHtml(intro) + table + paragraphsHtml([totalsText, ...outro])),
  }
}
