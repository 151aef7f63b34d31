import type { Article } from './articles'
import { ACCESS_LEVELS } from '../db/schema'
import { Field } from '../ui/field'
import { href } from '../ui/paths'

export interface ArticleFormValues {
  title: string
  slug: string
  excerpt: string
  author: string
  body: string
  access: string
  tiers: string[]
  /** datetime-local, in UTC. */
  earlyAccessUntil: string
}

export const emptyArticleForm: ArticleFormValues = {
  title: '',
  slug: '',
  excerpt: '',
  author: '',
  body: '',
  access: 'public',
  tiers: [],
  earlyAccessUntil: '',
}

export function articleFormValues(article: Article): ArticleFormValues {
  return {
    title: article.title,
    slug: article.slug,
    excerpt: article.excerpt,
    author: article.author,
    body: article.bodyMarkdown,
    access: article.access,
    tiers: article.accessTierIds,
    earlyAccessUntil: article.earlyAccessUntil ? article.earlyAccessUntil.toISOString().slice(0, 16) : '',
  }
}

const ACCESS_LABELS: Record<(typeof ACCESS_LEVELS)[number], string> = {
  public: 'Everyone',
  members: 'Members (any signed-in reader)',
  supporters: 'Supporters (tiers with supporters-only articles)',
  tiers: 'Only the tiers chosen below',
}

const stateOf = (a: Article, now: Date) =>
  a.publishedAt === null ? 'Draft' : a.publishedAt > now ? 'Scheduled' : 'Published'

export function ArticlesAdminPage(props: { articles: Article[]; now: Date; notice?: string | undefined }) {
  return (
    <>
      <h1>Articles</h1>
      {props.notice ? <p role="status">{props.notice}</p> : null}
      <p>
        <a href={href('/admin/articles/new')}>Write a new article</a>
      </p>
      {props.articles.length === 0 ? (
        <p>No articles yet.</p>
      ) : (
        <div class="table-scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Title</th>
                <th scope="col">Access</th>
                <th scope="col">State</th>
              </tr>
            </thead>
            <tbody>
              {props.articles.map((a) => (
                <tr>
                  <td>
                    <a href={href(`/admin/articles/${a.id}`)}>{a.title}</a>
                  </td>
                  <td>{a.access}</td>
                  <td>{stateOf(a, props.now)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  )
}

export function ArticleEditPage(props: {
  article: Article | null
  tiers: { id: string; name: string }[]
  form: ArticleFormValues
  errors?: Record<string, string> | undefined
  notice?: string | undefined
}) {
  const { form, errors = {}, article } = props
  const action = href(article ? `/admin/articles/${article.id}` : '/admin/articles/new')
  return (
    <>
      <h1>{article ? `Edit: ${article.title}` : 'New article'}</h1>
      {props.notice ? <p role="status">{props.notice}</p> : null}
      {Object.keys(errors).length > 0 ? (
        <p class="error" role="alert">
          The article was not saved: correct the fields marked below.
        </p>
      ) : null}
      {article ? (
        <p>
          {article.publishedAt ? (
            <>
              Published. <a href={href(`/articles/${article.slug}`)}>Read it on the site</a>.{' '}
              <form class="inline" method="post" action={href(`/admin/articles/${article.id}/unpublish`)}>
                <button type="submit">Unpublish</button>
              </form>
            </>
          ) : (
            <>
              Draft.{' '}
              <form class="inline" method="post" action={href(`/admin/articles/${article.id}/publish`)}>
                <button type="submit">Publish</button>
              </form>
            </>
          )}
        </p>
      ) : null}
      <form method="post" action={action} novalidate>
        <Field id="title" name="title" label="Title" value={form.title} error={errors.title} required />
        <Field id="slug" name="slug" label="Slug (blank: made from the title)" value={form.slug} error={errors.slug} />
        <Field id="author" name="author" label="Author" value={form.author} error={errors.author} required />
        <label for="excerpt">Excerpt (blank: the start of the text)</label>
        <textarea id="excerpt" name="excerpt" rows={3} aria-invalid={errors.excerpt ? 'true' : undefined}>
          {form.excerpt}
        </textarea>
        {errors.excerpt ? <p class="error">{errors.excerpt}</p> : null}
        <label for="body">Text (Markdown)</label>
        <textarea
          id="body"
          name="body"
          rows={18}
          aria-invalid={errors.body ? 'true' : undefined}
          aria-describedby={errors.body ? 'body-error' : undefined}
        >
          {form.body}
        </textarea>
        {errors.body ? (
          <p id="body-error" class="error">
            {errors.body}
          </p>
        ) : null}
        <fieldset>
          <legend>Who may read it</legend>
          {ACCESS_LEVELS.map((level) => (
            <label class="choice">
              <input type="radio" name="access" value={level} checked={form.access === level} /> {ACCESS_LABELS[level]}
            </label>
          ))}
          {errors.access ? <p class="error">{errors.access}</p> : null}
        </fieldset>
        <fieldset>
          <legend>Tiers (for "only the tiers chosen")</legend>
          {props.tiers.map((tier) => (
            <label class="choice">
              <input type="checkbox" name="tiers" value={tier.id} checked={form.tiers.includes(tier.id)} /> {tier.name}
            </label>
          ))}
          {errors.tiers ? <p class="error">{errors.tiers}</p> : null}
        </fieldset>
        <Field
          id="earlyAccessUntil"
          name="earlyAccessUntil"
          type="datetime-local"
          label="Supporters' early access until (UTC; blank: none)"
          value={form.earlyAccessUntil}
          error={errors.earlyAccessUntil}
        />
        <p>
          <button type="submit">{article ? 'Save' : 'Save draft'}</button>
        </p>
      </form>
      <p>
        <a href={href('/admin/articles')}>All articles</a>
      </p>
    </>
  )
}
