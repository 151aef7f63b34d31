import type { MailMessage } from '../mail/mailer'
import { escapeHtml as escape } from '../util/html'

/** E-mails about accounts: plain text first, with a simple HTML twin. */

function message(
  to: string,
  subject: string,
  paragraphs: string[],
  link?: { href: string; label: string },
): MailMessage {
  const text = [...paragraphs.slice(0, 1), ...(link ? [link.href] : []), ...paragraphs.slice(1)].join('\n\n')
  const button = link ? `<p><a href="${escape(link.href)}">${escape(link.label)}</a></p>` : ''
  const [first, ...rest] = paragraphs.map((p) => `<p>${escape(p)}</p>`)
  const html = `<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">${first ?? ''}${button}${rest.join('')}</body></html>`
  return { to, subject, text: `${text}\n`, html }
}

export function signInMessage(to: string, publication: string, link: string): MailMessage {
  return message(
    to,
    `Sign in to ${publication}`,
    [
      `Follow this link to sign in to ${publication}:`,
      'The link works once, for 15 minutes.',
      'If you did not ask to sign in, ignore this e-mail: nothing happens without the link.',
    ],
    { href: link, label: `Sign in to ${publication}` },
  )
}

export function changeEmailMessage(to: string, publication: string, link: string): MailMessage {
  return message(
    to,
    `Confirm your new e-mail address for ${publication}`,
    [
      `Follow this link to use this address for your ${publication} account:`,
      'The link works once, for 15 minutes.',
      'If you did not ask for this, ignore this e-mail and nothing changes.',
    ],
    { href: link, label: 'Confirm this address' },
  )
}

export function emailChangedNotice(to: string, publication: string): MailMessage {
  return message(to, `Your ${publication} account has a new e-mail address`, [
    `The e-mail address of your ${publication} account was just changed, and this address is no longer used to sign in.`,
    'If you did not do this, reply to this e-mail so the publication can help.',
  ])
}
