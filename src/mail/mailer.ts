import { desc, inArray } from 'drizzle-orm'
import type { Config } from '../config'
import { fixedStatement, type Database } from '../db/client'
import { devMailbox } from '../db/schema'
import { addressIndex, addressIndexes } from '../privacy/blind-index'
import { decrypt, encrypt } from '../privacy/cipher'
import { keyringOf, type Keyring } from '../privacy/keys'
import { printLine } from '../http/log'
import { CONTEXT } from '../privacy/people'
import type { Clock } from '../services'

export interface MailMessage {
  to: string
  subject: string
  text: string
  html: string
  /** Extra headers, such as List-Unsubscribe (sent by the mail provider; the development mailbox keeps none). */
  headers?: Record<string, string>
}

export interface Mailer {
  /** Sends one message; throws MailError when it could not be handed over. */
  send(message: MailMessage): Promise<void>
}

/** The provider refused or could not be reached. Its message never holds the address. */
export class MailError extends Error {
  override name = 'MailError'
}

/** The data keys, as the mailer reads them from the config. */
type DataKeys = Pick<Config, 'DATA_ENCRYPTION_KEY' | 'DATA_ENCRYPTION_KEYS_OLD'>

/**
 * Development: nothing leaves the machine. Messages are kept in the database,
 * the recipient encrypted as every stored address is (with its index, so that
 * deleting an account finds its mail), and listed at /dev/mailbox (under
 * MASTHEAD_PATH). The console gets one line naming the subject and where to
 * read it: never the recipient, and never the text, whose links carry tokens
 * that sign in or change an address.
 */
export function createDevMailer(db: Database, clock: Clock, keys: DataKeys, mailboxPath = '/dev/mailbox'): Mailer {
  return {
    async send(message) {
      const keyring = await keyringOf(keys)
      const [to, toIndex] = await Promise.all([
        encrypt(keyring, message.to, CONTEXT.mailTo),
        addressIndex(keyring, message.to),
      ])
      await keepMail(db, [to, toIndex, message.subject, message.text, message.html, clock.now().toISOString()])
      // Development only (production requires a mail provider): tells the developer where to read it, through
      // the log's writer (in order with the log, and in its batches on the Node server).
      printLine(`mail (development): "${message.subject}", kept at ${mailboxPath}`)
    },
  }
}

/** Fixed text (`fixedStatement`): nothing built per message. */
const keepMail = fixedStatement(
  `insert into dev_mailbox ("to", to_index, subject, text, html, created_at)
    values ($1::text, $2::text, $3::text, $4::text, $5::text, $6::timestamptz)`,
)

/** The newest mail, to one address when `to` is given (found by its index), recipients decrypted. */
export async function listDevMailbox(db: Database, keyring: Keyring, options: { to?: string; limit?: number } = {}) {
  const rows = await db
    .select({
      id: devMailbox.id,
      to: devMailbox.to,
      subject: devMailbox.subject,
      text: devMailbox.text,
      html: devMailbox.html,
      createdAt: devMailbox.createdAt,
    })
    .from(devMailbox)
    .where(
      options.to === undefined ? undefined : inArray(devMailbox.toIndex, await addressIndexes(keyring, options.to)),
    )
    .orderBy(desc(devMailbox.id))
    .limit(options.limit ?? 50)
  return Promise.all(rows.map(async (row) => ({ ...row, to: await decrypt(keyring, row.to, CONTEXT.mailTo) })))
}

/** Production: Resend's HTTP API, which works from Workers and Node alike. */
export function createResendMailer(options: { apiKey: string; from: string; fetch: typeof fetch }): Mailer {
  return {
    async send(message) {
      let response: Response
      try {
        response = await options.fetch('https://api.resend.com/emails', {
          method: 'POST',
          headers: { Authorization: `Bearer ${options.apiKey}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ from: options.from, to: [message.to], ...pick(message) }),
        })
      } catch (error) {
        throw new MailError(`Resend could not be reached: ${error instanceof Error ? error.name : 'unknown error'}`)
      }
      if (!response.ok) {
        // Resend's error body can echo the recipient; keep only the status.
        throw new MailError(`Resend answered ${response.status}`)
      }
    },
  }
}

const pick = ({ subject, text, html, headers }: MailMessage) => ({
  subject,
  text,
  html,
  ...(headers ? { headers } : {}),
})

/** The development mailbox unless a provider is configured (config requires one in production). */
export function createMailer(config: Config, db: Database, clock: Clock, fetchFn: typeof fetch): Mailer {
  if (config.RESEND_API_KEY && config.MAIL_FROM) {
    return createResendMailer({ apiKey: config.RESEND_API_KEY, from: config.MAIL_FROM, fetch: fetchFn })
  }
  return createDevMailer(db, clock, config, `${config.MASTHEAD_PATH}/dev/mailbox`)
}
