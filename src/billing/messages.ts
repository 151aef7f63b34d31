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

/** What a welcome says, the same on the thanks page (thanks-page.tsx) and in the e-mail. */
export interface WelcomeDetails {
  /** "your Reader membership", "your monthly gift of $10.00". */
  what: string
  /** Plain words from the tier's benefits, and the admin's description. */
  benefits: string[]
  description: string
  trialDays: number
  /** Absolute URLs: the sign-in page and the account page (where billing is managed). */
  signIn: string
  account: string
}

/** The welcome lines, shared by the e-mail and the thanks page. */
export function welcomeLines(
  publication: string,
  details: WelcomeDetails,
): { intro: string; gives: string[]; rest: string[] } {
  return {
    intro:
      details.trialDays > 0
        ? `Welcome to ${publication}. Your ${details.trialDays}-day free trial of ${details.what} has begun; the first payment is taken when it ends, unless you cancel before.`
        : `Welcome to ${publication}, and thank you: ${details.what} has begun.`,
    gives: [...details.benefits, ...(details.description ? [details.description] : [])],
    rest: [
      `To sign in, open ${details.signIn} and enter this e-mail address: we e-mail you a link that signs you in. There is no password.`,
      `To change your card, your plan, or to cancel, sign in, open your account and choose "Manage billing": ${details.account}`,
    ],
  }
}

/** Sent once per membership, after its first payment (welcome.ts). */
export function welcomeMessage(to: string, publication: string, details: WelcomeDetails): MailMessage {
  const { intro, gives, rest } = welcomeLines(publication, details)
  const list = gives.length ? ['What it gives you:', ...gives.map((g) => `- ${g}`)].join('\n') : ''
  return {
    to,
    subject: `Welcome to ${publication}`,
    text: `${[intro, list, ...rest].filter(Boolean).join('\n\n')}\n`,
    html: `<!doctype html><html><body style="font-family:sans-serif;line-height:1.5"><p>${escape(intro)}</p>${
      gives.length ? `<p>What it gives you:</p><ul>${gives.map((g) => `<li>${escape(g)}</li>`).join('')}</ul>` : ''
    }<p>To sign in, open <a href="${escape(details.signIn)}">the sign-in page</a> and enter this e-mail address: we e-mail you a link that signs you in. There is no password.</p><p>To change your card, your plan, or to cancel, sign in, open <a href="${escape(
      details.account,
    )}">your account</a> and choose "Manage billing".</p></body></html>`,
  }
}
