import { desc } from 'drizzle-orm'
import type { Config } from '../config'
import type { Database } from '../db/client'
import { devMailbox } from '../db/schema'
import type { Clock } from '../services'

export interface MailMessage {
  to: string
  subject: string
  text: string
  html: string
}

export interface Mailer {
  /** Sends one message; throws MailError when it could not be handed over. */
  send(message: MailMessage): Promise<void>
}

/** The provider refused or could not be reached. Its message never holds the address. */
export class MailError extends Error {
  override name = 'MailError'
}

/**
 * Development: nothing leaves the machine. Messages are kept in the database
 * and listed at /dev/mailbox (under MASTHEAD_PATH). The console gets one line
 * naming the subject and where to read it: never the recipient, and never the
 * text, whose links carry tokens that sign in or change an address.
 */
export function createDevMailer(db: Database, clock: Clock, mailboxPath = '/dev/mailbox'): Mailer {
  return {
    async send(message) {
      await db.insert(devMailbox).values({ ...message, createdAt: clock.now() })
      // Development only (production requires a mail provider): tells the developer where to read it.
      // eslint-disable-next-line no-console
      console.log(`mail (development): "${message.subject}", kept at ${mailboxPath}`)
    },
  }
}

export async function listDevMailbox(db: Database, limit = 50) {
  return db.select().from(devMailbox).orderBy(desc(devMailbox.id)).limit(limit)
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

const pick = ({ subject, text, html }: MailMessage) => ({ subject, text, html })

/** The development mailbox unless a provider is configured (config requires one in production). */
export function createMailer(config: Config, db: Database, clock: Clock, fetchFn: typeof fetch): Mailer {
  if (config.RESEND_API_KEY && config.MAIL_FROM) {
    return createResendMailer({ apiKey: config.RESEND_API_KEY, from: config.MAIL_FROM, fetch: fetchFn })
  }
  return createDevMailer(db, clock, `${config.MASTHEAD_PATH}/dev/mailbox`)
}
