import { and, desc, eq, inArray, isNotNull, lte, sql } from 'drizzle-orm'
import * as z from 'zod'
import type { Database } from '../db/client'
import { ACCESS_LEVELS, articles, tiers, type Benefit } from '../db/schema'
import { isPgError } from '../db/pg-errors'
import { AppError } from '../http/errors'
import { randomId } from '../util/random'
import { excerptFrom, renderMarkdown } from './markdown'

export type Article = typeof articles.$inferSelect

// ---------------------------------------------------------------- who may read what

/** Who is asking: enough to decide access without another query. */
export interface Viewer {
  signedIn: boolean
  /** Editors and admins read everything, to check what they publish. */
  staff: boolean
  benefits: readonly Benefit[]
  /** The tiers whose articles the reader may read (Entitlements.tierIds). */
  tierIds: readonly string[]
}

export type Access = 'full' | 'preview'

/**
 * The access rule, in one place. Before `earlyAccessUntil`, only readers with
 * the earlyAccess benefit read it; afterwards (or without a date), its level:
 * public, members (signed in), supporters (supportersOnlyContent), or tiers
 * (a current membership of one of `accessTierIds`).
 */
export function accessFor(
  article: Pick<Article, 'access' | 'accessTierIds' | 'earlyAccessUntil'>,
  viewer: Viewer,
  now: Date,
): Access {
  if (viewer.staff) return 'full'
  const { benefits, tierIds } = viewer
  if (article.earlyAccessUntil && now < article.earlyAccessUntil && !benefits.includes('earlyAccess')) {
    return 'preview'
  }
  switch (article.access) {
    case 'public':
      return 'full'
    case 'members':
      return viewer.signedIn ? 'full' : 'preview'
    case 'supporters':
      return benefits.includes('supportersOnlyContent') ? 'full' : 'preview'
    case 'tiers':
      return article.accessTierIds.some((id) => tierIds.includes(id)) ? 'full' : 'preview'
  }
}

// ---------------------------------------------------------------- input

const SLUG = /^[a-z0-9]+(-[a-z0-9]+)*$/
export const MAX_BODY_CHARS = 200_000

/** A slug from a title: "Council votes, 5–4!" → "council-votes-5-4". */
export function slugify(title: string): string {
  return title
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 80)
    .replace(/-+$/, '')
}

const optionalText = (max: number, label: string) =>
  z
    .string({ error: `The ${label} must be text.` })
    .trim()
    .max(max, { error: `The ${label} must be at most ${max} characters.` })
    .optional()

/** ISO 8601 from the API, or a datetime-local value (taken as UTC) from the form; empty means none. */
const dateTime = z
  .union([z.string(), z.null()], { error: 'The early-access date must be a date and time, such as 2026-12-01T09:00Z.' })
  .optional()
  .transform((value, ctx) => {
    if (value === undefined) return undefined
    if (value === null || value.trim() === '') return null
    const text = value.trim()
    const withZone = /(?:Z|[+-]\d{2}:?\d{2})$/i.test(text) ? text : `${text}Z`
    const date = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(text) ? new Date(withZone) : new Date(NaN)
    if (Number.isNaN(date.getTime())) {
      ctx.addIssue({
        code: 'custom',
        message: 'The early-access date must be a date and time, such as 2026-12-01T09:00Z.',
      })
      return z.NEVER
    }
    return date
  })

export const articleFieldsSchema = z.object({
  title: z
    .string({ error: 'Enter a title.' })
    .trim()
    .min(1, { error: 'Enter a title.' })
    .max(200, { error: 'The title must be at most 200 characters.' }),
  slug: z
    .string({ error: 'The slug must be text.' })
    .trim()
    .max(80, { error: 'The slug must be at most 80 characters.' })
    .refine((s) => s === '' || SLUG.test(s), {
      error: 'The slug may hold lowercase letters, digits and single hyphens, like "council-votes".',
    })
    .optional(),
  excerpt: optionalText(500, 'excerpt'),
  author: z
    .string({ error: 'Enter the author.' })
    .trim()
    .min(1, { error: 'Enter the author.' })
    .max(120, { error: 'The author must be at most 120 characters.' }),
  body: z
    .string({ error: 'Enter the article text.' })
    .min(1, { error: 'Enter the article text.' })
    .max(MAX_BODY_CHARS, { error: `The article text must be at most ${MAX_BODY_CHARS} characters.` }),
  access: z.enum(ACCESS_LEVELS, { error: 'Access must be public, members, supporters or tiers.' }),
  tiers: z
    .array(z.string({ error: 'Tier ids must be text.' }).trim().min(1), { error: 'Tiers must be a list of tier ids.' })
    .max(50, { error: 'Choose at most 50 tiers.' })
    .optional(),
  earlyAccessUntil: dateTime,
})

export type ArticleFields = z.output<typeof articleFieldsSchema>

// ---------------------------------------------------------------- storage

/** What gets stored from valid fields: the slug settled, the Markdown rendered, the tiers checked. */
async function prepare(db: Database, fields: ArticleFields) {
  const slug = fields.slug || slugify(fields.title)
  if (!slug) throw fieldError('slug', 'Enter a slug: the title has no letters or digits to make one from.')
  const tierIds = fields.access === 'tiers' ? [...new Set(fields.tiers ?? [])] : []
  if (fields.access === 'tiers') {
    if (tierIds.length === 0) throw fieldError('tiers', 'Choose at least one tier for a tiers-only article.')
    const known = await db.select({ id: tiers.id }).from(tiers).where(inArray(tiers.id, tierIds))
    const unknown = tierIds.filter((id) => !known.some((t) => t.id === id))
    if (unknown.length > 0) throw fieldError('tiers', `There is no tier called "${unknown[0]}".`)
  }
  return {
    slug,
    title: fields.title,
    author: fields.author,
    bodyMarkdown: fields.body,
    bodyHtml: renderMarkdown(fields.body),
    excerpt: fields.excerpt || excerptFrom(fields.body),
    access: fields.access,
    accessTierIds: tierIds,
    earlyAccessUntil: fields.earlyAccessUntil ?? null,
  }
}

/** A 422 naming the field, for the form to show beside it. */
const fieldError = (field: string, message: string) => new AppError('validation_failed', message, { field })

const slugTaken = (slug: string) =>
  new AppError('conflict', `Another article already uses the slug "${slug}". Choose another.`, { field: 'slug' })

export async function createArticle(db: Database, now: Date, fields: ArticleFields): Promise<Article> {
  const values = await prepare(db, fields)
  try {
    const [row] = await db
      .insert(articles)
      .values({ id: randomId(), ...values, publishedAt: null, createdAt: now, updatedAt: now })
      .returning()
    return row!
  } catch (error) {
    if (isPgError(error, 'uniqueViolation')) throw slugTaken(values.slug)
    throw error
  }
}

export async function updateArticle(db: Database, now: Date, id: string, fields: ArticleFields): Promise<Article> {
  const values = await prepare(db, fields)
  try {
    const [row] = await db
      .update(articles)
      .set({ ...values, updatedAt: now })
      .where(eq(articles.id, id))
      .returning()
    if (!row) throw new AppError('not_found', 'There is no article with that id.')
    return row
  } catch (error) {
    if (isPgError(error, 'uniqueViolation')) throw slugTaken(values.slug)
    throw error
  }
}

/** Publishing keeps the first publication time; unpublishing clears it. */
export async function setPublished(db: Database, now: Date, id: string, published: boolean): Promise<Article> {
  const [row] = await db
    .update(articles)
    .set({
      publishedAt: published ? sql`coalesce(${articles.publishedAt}, ${now.toISOString()}::timestamptz)` : null,
      updatedAt: now,
    })
    .where(eq(articles.id, id))
    .returning()
  if (!row) throw new AppError('not_found', 'There is no article with that id.')
  return row
}

export async function getArticle(db: Database, id: string): Promise<Article | undefined> {
  const [row] = await db.select().from(articles).where(eq(articles.id, id))
  return row
}

/** Every article, drafts first, for editors. */
export async function listAllArticles(db: Database): Promise<Article[]> {
  return db
    .select()
    .from(articles)
    .orderBy(sql`${articles.publishedAt} desc nulls first`, desc(articles.updatedAt))
}

/** Published (and not scheduled for later) articles, newest first. */
export async function latestArticles(db: Database, now: Date, limit = 20) {
  return db
    .select({
      slug: articles.slug,
      title: articles.title,
      excerpt: articles.excerpt,
      author: articles.author,
      access: articles.access,
      accessTierIds: articles.accessTierIds,
      earlyAccessUntil: articles.earlyAccessUntil,
      publishedAt: articles.publishedAt,
    })
    .from(articles)
    .where(and(isNotNull(articles.publishedAt), lte(articles.publishedAt, now)))
    .orderBy(desc(articles.publishedAt))
    .limit(limit)
}

export async function publishedArticle(db: Database, now: Date, slug: string): Promise<Article | undefined> {
  const [row] = await db
    .select()
    .from(articles)
    .where(and(eq(articles.slug, slug), isNotNull(articles.publishedAt), lte(articles.publishedAt, now)))
  return row
}
