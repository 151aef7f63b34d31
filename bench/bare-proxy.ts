/**
 * The fair limits beside Masthead's gateway (bench/gateway.bench.ts): a bare `hono/proxy` in front of
 * ORIGIN_URL, no headers added, no cookies read, no middleware. With BARE_PROXY_HANDLERS set, the same
 * proxy runs the HTMLRewriter handlers Masthead runs on the demo article for that reader (src/gateway/rewrite.ts):
 * the same selectors, the same removals and replacements with the same markup, and nothing else, so
 * the rewriter's own cost can be told apart from Masthead's.
 *   ORIGIN_URL           required
 *   BARE_PROXY_PORT      default 8789
 *   BARE_PROXY_HANDLERS  none (default), anonymous or supporter
 */
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { proxy } from 'hono/proxy'
import { HTMLRewriter } from 'htmlrewriter'
import {
  ACCOUNT,
  AD,
  accountLinks,
  callToAction,
  GATED,
  ORIGIN_JSON_LD,
  PAYWALL_JSON_LD,
  SUPPORT_PROMPT,
} from '../src/gateway/markers'

type Rewriter = InstanceType<typeof HTMLRewriter>
type Handlers = Parameters<Rewriter['on']>[1]

const origin = process.env.ORIGIN_URL
if (!origin) throw new Error('bare-proxy needs ORIGIN_URL')
const port = Number(process.env.BARE_PROXY_PORT ?? 8789)
const reader = process.env.BARE_PROXY_HANDLERS ?? 'none'
if (!['none', 'anonymous', 'supporter'].includes(reader)) throw new Error(`unknown BARE_PROXY_HANDLERS ${reader}`)

// Masthead's markup for this reader, built once: what it decides per request is not the rewriter's cost.
const links = { base: '/members', publication: 'Masthead' }
const gate = callToAction('join', links)
const account = reader === 'supporter' ? accountLinks(true, false, links) : accountLinks(false, true, links)
const remove: Handlers = { element: (element) => void element.remove() }

/** The handlers Masthead registers for this reader on a gated page with no AD_SELECTORS. */
function rewriter(): Rewriter {
  const r = new HTMLRewriter()
  if (reader === 'supporter') {
    r.on(GATED, { element: (element) => void element.setAttribute('data-masthead-gated', '') })
    r.on(AD, remove)
    r.on(SUPPORT_PROMPT, remove)
  } else {
    r.on(GATED, { element: (element) => void element.replace(gate, { html: true }) })
  }
  r.on(ACCOUNT, { element: (element) => void element.setInnerContent(account, { html: true }) })
  r.on(ORIGIN_JSON_LD, remove)
  r.on('body', {
    element: (element) => element.onEndTag((end) => void end.before(PAYWALL_JSON_LD, { html: true })),
  })
  // Masthead's end-of-document handler gives back held JSON-LD on pages that are not gated; this one is.
  r.onDocument({ end: () => {} })
  return r
}

const app = new Hono()
app.all('*', async (c) => {
  const url = new URL(c.req.url)
  const response = await proxy(`${origin}${url.pathname}${url.search}`, { raw: c.req.raw })
  if (reader === 'none' || !response.headers.get('content-type')?.startsWith('text/html')) return response
  const rewritten = rewriter().transform(response)
  const headers = new Headers(rewritten.headers)
  headers.delete('content-length')
  return new Response(rewritten.body, { status: response.status, headers })
})

serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, (info) => {
  console.log(`The bare proxy is serving http://127.0.0.1:${info.port} (handlers: ${reader}) in front of ${origin}`)
})
