import { Hono, type Context } from 'hono'
import { showsAds, showsSupportPrompts } from '../entitlements/entitlements'
import { readerOf } from '../accounts/reader'
import { AppError } from '../http/errors'
import type { AppEnv } from '../services'
import { ArticlePage, HomePage, type ArticleView } from './pages'
import { page } from '../ui/layout'
import { goalProgress } from '../billing/goal'
import { accessFor, latestArticles, publishedArticle, type Article, type Viewer } from './articles'

/** What readers see: the front page and articles (/ and /articles/:slug). */
export const articlePages = new Hono<AppEnv>()

/** Articles for API clients (/api/articles/:slug): the body only with full access. */
export const articleApi = new Hono<AppEnv>()

/** Who is reading, from the page-view cookie while it is fresh, else the session (src/accounts/reader.ts). */
const viewerOf = (c: Context<AppEnv>): Promise<Viewer> => readerOf(c)

/**
 * Every anonymous reader gets the same page (previews included), so a shared
 * cache may keep it; anything for a signed-in reader is private, and every
 * reader page varies by cookie so that a supporter's ad-free page is never
 * handed to someone else. (A response that also sets a cookie is made
 * private by the frame (src/http/cookies.ts).)
 */
function cacheFor(c: Context<AppEnv>, viewer: Viewer) {
  c.header('Vary', 'Cookie')
  // A minute at most: an article leaving early access opens to everyone within it.
  c.header('Cache-Control', viewer.signedIn ? 'private, no-cache' : 'public, max-age=60')
}

const chrome = async (c: Context<AppEnv>, viewer: Viewer) => ({
  ads: showsAds(viewer),
  supportPrompts: showsSupportPrompts(viewer),
  // The goal's meter in the prompt: from memory but once a minute (src/billing/goal.ts).
  goal: showsSupportPrompts(viewer) ? await goalProgress(c.var.services) : null,
})

articlePages.get('/', async (c) => {
  const { db, clock, config } = c.var.services
  const now = clock.now()
  const viewer = await viewerOf(c)
  const rows = await latestArticles(db, now)
  cacheFor(c, viewer)
  return page(
    c,
    'Home',
    <HomePage
      publication={config.PUBLICATION_NAME}
      articles={rows.map((a) => ({ ...a, access: accessFor(a, viewer, now) }))}
      {...await chrome(c, viewer)}
    />,
  )
})

async function findArticle(c: Context<AppEnv>): Promise<Article> {
  const { db, clock } = c.var.services
  const article = await publishedArticle(db, clock.now(), c.req.param('slug') ?? '')
  if (!article) throw new AppError('not_found', 'There is no published article at this address.')
  return article
}

/** Why a preview is a preview: the call to action differs. */
function gateOf(article: Article, viewer: Viewer, now: Date): ArticleView['gate'] {
  if (article.earlyAccessUntil && now < article.earlyAccessUntil) return 'early-access'
  if (article.access === 'members' && !viewer.signedIn) return 'sign-in'
  return 'support'
}

articlePages.get('/articles/:slug', async (c) => {
  const now = c.var.services.clock.now()
  const article = await findArticle(c)
  const viewer = await viewerOf(c)
  const access = accessFor(article, viewer, now)
  cacheFor(c, viewer)
  const view: ArticleView = {
    ...article,
    bodyHtml: access === 'full' ? article.bodyHtml : null,
    gate: access === 'full' ? null : gateOf(article, viewer, now),
  }
  return page(c, article.title, <ArticlePage article={view} signedIn={viewer.signedIn} {...await chrome(c, viewer)} />)
})

articleApi.get('/:slug', async (c) => {
  const now = c.var.services.clock.now()
  const article = await findArticle(c)
  const viewer = await viewerOf(c)
  const access = accessFor(article, viewer, now)
  cacheFor(c, viewer)
  return c.json({
    article: {
      slug: article.slug,
      title: article.title,
      excerpt: article.excerpt,
      author: article.author,
      publishedAt: article.publishedAt,
      accessLevel: article.access,
      earlyAccessUntil: article.earlyAccessUntil,
      ...(access === 'full' ? { bodyHtml: article.bodyHtml } : {}),
    },
    access,
    ads: showsAds(viewer),
  })
})
