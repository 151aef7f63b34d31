import type { Context } from 'hono'

/** The one stylesheet. Served by the app itself so Workers need no asset binding. */
const STYLESHEET = `
:root { color-scheme: light dark; --fg: #1b1b1b; --bg: #fdfdfb; --muted: #5c5c5c; --accent: #0b5cad; --error: #b00020; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #ececec; --bg: #161616; --muted: #a3a3a3; --accent: #7ab7ff; --error: #ff8a8a; }
}
* { box-sizing: border-box; }
body { margin: 0; font: 1.05rem/1.55 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header.site, main { max-width: 42rem; margin: 0 auto; padding: 1rem; }
header.site { display: flex; flex-wrap: wrap; justify-content: space-between; align-items: baseline; gap: .5rem 1rem; }
header.site a { white-space: nowrap; }
header.site > a { font-weight: 700; text-decoration: none; color: var(--fg); }
header.site nav { display: flex; flex-wrap: wrap; gap: .5rem 1rem; }
form.inline { display: inline; }
section { margin: 2rem 0; }
a { color: var(--accent); }
h1 { line-height: 1.2; }
.muted { color: var(--muted); font-size: .9rem; }
label { display: block; margin: .75rem 0 .25rem; font-weight: 600; }
input, select, textarea { font: inherit; padding: .5rem; width: 100%; max-width: 28rem; }
input[type='checkbox'], input[type='radio'] { width: auto; }
button { font: inherit; padding: .5rem 1rem; cursor: pointer; }
.error { color: var(--error); }
.test-mode { margin: 0; padding: .4rem 1rem; text-align: center; font-weight: 700; background: #ffe08a; color: #1b1b1b; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #8884; }
.table-scroll { overflow-x: auto; }
/* On a phone a wide table scrolls sideways rather than wrapping every cell into a tall column. */
@media (max-width: 40rem) { .table-scroll th, .table-scroll td { white-space: nowrap; } }
main.wide, body.wide main { max-width: 64rem; }
.filters { display: flex; flex-wrap: wrap; gap: 0 1rem; align-items: end; }
.filters .filter { flex: 1 1 10rem; }
.filters .filter.wide { flex-basis: 100%; }
fieldset { border: 1px solid #8886; margin: 1rem 0; }
label.choice { font-weight: 400; display: flex; gap: .5rem; align-items: baseline; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.ad-slot { border: 1px dashed #8888; padding: .5rem 1rem; margin: 1.5rem 0; text-align: center; }
.support-prompt, .gate { border-left: 4px solid var(--accent); padding: .25rem 1rem; margin: 1.5rem 0; }
ul.articles { list-style: none; padding: 0; }
ul.articles h2 { margin-bottom: .25rem; }
ol.timeline { padding-left: 1.25rem; }
svg.trend { width: 100%; height: auto; max-width: 40rem; }
svg.trend .axis { stroke: var(--muted); }
svg.trend .series { stroke: var(--accent); stroke-width: 2; }
svg.trend .point { fill: var(--accent); }
svg.trend .label { fill: var(--muted); font-size: 12px; }
section.tier.selected { border: 2px solid var(--accent); padding: 0 1rem; }
.article-body img { max-width: 100%; height: auto; }
.article-body pre { overflow-x: auto; }
/* ---- The join page, the thanks page and the support prompts (src/billing/join-page.tsx, thanks-page.tsx): phone first.
   --brand fills (the publication's ACCENT_COLOR through /assets/theme.css, src/billing/theme.ts), --on-brand is text on it. */
:root { --brand: var(--accent); --on-brand: #fff; --card: #f1f1ec; }
@media (prefers-color-scheme: dark) { :root { --on-brand: #111; --card: #222; } }
header.site a.brand { display: inline-flex; align-items: center; gap: .5rem; }
header.site img.logo { height: 2rem; width: auto; max-width: 10rem; }
.lede { font-size: 1.15rem; }
button.primary { background: var(--brand); color: var(--on-brand); border: 0; border-radius: .5rem; font-weight: 700; padding: .75rem 1.25rem; width: 100%; }
@media (min-width: 40rem) { button.primary { width: auto; } }
.goal { margin: 1.25rem 0; }
.goal p { margin: 0 0 .35rem; }
.goal progress { display: block; width: 100%; height: .9rem; accent-color: var(--brand); }
.tier-cards { display: grid; gap: 1rem; }
@media (min-width: 48rem) { .tier-cards { grid-template-columns: repeat(auto-fit, minmax(15rem, 1fr)); } }
section.tier-card { margin: 0; padding: 1rem; border: 1px solid #8886; border-radius: .75rem; background: var(--card); }
section.tier-card.selected { border: 3px solid var(--brand); padding: calc(1rem - 2px); }
.tier-card h3 { margin: 0 0 .25rem; }
.badge { display: inline-block; margin: 0 0 .5rem; padding: .1rem .6rem; border-radius: 1rem; background: var(--brand); color: var(--on-brand); font-size: .9rem; font-weight: 700; }
.price { font-size: 1.2rem; margin: .25rem 0; }
.trial { font-weight: 700; margin: .25rem 0; }
ul.benefits { padding-left: 1.25rem; }
.switch, .frequency, .amounts { display: flex; flex-wrap: wrap; gap: .5rem; border: 0; padding: 0; margin: 1rem 0; }
.switch legend, .frequency legend, .amounts legend { font-weight: 600; padding: 0; margin-bottom: .5rem; }
.switch input, .frequency input, .amounts input { position: absolute; opacity: 0; width: 1px; height: 1px; margin: 0; }
.switch label, .frequency label, .amounts label { margin: 0; padding: .5rem 1rem; border: 2px solid var(--brand); border-radius: 2rem; cursor: pointer; min-width: 4.5rem; text-align: center; }
.switch input:checked + label, .frequency input:checked + label, .amounts input:checked + label { background: var(--brand); color: var(--on-brand); }
.switch input:focus-visible + label, .frequency input:focus-visible + label, .amounts input:focus-visible + label { outline: 3px solid var(--fg); outline-offset: 2px; }
/* The switches without a script: the prices and suggestions of the choice only (a browser without :has shows them all). */
.tiers:has(#show-yearly:checked) .per-month, .tiers:not(:has(#show-yearly:checked)) .per-year { display: none; }
.give:has(#frequency-once:checked) .amounts:not([data-frequency='once']),
.give:has(#frequency-monthly:checked) .amounts:not([data-frequency='monthly']),
.give:has(#frequency-yearly:checked) .amounts:not([data-frequency='yearly']) { display: none; }
section.give { padding: 1rem; border-radius: .75rem; background: var(--card); }
label.fee-cover { font-weight: 400; }
.fee-live { font-weight: 600; min-height: 1.5em; margin: .25rem 0; }
.actions { margin: 1rem 0 0; }
.give-membership:empty { display: none; }
.thanks .sign-in-how { padding: 1rem; border-radius: .75rem; background: var(--card); }
.support-prompt .goal { margin: .5rem 0; }
/* ---- end of the join page */
/* Year-end statements (src/billing/statements): amounts aligned; printed without the site's furniture. */
.statement .amount { text-align: right; font-variant-numeric: tabular-nums; }
@media print {
  :root { color-scheme: light; --fg: #000; --bg: #fff; --muted: #333; --accent: #000; }
  /* The test-mode banner stays: a statement of simulated payments must say so on paper too. */
  header.site, nav, form, button, .no-print { display: none !important; }
  body { font-size: 11pt; }
  main, main.wide, body.wide main { max-width: none; padding: 0; }
  a { color: inherit; text-decoration: none; }
  .table-scroll { overflow: visible; }
  .table-scroll th, .table-scroll td { white-space: normal; }
  thead { display: table-header-group; }
  tr { break-inside: avoid; }
  th, td { border-bottom: 1px solid #999; }
}
`.trimStart()

/** A strong validator for the stylesheet: FNV-1a of its text, computed once (it changes only with a deploy). */
function fingerprint(text: string): string {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return `"${(hash >>> 0).toString(36)}-${text.length.toString(36)}"`
}

/** Where it is served, under Masthead's path. */
export const STYLESHEET_PATH = '/assets/style.css'

/** Encoded once: a string body is encoded to UTF-8 on every response. */
export const STYLESHEET_BYTES = new TextEncoder().encode(STYLESHEET)
const ETAG = fingerprint(STYLESHEET)
const GZIP_ETAG = `${ETAG.slice(0, -1)}-gz"`

/** One way of answering: its status, headers (computed once) and body. */
export interface StaticAnswer {
  status: 200 | 304
  headers: Readonly<Record<string, string>>
  body: Uint8Array<ArrayBuffer> | null
}

/**
 * Everything an answer carries, computed once: a stylesheet needs no content security policy or
 * frame rules, only its type, caching, no sniffing, and staying on this site.
 */
const BASE_HEADERS = {
  'Content-Type': 'text/css; charset=utf-8',
  'Cache-Control': 'public, max-age=3600',
  Vary: 'Accept-Encoding',
  'X-Content-Type-Options': 'nosniff',
  'Cross-Origin-Resource-Policy': 'same-origin',
}
const NOT_MODIFIED_HEADERS = { 'Cache-Control': BASE_HEADERS['Cache-Control'], Vary: 'Accept-Encoding' }

const answerOf = (body: Uint8Array<ArrayBuffer>, etag: string, encoding?: string): StaticAnswer => ({
  status: 200,
  headers: Object.freeze({
    ...BASE_HEADERS,
    ETag: etag,
    ...(encoding ? { 'Content-Encoding': encoding } : {}),
    'Content-Length': String(body.byteLength),
  }),
  body,
})
const notModified = (etag: string): StaticAnswer => ({
  status: 304,
  headers: Object.freeze({ ...NOT_MODIFIED_HEADERS, ETag: etag }),
  body: null,
})
const PLAIN = answerOf(STYLESHEET_BYTES, ETAG)
const NOT_MODIFIED = notModified(ETAG)
const GZIP_NOT_MODIFIED = notModified(GZIP_ETAG)

/**
 * The answers to GET /assets/style.css for a server that also has the stylesheet gzipped (the
 * Node server, src/http/node-server.ts; on Workers, Cloudflare compresses at its edge): each
 * computed once, then picked per request by `answer`. A browser that has the stylesheet already
 * gets 304 on its If-None-Match, for either encoding.
 */
export function stylesheetAnswers(gzipped?: Uint8Array<ArrayBuffer>) {
  const compressed = gzipped ? answerOf(gzipped, GZIP_ETAG, 'gzip') : undefined
  return {
    answer(ifNoneMatch: string | undefined, acceptEncoding: string | undefined): StaticAnswer {
      if (ifNoneMatch !== undefined) {
        for (const tag of ifNoneMatch.split(',')) {
          const bare = tag.trim().replace(/^W\//, '')
          if (bare === ETAG || bare === '*') return NOT_MODIFIED
          if (bare === GZIP_ETAG) return GZIP_NOT_MODIFIED
        }
      }
      return compressed && takesGzip(acceptEncoding) ? compressed : PLAIN
    },
  }
}

/** Whether an Accept-Encoding takes gzip (and does not refuse it with q=0). */
export const takesGzip = (acceptEncoding: string | undefined) =>
  acceptEncoding !== undefined && /(?:^|,)\s*gzip\s*(?:,|$|;\s*q=(?!0(?:\.0*)?\s*(?:,|$)))/i.test(acceptEncoding)

const UNCOMPRESSED = stylesheetAnswers()

/**
 * GET /assets/style.css through the app (on Workers, and wherever the app is asked directly),
 * answered before the request chain (app.ts registers it first): no request id, access-log line,
 * services or session, since nothing about it depends on who asks. The Node server answers it
 * before the app is even reached, gzipped to browsers that take it (src/http/node-server.ts).
 */
export function stylesheet(c: Context): Response {
  const { status, headers, body } = UNCOMPRESSED.answer(c.req.header('if-none-match'), undefined)
  return new Response(body, { status, headers })
}
