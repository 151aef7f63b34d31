// Hosted checkout and portal pages: server-rendered HTML with plain forms (no JavaScript, no external
// resources), so they work in any browser and in tests through fetch.
import { Hono, type Context } from 'hono'
import type { ApiDeps } from './api-context'
import { StripeApiError } from './form'
import { formatMoney } from '../../util/money'
import type { CheckoutSession, Price, Subscription } from './types'

const BANNER = 'TEST MODE — local Stripe stand-in, no real money moves'

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!)

/** Minor units in the currency's own decimals, as Stripe counts them: 1000 JPY is ¥1,000 (src/util/money.ts). */
export const formatAmount = formatMoney

const every = (price: Price) => {
  const r = price.recurring
  if (!r) return ''
  return r.interval_count === 1 ? ` / ${r.interval}` : ` every ${r.interval_count} ${r.interval}s`
}

const day = (unix: number | null) => (unix === null ? '—' : new Date(unix * 1000).toISOString().slice(0, 10))

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><title>${esc(title)} · Stripe stand-in</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;color:#1a1a1a;background:#f6f8fa}
.banner{background:#ffd33d;color:#1a1a1a;font-weight:700;text-align:center;padding:.6rem 1rem}
main{max-width:40rem;margin:2rem auto;background:#fff;padding:1.5rem 2rem;border-radius:8px;box-shadow:0 1px 3px #0002}
table{width:100%;border-collapse:collapse}td,th{padding:.4rem 0;text-align:left;border-bottom:1px solid #eee}
.notice{padding:.75rem 1rem;border-radius:6px;background:#fff4e5;border:1px solid #f0b36b}
.sub{border:1px solid #ddd;border-radius:6px;padding:1rem;margin:1rem 0}
form.inline{display:inline-block;margin:.25rem .25rem 0 0}button{padding:.45rem .9rem;cursor:pointer}
label{display:block;margin:.75rem 0}input[type=email]{width:100%;padding:.4rem;box-sizing:border-box}
</style></head>
<body><div class="banner" role="status">${esc(BANNER)}</div><main>${body}</main></body></html>`
}

function messagePage(
  c: Context,
  title: string,
  message: string,
  status: 200 | 400 | 404 = 200,
  link?: { href: string; label: string },
) {
  const back = link ? `<p><a href="${esc(link.href)}">${esc(link.label)}</a></p>` : ''
  return c.html(layout(title, `<h1>${esc(title)}</h1><p class="notice">${esc(message)}</p>${back}`), status)
}

export function pageRoutes({ store, lifecycle, checkout, events }: ApiDeps) {
  const app = new Hono()

  /** Runs a lifecycle step, then waits until its webhooks have gone out, so the next page sees their effect. */
  const step = async (fn: () => unknown) => {
    fn()
    await events.idle()
  }

  const checkoutPage = (c: Context, session: CheckoutSession, declined: boolean) => {
    const lines = store.sessionState.get(session.id)!.lineItems
    const rows = lines
      .map((li) => {
        const name = store.products.get(li.price.product)?.name ?? 'Item'
        const qty = li.quantity > 1 ? ` × ${li.quantity}` : ''
        return `<tr><td>${esc(name)}${qty}</td><td>${esc(formatAmount(li.amount_total, li.currency) + every(li.price))}</td></tr>`
      })
      .join('')
    const total = formatAmount(session.amount_total ?? 0, session.currency ?? 'usd')
    const heading = session.mode === 'payment' ? (session.submit_type === 'donate' ? 'Donate' : 'Pay') : 'Subscribe'
    const askEmail = !session.customer && !session.customer_email
    const base = `/checkout/${esc(session.id)}`
    const body = `<h1>${heading}</h1>
${declined ? '<p class="notice" role="alert">Your card was declined (simulated). Try again or cancel.</p>' : ''}
<table><tbody>${rows}</tbody><tfoot><tr><th>Total</th><th>${esc(total)}</th></tr></tfoot></table>
<form method="post" action="${base}/pay">
${askEmail ? '<label>E-mail <input type="email" name="email" required autocomplete="email"></label>' : `<p>Paying as ${esc(session.customer_email ?? 'the existing customer')}</p>`}
${session.mode === 'payment' ? '<label><input type="checkbox" name="bank_transfer" value="1"> Bank transfer (settles later)</label>' : ''}
<button type="submit">Pay ${esc(total)}</button>
${session.mode === 'subscription' ? `<button type="submit" formaction="${base}/decline" formnovalidate>Card declined</button>` : ''}
</form>
<form method="post" action="${base}/cancel" class="inline"><button type="submit">Cancel</button></form>`
    return c.html(layout(`${heading} · checkout`, body))
  }

  const openSession = (c: Context) => {
    const session = store.sessions.get(c.req.param('id') ?? '')
    if (!session) return { error: messagePage(c, 'Unknown checkout session', 'No such checkout session.', 404) }
    if (session.status === 'expired') {
      const link = session.cancel_url ? { href: session.cancel_url, label: 'Back to the site' } : undefined
      return {
        error: messagePage(c, 'Checkout expired', 'This checkout session has expired or was canceled.', 200, link),
      }
    }
    if (session.status === 'complete') {
      const link = session.success_url ? { href: successUrl(session), label: 'Continue' } : undefined
      return { error: messagePage(c, 'Checkout complete', 'This checkout session is already complete.', 200, link) }
    }
    return { session }
  }

  app.get('/checkout/:id', (c) => {
    const { session, error } = openSession(c)
    return error ?? checkoutPage(c, session, c.req.query('declined') === '1')
  })

  app.post('/checkout/:id/pay', async (c) => {
    const { session, error } = openSession(c)
    if (error) return error
    const form = await c.req.parseBody()
    const email = typeof form.email === 'string' ? form.email.trim() : ''
    if (!session.customer && !session.customer_email && !/^[^@\s]+@[^@\s]+$/.test(email)) {
      return messagePage(c, 'E-mail needed', 'Enter a valid e-mail address to pay.', 400, {
        href: `/checkout/${session.id}`,
        label: 'Back',
      })
    }
    await step(() =>
      checkout.completeCheckout(session.id, { email: email || undefined, asyncPayment: form.bank_transfer === '1' }),
    )
    if (!session.success_url) return messagePage(c, 'Payment complete', 'Thank you. You can close this page.')
    return c.redirect(successUrl(session), 303)
  })

  app.post('/checkout/:id/decline', async (c) => {
    const { session, error } = openSession(c)
    if (error) return error
    const form = await c.req.parseBody()
    const email = typeof form.email === 'string' && form.email.trim() ? form.email.trim() : undefined
    await step(() => checkout.completeCheckout(session.id, { email, declineCard: true }))
    return c.redirect(`/checkout/${session.id}?declined=1`, 303)
  })

  app.post('/checkout/:id/cancel', async (c) => {
    const { session, error } = openSession(c)
    if (error) return error
    await step(() => checkout.expireCheckout(session.id))
    if (!session.cancel_url) return messagePage(c, 'Checkout canceled', 'Nothing was charged.')
    return c.redirect(session.cancel_url, 303)
  })

  // Portal
  const portalPage = (c: Context, portalId: string) => {
    const portal = store.portalSessions.get(portalId)
    if (!portal) return messagePage(c, 'Unknown portal session', 'No such billing portal session.', 404)
    const subs = [...store.subscriptions.values()].filter((s) => s.customer === portal.customer).reverse()
    const list = subs.map((s) => subscriptionCard(portalId, s)).join('') || '<p>No subscriptions.</p>'
    const back = portal.return_url ? `<p><a href="${esc(portal.return_url)}">Return</a></p>` : ''
    return c.html(layout('Billing portal', `<h1>Billing portal</h1>${list}${back}`))
  }

  const subscriptionCard = (portalId: string, s: Subscription) => {
    const item = s.items.data[0]!
    const name = store.products.get(item.price.product)?.name ?? 'Subscription'
    const price =
      formatAmount((item.price.unit_amount ?? 0) * (item.quantity ?? 1), item.price.currency) + every(item.price)
    const button = (action: string, label: string) =>
      `<form method="post" action="/portal/${esc(portalId)}/subscriptions/${esc(s.id)}/${action}" class="inline"><button type="submit">${label}</button></form>`
    const live = s.status !== 'canceled' && s.status !== 'incomplete_expired'
    const buttons = live
      ? [
          s.cancel_at_period_end ? button('resume', 'Resume subscription') : button('cancel', 'Cancel at period end'),
          button('fail', 'Simulate failed renewal payment'),
          button('recover', 'Simulate recovered payment'),
          button('renew', 'Renew now'),
          button('end', 'End subscription now'),
        ].join('')
      : ''
    const ending = s.cancel_at_period_end ? `<p>Cancels on ${day(s.cancel_at)}</p>` : ''
    return `<section class="sub"><h2>${esc(name)} — ${esc(price)}</h2>
<p>Status: <strong>${esc(s.status)}</strong> · current period ends ${day(item.current_period_end)}${s.ended_at ? ` · ended ${day(s.ended_at)}` : ''}</p>${ending}${buttons}</section>`
  }

  app.get('/portal/:id', (c) => portalPage(c, c.req.param('id')))

  const ACTIONS: Record<string, (id: string) => void> = {
    cancel: (id) => lifecycle.setCancelAtPeriodEnd(id, true),
    resume: (id) => lifecycle.setCancelAtPeriodEnd(id, false),
    fail: (id) => lifecycle.failPayment(id),
    recover: (id) => lifecycle.recoverPayment(id),
    renew: (id) => lifecycle.renew(id),
    end: (id) => lifecycle.endSubscription(id),
  }

  app.post('/portal/:id/subscriptions/:sub/:action', async (c) => {
    const { id, sub, action } = c.req.param()
    const portal = store.portalSessions.get(id)
    const subscription = store.subscriptions.get(sub)
    const run = ACTIONS[action]
    if (!portal || !subscription || subscription.customer !== portal.customer || !run) {
      return messagePage(c, 'Not found', 'No such subscription in this portal session.', 404)
    }
    try {
      await step(() => run(sub))
    } catch (err) {
      if (!(err instanceof StripeApiError)) throw err
      return messagePage(c, 'Could not do that', err.message, 400, {
        href: `/portal/${id}`,
        label: 'Back to the portal',
      })
    }
    return c.redirect(`/portal/${id}`, 303)
  })

  return app
}

/** Stripe fills the `{CHECKOUT_SESSION_ID}` template in success_url when it redirects. */
export function successUrl(session: CheckoutSession): string {
  return (session.success_url ?? '').replaceAll('{CHECKOUT_SESSION_ID}', session.id)
}
