/**
 * A small sample publication site for trying gateway mode (`npm run demo:origin`):
 * a front page and articles whose theme carries Masthead's markers: ad slots,
 * a support prompt, sections for members, supporters, one tier and early
 * access, and the account links. It knows nothing of Masthead: it is what a
 * WordPress or Ghost theme would serve, with a few attributes added.
 */
import { Hono } from 'hono'
import { html, raw } from 'hono/html'

export const DEMO_ORIGIN_ARTICLES = [
  {
    slug: 'council-budget',
    title: 'The council’s budget, line by line',
    lede: 'Where the money goes this year, and what changed since the last vote.',
  },
  {
    slug: 'river-report',
    title: 'What the river samples show',
    lede: 'Six months of water samples, and the two sites that worry the scientists.',
  },
] as const

/** Paragraphs of filler so that a page weighs what a real article page does (tens of KiB). */
const filler = (words: number, seed: string) =>
  Array.from({ length: Math.ceil(words / 60) }, (_, i) =>
    raw(
      `<p>${`${seed} paragraph ${i + 1}: the reporting goes on with quotes, figures and context for readers. `.repeat(4)}</p>`,
    ),
  )

const layout = (title: string, body: unknown) =>
  html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <title>${title} · The Demo Ledger</title>
        <script type="application/ld+json">
          { "@context": "https://schema.org", "@type": "NewsArticle", "headline": "${title}" }
        </script>
      </head>
      <body>
        <header>
          <a href="/">The Demo Ledger</a>
          <nav data-masthead-account><a href="/members/auth/sign-in">Sign in</a></nav>
        </header>
        <main>${body}</main>
        <footer><div class="ad-slot" data-masthead-ad>Advertisement: footer banner</div></footer>
      </body>
    </html>`

export function createDemoOrigin(options: { words?: number } = {}) {
  const words = options.words ?? 1500
  const app = new Hono()
  app.get('/', (c) =>
    c.html(
      layout(
        'Front page',
        html`<h1>The Demo Ledger</h1>
          <ul>
            ${DEMO_ORIGIN_ARTICLES.map((a) => html`<li><a href="/articles/${a.slug}">${a.title}</a> ${a.lede}</li>`)}
          </ul>
          <aside data-masthead-support-prompt>We are reader-funded. <a href="/members/join">Support us</a>.</aside>`,
      ),
    ),
  )
  app.get('/articles/:slug', (c) => {
    const article = DEMO_ORIGIN_ARTICLES.find((a) => a.slug === c.req.param('slug'))
    if (!article) return c.html(layout('Not found', html`<h1>Not found</h1>`), 404)
    c.header('Cache-Control', 'public, max-age=60')
    return c.html(
      layout(
        article.title,
        html`<article>
          <h1>${article.title}</h1>
          <p class="lede">${article.lede}</p>
          <div class="ad-slot" data-masthead-ad>Advertisement: in-article</div>
          ${filler(words / 2, 'Open')}
          <aside data-masthead-support-prompt>
            This reporting is paid for by readers. <a href="/members/join">Join them</a>.
          </aside>
          <section data-masthead-access="members">
            <h2>For members</h2>
            <p>The full council documents, annotated.</p>
          </section>
          <section data-masthead-access="supporters">
            <h2>For supporters</h2>
            ${filler(words / 2, 'Supporters-only')}
          </section>
          <section data-masthead-access="tiers:patron">
            <h2>For patrons</h2>
            <p>The reporter’s notebook.</p>
          </section>
          <section data-masthead-early-until="2099-01-01T00:00:00Z">
            <h2>Early access</h2>
            <p>Next week’s follow-up.</p>
          </section>
        </article>`,
      ),
    )
  })
  app.get('/feed.xml', (c) =>
    c.body(
      `<?xml version="1.0"?><rss version="2.0"><channel><title>The Demo Ledger</title>${DEMO_ORIGIN_ARTICLES.map(
        (a) => `<item><title>${a.title}</title><link>/articles/${a.slug}</link></item>`,
      ).join('')}</channel></rss>`,
      200,
      { 'Content-Type': 'application/rss+xml' },
    ),
  )
  return app
}
