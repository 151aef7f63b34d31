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
