import type { MailMessage } from '../mail/mailer'
import { escapeHtml as escape } from '../util/html'

/**
 * Sent once per failed renewal while Stripe retries the card. `account` is the
 * account page's absolute URL, base path included (absoluteUrl(config, '/account')).
 */
export function paymentFailedMessage(to: string, publication: string, account: string): MailMessage {
  const lines = [
    `We could not take your latest membership payment to ${publication}.`,
    'Your benefits continue for now, and your card will be tried again over the next few days.',
    `To update your card, open your account and choose "Manage billing": ${account}`,
  ]
  return {
    to,
    subject: `Your ${publication} membership payment did not go through`,
    text: `${lines.join('\n\n')}\n`,
    html: `<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">${lines
      .slice(0, 2)
      .map((l) => `<p>${escape(l)}</p>`)
      .join('')}<p><a href="${escape(account)}">Update your card</a></p></body></html>`,
  }
}

/**
 * Sent once when a second membership bought for the member's address (a
 * signed-out checkout, which answers the same for every address) has been
 * cancelled and refunded. Says nothing about who paid: Masthead does not know.
 */
export function duplicateRefundedMessage(
  to: string,
  publication: string,
  details: { refunded: string | null; account: string },
): MailMessage {
  const lines = [
    `A second membership of ${publication} was just paid for with this e-mail address, which already has one.`,
    details.refunded
      ? `Your membership continues as it was. We have cancelled the second one and refunded its payment of ${details.refunded} in full; a refund reaches the card it was paid with within 5 to 10 business days.`
      : 'Your membership continues as it was. We have cancelled the second one.',
    `To change your membership instead, sign in, open your account and choose "Manage billing": ${details.account}`,
  ]
  return {
    to,
    subject: `Your ${publication} membership continues: the second one was refunded`,
    text: `${lines.join('\n\n')}\n`,
    html: `<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">${lines
      .slice(0, 2)
      .map((l) => `<p>${escape(l)}</p>`)
      .join('')}<p><a href="${escape(details.account)}">Your account</a></p></body></html>`,
  }
}
