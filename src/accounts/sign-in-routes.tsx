import { Hono } from 'hono'
import * as z from 'zod'
import { clearViewCookie } from '../entitlements/page-view'
import { wantsJson } from '../http/doors'
import { AppError } from '../http/errors'
import { clientIp } from '../http/client-ip'
import { answerFormError } from '../http/forms'
import { requireRole } from '../http/guards'
import { emailField, fieldErrors, readBody, typed, validationError } from '../http/input'
import { describeError, log } from '../http/log'
import { pathTo } from '../http/paths'
import type { AppEnv } from '../services'
import { homePath } from '../ui/paths'
import { CheckMail, ConfirmLink, LinkProblem, SignInForm } from './sign-in-pages'
import { page } from '../ui/layout'
import { consumeEmailToken, peekEmailToken } from './email-tokens'
import { safeNextPath, sendEmailLink } from './links'
import { emailChangedNotice, signInMessage } from './messages'
import { hitRateLimit } from './rate-limit'
import {
  clearSessionCookie,
  cookieIsSecure,
  createSession,
  invalidateSession,
  invalidateUserSessions,
  setSessionCookie,
} from './sessions'
import { changeEmail, pushEmailToStripe, signInUser } from './users'

const signInInput = z.object({ email: emailField, next: z.string().optional() })
const tokenInput = z.object({ token: z.string({ error: 'The link is incomplete.' }).min(10).max(200) })

/**
 * Signing in and out by e-mailed link, under /auth. Forms post here and API
 * clients too: app.ts mounts it for either, so answers follow the request.
 */
export const signIn = new Hono<AppEnv>()

signIn.get('/sign-in', (c) => {
  const next = c.req.query('next')
  const reason = c.req.query('reason')
  return page(
    c,
    'Sign in',
    <SignInForm next={next ? safeNextPath(next, pathTo(c, '/account')) : undefined} reason={reason} />,
  )
})

/** The same answer whether or not the address has an account: nobody can learn who reads here. */
signIn.post('/sign-in', async (c) => {
  const { services } = c.var
  const body = await readBody(c)
  const parsed = signInInput.safeParse(body)
  if (!parsed.success) {
    const next = typeof body.next === 'string' ? safeNextPath(body.next, pathTo(c, '/account')) : undefined
    return answerFormError(c, fieldErrors(parsed.error), (errors, status) =>
      page(c, 'Sign in', <SignInForm email={typed(body.email)} next={next} error={errors.email} />, status),
    )
  }
  const { email } = parsed.data
  const now = services.clock.now()
  const keyring = await services.keyring
  const rule = { limit: services.config.SIGN_IN_LIMIT, windowMs: services.config.SIGN_IN_WINDOW_MINUTES * 60_000 }
  await hitRateLimit(services.db, keyring, now, { scope: 'sign-in:ip', subject: clientIp(c), ...rule })
  await hitRateLimit(services.db, keyring, now, { scope: 'sign-in:email', subject: email, ...rule })

  const nextPath = safeNextPath(parsed.data.next, pathTo(c, '/account'))
  await sendEmailLink(services, c.get('requestId'), { purpose: 'sign_in', email, nextPath }, (link) =>
    signInMessage(email, services.config.PUBLICATION_NAME, link),
  )
  if (wantsJson(c)) {
    return c.json({ ok: true, message: 'If that address can receive e-mail, a sign-in link is on its way.' }, 202)
  }
  return page(c, 'Check your e-mail', <CheckMail />)
})

/** Opening the link only shows a button; mail scanners that fetch it use nothing up. */
signIn.get('/verify', async (c) => {
  c.header('Cache-Control', 'no-store')
  const { db, clock } = c.var.services
  try {
    const token = await peekEmailToken(db, clock.now(), c.req.query('token') ?? '')
    return page(c, 'Confirm', <ConfirmLink token={c.req.query('token') ?? ''} purpose={token.purpose} />)
  } catch (error) {
    if (error instanceof AppError && !wantsJson(c)) {
      return page(c, 'Link problem', <LinkProblem message={error.message} />, error.status)
    }
    throw error
  }
})

signIn.post('/verify', async (c) => {
  c.header('Cache-Control', 'no-store')
  const { services } = c.var
  const { db, config, clock } = services
  const parsed = tokenInput.safeParse(await readBody(c))
  if (!parsed.success) throw validationError(fieldErrors(parsed.error))
  const now = clock.now()
  const keyring = await services.keyring
  try {
    // One transaction: the token is used up only if the sign-in or change completes.
    const outcome = await db.transaction(async (tx) => {
      const token = await consumeEmailToken(tx, keyring, now, parsed.data.token)
      if (token.purpose === 'sign_in') {
        const user = await signInUser(tx, keyring, config, now, token.email)
        const session = await createSession(tx, config, user.id)
        const next = safeNextPath(token.nextPath, pathTo(c, '/account'))
        return { kind: 'signed_in' as const, user, email: token.email, session, next }
      }
      const change = await changeEmail(tx, keyring, now, token.userId, token.email)
      return { kind: 'email_changed' as const, ...change }
    })

    if (outcome.kind === 'signed_in') {
      setSessionCookie(c, db, config, outcome.session.token)
      const { id, role } = outcome.user
      // The address the link proved, as the account holds it (the row has it encrypted).
      if (wantsJson(c)) return c.json({ user: { id, email: outcome.email, role } })
      return c.redirect(outcome.next, 303)
    }
    if (services.stripe) {
      await pushEmailToStripe(db, services.stripe, outcome.userId, outcome.email, (error) =>
        log('warn', 'stripe_customer_email_not_updated', { requestId: c.get('requestId'), ...describeError(error) }),
      )
    }
    // Tell the old address, so a hijacked account does not change hands silently.
    await services.mailer
      .send(emailChangedNotice(outcome.previousEmail, config.PUBLICATION_NAME))
      .catch((error) => log('warn', 'mail_send_failed', { requestId: c.get('requestId'), ...describeError(error) }))
    if (wantsJson(c)) return c.json({ ok: true, email: outcome.email })
    return c.redirect(pathTo(c, '/account?notice=email-changed'), 303)
  } catch (error) {
    if (error instanceof AppError && error.code === 'invalid_token' && !wantsJson(c)) {
      return page(c, 'Link problem', <LinkProblem message={error.message} />, error.status)
    }
    throw error
  }
})

signIn.post('/sign-out', async (c) => {
  const { db, config } = c.var.services
  const session = c.var.session
  if (session) await invalidateSession(db, config, session.id)
  clearSessionCookie(c, db, config)
  clearViewCookie(c, cookieIsSecure(config))
  if (wantsJson(c)) return c.json({ ok: true })
  return c.redirect(homePath(config), 303)
})

// The one route here that needs an account.
signIn.post('/sign-out-everywhere', requireRole('reader'), async (c) => {
  const { db, config } = c.var.services
  await invalidateUserSessions(db, config, c.var.user!.id)
  clearSessionCookie(c, db, config)
  clearViewCookie(c, cookieIsSecure(config))
  if (wantsJson(c)) return c.json({ ok: true })
  return c.redirect(homePath(config), 303)
})
