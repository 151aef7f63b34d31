import type { AppEnv } from '../services'
import { Hono } from 'hono'

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
`.trimStart()

/** GET /assets/style.css. */
export const assets = new Hono<AppEnv>().get('/style.css', (c) => {
  c.header('Cache-Control', 'public, max-age=3600')
  return c.body(STYLESHEET, 200, { 'Content-Type': 'text/css; charset=utf-8' })
})
