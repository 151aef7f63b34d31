import { asc } from 'drizzle-orm'
import { Hono, type Context } from 'hono'
import {
  articleFieldsSchema,
  createArticle,
  getArticle,
  listAllArticles,
  setPublished,
  updateArticle,
  type Article,
  type ArticleFields,
} from './articles'
import { tiers } from '../db/schema'
import { AppError } from '../http/errors'
import { answerFormError, submitForm, type RenderForm } from '../http/forms'
import { requireRole } from '../http/guards'
import { fieldErrors, readBody, readForm, validationError, type FieldErrors } from '../http/input'
import { pathTo } from '../http/paths'
import type { AppEnv } from '../services'
import {
  ArticleEditPage,
  articleFormValues,
  ArticlesAdminPage,
  emptyArticleForm,
  type ArticleFormValues,
} from './editor-pages'
import { page } from '../ui/layout'

/** Editors write and publish articles: /admin/articles. */
export const articleEditorPages = new Hono<AppEnv>().use(requireRole('editor'))

/** The same for API clients: /api/admin/articles. */
export const articleEditorApi = new Hono<AppEnv>().use(requireRole('editor'))

const NOTICES: Record<string, string> = {
  created: 'Draft saved.',
  updated: 'Saved.',
  published: 'Published: readers can see it now.',
  unpublished: 'Unpublished: it is a draft again.',
}

async function findArticle(c: Context<AppEnv>): Promise<Article> {
  const article = await getArticle(c.var.services.db, c.req.param('id') ?? '')
  if (!article) throw new AppError('not_found', 'There is no article with that id.')
  return article
}

const tierChoices = (c: Context<AppEnv>) =>
  c.var.services.db.select({ id: tiers.id, name: tiers.name }).from(tiers).orderBy(asc(tiers.position))

/** The posted form as typed (checkboxes repeat `tiers`), and the fields the schema expects. */
async function readArticleForm(c: Context<AppEnv>): Promise<ArticleFormValues> {
  const type = c.req.header('content-type') ?? ''
  if (!type.includes('application/x-www-form-urlencoded') && !type.includes('multipart/form-data')) {
    throw new AppError('unsupported_media_type', 'Send the article form as a form.')
  }
  const body = await readForm(c, { all: true })
  const one = (key: string) => {
    const value = body[key]
    const first = Array.isArray(value) ? value[0] : value
    return typeof first === 'string' ? first : ''
  }
  const many = (key: string) => {
    const value = body[key]
    return (Array.isArray(value) ? value : value === undefined ? [] : [value]).filter(
      (v): v is string => typeof v === 'string',
    )
  }
  return {
    title: one('title'),
    slug: one('slug'),
    excerpt: one('excerpt'),
    author: one('author'),
    body: one('body'),
    access: one('access'),
    tiers: many('tiers'),
    earlyAccessUntil: one('earlyAccessUntil'),
  }
}

type Checked = { fields: ArticleFields; errors: null } | { fields: null; errors: FieldErrors }

function check(input: unknown): Checked {
  const parsed = articleFieldsSchema.safeParse(input)
  return parsed.success ? { fields: parsed.data, errors: null } : { fields: null, errors: fieldErrors(parsed.error) }
}

const editPage = async (
  c: Context<AppEnv>,
  article: Article | null,
  form: ArticleFormValues,
  errors?: FieldErrors,
  status: 200 | 409 | 422 = 200,
) =>
  page(
    c,
    article ? `Edit: ${article.title}` : 'New article',
    <ArticleEditPage
      article={article}
      tiers={await tierChoices(c)}
      form={form}
      errors={errors}
      notice={errors ? undefined : NOTICES[c.req.query('notice') ?? '']}
    />,
    status,
  )

// ---------------------------------------------------------------- pages

articleEditorPages.get('/', async (c) => {
  const { db, clock } = c.var.services
  return page(
    c,
    'Articles',
    <ArticlesAdminPage
      articles={await listAllArticles(db)}
      now={clock.now()}
      notice={NOTICES[c.req.query('notice') ?? '']}
    />,
  )
})

articleEditorPages.get('/new', (c) => editPage(c, null, emptyArticleForm))

articleEditorPages.post('/new', async (c) => {
  const form = await readArticleForm(c)
  const rerender: RenderForm = (errors, status) => editPage(c, null, form, errors, status as 409 | 422)
  const checked = check(form)
  if (!checked.fields) return answerFormError(c, checked.errors, rerender)
  const { fields } = checked
  return submitForm(
    c,
    async () => {
      const saved = await createArticle(c.var.services.db, c.var.services.clock.now(), fields)
      return c.redirect(pathTo(c, `/admin/articles/${saved.id}?notice=created`), 303)
    },
    rerender,
  )
})

articleEditorPages.get('/:id', async (c) => {
  const article = await findArticle(c)
  return editPage(c, article, articleFormValues(article))
})

articleEditorPages.post('/:id', async (c) => {
  const article = await findArticle(c)
  const form = await readArticleForm(c)
  const rerender: RenderForm = (errors, status) => editPage(c, article, form, errors, status as 409 | 422)
  const checked = check(form)
  if (!checked.fields) return answerFormError(c, checked.errors, rerender)
  const { fields } = checked
  const { db, clock } = c.var.services
  return submitForm(
    c,
    async () => {
      const saved = await updateArticle(db, clock.now(), article.id, fields)
      return c.redirect(pathTo(c, `/admin/articles/${saved.id}?notice=updated`), 303)
    },
    rerender,
  )
})

for (const [action, published] of [
  ['publish', true],
  ['unpublish', false],
] as const) {
  articleEditorPages.post(`/:id/${action}`, async (c) => {
    const article = await findArticle(c)
    await setPublished(c.var.services.db, c.var.services.clock.now(), article.id, published)
    return c.redirect(pathTo(c, `/admin/articles/${article.id}?notice=${action}ed`), 303)
  })
  articleEditorApi.post(`/:id/${action}`, async (c) => {
    const article = await findArticle(c)
    return c.json({ article: await setPublished(c.var.services.db, c.var.services.clock.now(), article.id, published) })
  })
}

// ---------------------------------------------------------------- API

articleEditorApi.get('/', async (c) => c.json({ articles: await listAllArticles(c.var.services.db) }))

articleEditorApi.post('/', async (c) => {
  const checked = check(await readBody(c))
  if (!checked.fields) throw validationError(checked.errors)
  const article = await createArticle(c.var.services.db, c.var.services.clock.now(), checked.fields)
  return c.json({ article }, 201)
})

articleEditorApi.get('/:id', async (c) => c.json({ article: await findArticle(c) }))

/** A whole article: every field is sent, as on the form. */
articleEditorApi.put('/:id', async (c) => {
  const article = await findArticle(c)
  const checked = check(await readBody(c))
  if (!checked.fields) throw validationError(checked.errors)
  const saved = await updateArticle(c.var.services.db, c.var.services.clock.now(), article.id, checked.fields)
  return c.json({ article: saved })
})
