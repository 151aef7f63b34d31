import { Hono, type Context } from 'hono'
import type { Entitlements } from '../entitlements/entitlements'
import { AppError } from '../http/errors'
import type { AppEnv } from '../services'
import { ArticlePage, HomePage, type ArticleView } from './pages'
import { page } from '../ui/layout'
import {
  accessFor,
  latestArticles,
  publishedArticle,
  showsAds,
  showsSupportPrompts,
  type Article,
  type Viewer,
} from './articles'
import { issueEntitlementToken } from '../entitlements/token'

/**
 * What readers see: the front page, articles (pages and JSON), and their
 * entitlements (JSON and as a signed token for the publication's own site).
 */
export const content = new Hono<AppEnv>()

const viewerOf = (c: Context<AppEnv>): Viewer => ({
  signedIn: c.var.user !== null,
  staff: c.var.user !== null && c.var.user.role !== 'reader',
  entitlements: c.var.entitlements,
})

/**
 * Every anonymous reader gets the same page (previews included), so a shared
 * cache may keep it; anything for a signed-in reader is private, and every
 * reader page varies by cookie so that a supporter's ad-free page is never
 * handed to someone else. (A response that also sets a cookie is made
 * private by neverCacheCookies.)
 */
function cacheFor(c: Context<AppEnv>) {
  c.header('Vary', 'Cookie')
  // A minute at most: an article leaving early access opens to everyone within it.
  c.header('Cache-Control', c.var.user === null ? 'public, max-age=60' : 'private, no-cache')
}

const chrome = (entitlements: Entitlements) => ({
  ads: showsAds(entitlements),
  supportPrompts: showsSupportPrompts(entitlements),
})

content.get('/', async (c) => {
  const { db, clock, config } = c.var.services
  const now = clock.now()
  const viewer = viewerOf(c)
  const rows = await latestArticles(db, now)
  cacheFor(c)
  return page(
    c,
    'Home',
    <HomePage
      publication={config.PUBLICATION_NAME}
      articles={rows.map((a) => ({ ...a, access: accessFor(a, viewer, now) }))}
      {...chrome(viewer.entitlements)}
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

content.get('/articles/:slug', async (c) => {
  const now = c.var.services.clock.now()
  const article = await findArticle(c)
  const viewer = viewerOf(c)
  const access = accessFor(article, viewer, now)
  cacheFor(c)
  const view: ArticleView = {
    ...article,
    bodyHtml: access === 'full' ? article.bodyHtml : null,
    gate: access === 'full' ? null : gateOf(article, viewer, now),
  }
  return page(
    c,
    article.title,
    <ArticlePage article={view} signedIn={viewer.signedIn} {...chrome(viewer.entitlements)} />,
  )
})

/** An article for API clients: the body (sanitized HTML) only with full access. */
content.get('/api/articles/:slug', async (c) => {
  const now = c.var.services.clock.now()
  const article = await findArticle(c)
  const viewer = viewerOf(c)
  const access = accessFor(article, viewer, now)
  cacheFor(c)
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
    ads: showsAds(viewer.entitlements),
  })
})

/** The reader's benefits and membership; the empty set, not an error, for anonymous readers. */
content.get('/api/entitlements', (c) => {
  const { entitlements } = c.var
  const { membership } = entitlements
  c.header('Cache-Control', 'private, no-store')
  c.header('Vary', 'Cookie')
  return c.json({
    signedIn: c.var.user !== null,
    benefits: entitlements.benefits,
    tiers: entitlements.tierIds,
    ads: showsAds(entitlements),
    supportPrompts: showsSupportPrompts(entitlements),
    membership: {
      status: membership.status,
      source: membership.source,
      entitled: membership.entitled,
      until: membership.until,
      tierId: membership.tierId,
      tierName: membership.tierName,
    },
    donorUntil: entitlements.donorUntil,
  })
})

/** The same benefits as a short-lived signed token, for the publication's site or CDN to verify on its own. */
content.get('/api/entitlements/token', async (c) => {
  const { config, clock } = c.var.services
  const { token, claims } = await issueEntitlementToken(c.var.entitlements, {
    issuer: config.APP_URL,
    secret: config.ENTITLEMENT_TOKEN_SECRET,
    now: clock.now(),
    ttlSeconds: config.ENTITLEMENT_TOKEN_TTL_SECONDS,
  })
  c.header('Cache-Control', 'private, no-store')
  c.header('Vary', 'Cookie')
  return c.json({ token, expiresAt: new Date(claims.exp * 1000).toISOString(), benefits: claims.benefits })
})
