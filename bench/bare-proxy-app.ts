/**
 * The fair limits beside Masthead's gateway (bench/gateway.bench.ts), one app for both runtimes: a bare
 * `hono/proxy` in front of the origin, no headers added, no cookies read, no middleware. With handlers
 * other than 'none', the same proxy runs the HTMLRewriter handlers Masthead runs on the demo article for
 * that reader (src/gateway/rewrite.ts): the same selectors, the same removals and replacements with the
 * same markup, and nothing else, so the rewriter's own cost can be told apart from Masthead's. The
 * HTMLRewriter is Masthead's (`#html-rewriter`): on Node, lol-html in WebAssembly (the `htmlrewriter`
 * package's build) behind src/gateway/html-rewriter.ts; in workerd, the runtime's own.
 */
import { Hono } from 'hono'
import { proxy } from 'hono/proxy'
import { HTMLRewriter } from '#html-rewriter'
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

export const HANDLERS = ['none', 'anonymous', 'supporter'] as const
export type Reader = (typeof HANDLERS)[number]

export function isReader(value: string): value is Reader {
  return (HANDLERS as readonly string[]).includes(value)
}

export function bareProxyApp(origin: string, reader: Reader): Hono {
  // Masthead's markup for this reader, built once: what it decides per request is not the rewriter's cost.
  const links = { base: '/members', publication: 'Masthead' }
  const gate = callToAction('join', links)
  const account = reader === 'supporter' ? accountLinks(true, false, links) : accountLinks(false, true, links)
  const remove: Handlers = { element: (element) => void element.remove() }

  /** The handlers Masthead registers for this reader on a gated page with no AD_SELECTORS. */
  const rewriter = (): Rewriter => {
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
  return app
}
