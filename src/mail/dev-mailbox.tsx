import { Hono, type Context } from 'hono'
import { createMiddleware } from 'hono/factory'
import { AppError } from '../http/errors'
import type { AppEnv } from '../services'
import { page } from '../ui/layout'
import { listDevMailbox } from './mailer'

/** Development only: these routes do not exist in production, or when a real provider sends the mail. */
const developmentOnly = createMiddleware<AppEnv>(async (c, next) => {
  const { config } = c.var.services
  if (config.APP_ENV === 'production' || config.RESEND_API_KEY) {
    throw new AppError('not_found', `There is nothing at ${c.req.path}.`)
  }
  await next()
})

const LINK = /https?:\/\/[^\s<>"]+/g

/**
 * GET /dev/mailbox (a page) and /dev/mailbox.json: mail that would have been
 * sent, newest first; `?to=<address>` keeps the mail to one address.
 */
export const devMailbox = new Hono<AppEnv>().use(developmentOnly)

const listed = async (c: Context<AppEnv>) => {
  const to = c.req.query('to')
  return listDevMailbox(c.var.services.db, await c.var.services.keyring, to ? { to } : {})
}

devMailbox.get('/mailbox.json', async (c) => {
  c.header('Cache-Control', 'no-store')
  return c.json({ messages: await listed(c) })
})

devMailbox.get('/mailbox', async (c) => {
  c.header('Cache-Control', 'no-store')
  const messages = await listed(c)
  return page(
    c,
    'Development mailbox',
    <>
      <h1>Development mailbox</h1>
      <p class="muted">Mail that would have been sent, newest first. This page does not exist in production.</p>
      {messages.length === 0 ? <p>No mail yet.</p> : null}
      {messages.map((m) => (
        <article>
          <h2>{m.subject}</h2>
          <p class="muted">
            To {m.to} · <time datetime={m.createdAt.toISOString()}>{m.createdAt.toISOString()}</time>
          </p>
          <pre>{m.text}</pre>
          {(m.text.match(LINK) ?? []).map((href) => (
            <p>
              <a href={href}>Open link</a>
            </p>
          ))}
        </article>
      ))}
    </>,
  )
})
