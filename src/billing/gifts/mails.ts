import type { MailMessage } from '../../mail/mailer'
import { escapeHtml as escape } from '../../util/html'
import { formatMoney } from '../../util/money'

const day = (d: Date) => d.toISOString().slice(0, 10)
const plural = (months: number) => `${months} months`

function mail(
  to: string,
  subject: string,
  paragraphs: string[],
  link?: { url: string; label: string; lead: string },
): MailMessage {
  const text = [...paragraphs, ...(link ? [`${link.lead}: ${link.url}`] : [])].join('\n\n')
  const html = `<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">${paragraphs
    .map((p) => `<p>${escape(p).replaceAll('\n', '<br>')}</p>`)
    .join('')}${link ? `<p><a href="${escape(link.url)}">${escape(link.label)}</a></p>` : ''}</body></html>`
  return { to, subject, text: `${text}\n`, html }
}

/** The giver's receipt, once the checkout is paid. */
export function giftReceiptMessage(
  to: string,
  publication: string,
  gift: { tierName: string | null; months: number; amount: number; currency: string; deliverAt: Date; to: string },
): MailMessage {
  return mail(to, `Your receipt: a gift membership of ${publication}`, [
    `Thank you for giving ${plural(gift.months)} of ${gift.tierName ?? 'membership'} at ${publication}.`,
    `Paid: ${formatMoney(gift.amount, gift.currency)}, once. The gift does not renew.`,
    `We will e-mail ${gift.to} on ${day(gift.deliverAt)} with a link that starts it. If they already pay for a membership, the gift starts when that ends, and we will tell you when.`,
  ])
}

/** The recipient's e-mail on the delivery day, with the link that signs them in and starts the gift. */
export function giftDeliveryMessage(
  to: string,
  publication: string,
  gift: { tierName: string | null; months: number; from: string | null; message: string | null; link: string },
): MailMessage {
  const who = gift.from ?? 'Someone'
  return mail(
    to,
    `${who} gave you a membership of ${publication}`,
    [
      `${who} gave you ${plural(gift.months)} of ${gift.tierName ?? 'membership'} at ${publication}.`,
      ...(gift.message ? [`Their message:\n${gift.message}`] : []),
      'Follow the link to sign in and start your gift. It ends by itself: nothing renews and nothing is charged to you.',
    ],
    { url: gift.link, label: 'Start your gift', lead: 'Start your gift' },
  )
}

/** Told to the giver when the recipient already pays, so the gift waits for their paid period to end. */
export function giftStartsLaterMessage(
  to: string,
  publication: string,
  gift: { tierName: string | null; months: number; startsAt: Date },
): MailMessage {
  return mail(to, `Your gift membership of ${publication} will start on ${day(gift.startsAt)}`, [
    `The person you gave ${plural(gift.months)} of ${gift.tierName ?? 'membership'} to has accepted it.`,
    `They already pay for a membership, so your gift adds to it rather than overlapping: it starts on ${day(gift.startsAt)}, when the period they have paid for ends (later, if they renew before then), and runs for ${plural(gift.months)} from that day.`,
  ])
}
