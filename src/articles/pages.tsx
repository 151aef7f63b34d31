import { raw } from 'hono/html'
import type { Access } from './articles'
import { href } from '../ui/paths'
import { GoalMeter } from '../billing/join-page'
import type { GoalProgress } from '../billing/goal'

export interface ArticleSummary {
  slug: string
  title: string
  excerpt: string
  author: string
  publishedAt: Date | null
  access: Access
}

const dateFormat = new Intl.DateTimeFormat('en-GB', { dateStyle: 'long', timeZone: 'UTC' })
const formatDate = (date: Date | null) => (date ? dateFormat.format(date) : '')

/**
 * An advertising slot, filled by the publication's own (first-party) ad
 * server if it has one: Masthead loads no third-party script. Readers with
 * adFree never get this element at all.
 */
export function AdSlot(props: { name: string }) {
  return (
    <aside class="ad-slot" data-ad-slot={props.name} aria-label="Advertisement">
      <p class="muted">Advertisement</p>
    </aside>
  )
}

/** A request for support, absent for ad-free readers and recent donors; with the goal, when one is set. */
export function SupportPrompt(props: { goal?: GoalProgress | null | undefined }) {
  return (
    <aside class="support-prompt" aria-label="Support us">
      <p>
        <strong>Independent journalism needs you.</strong> Our reporting is paid for by readers.{' '}
        <a href={href('/join')}>Become a supporter</a> or make a one-time gift.
      </p>
      {props.goal ? <GoalMeter goal={props.goal} /> : null}
    </aside>
  )
}

export interface ReaderChrome {
  ads: boolean
  supportPrompts: boolean
  /** The goal's progress for the support prompt (src/billing/goal.ts), when one is set and prompts show. */
  goal?: GoalProgress | null
}

export function HomePage(props: { publication: string; articles: ArticleSummary[] } & ReaderChrome) {
  return (
    <>
      <h1>{props.publication}</h1>
      <p class="muted">Independent journalism, paid for by its readers.</p>
      {props.ads ? <AdSlot name="home-top" /> : null}
      {props.articles.length === 0 ? <p>Nothing has been published yet.</p> : null}
      <ul class="articles">
        {props.articles.map((article) => (
          <li>
            <h2>
              <a href={href(`/articles/${article.slug}`)}>{article.title}</a>
            </h2>
            <p class="muted">
              {article.author} ·{' '}
              <time datetime={article.publishedAt?.toISOString()}>{formatDate(article.publishedAt)}</time>
              {article.access === 'preview' ? ' · for supporters and members' : ''}
            </p>
            <p>{article.excerpt}</p>
          </li>
        ))}
      </ul>
      {props.supportPrompts ? <SupportPrompt goal={props.goal} /> : null}
    </>
  )
}

export interface ArticleView {
  title: string
  author: string
  excerpt: string
  publishedAt: Date | null
  /** Sanitized when saved (src/articles/markdown.ts); absent for a preview. */
  bodyHtml: string | null
  /** Why the reader sees a preview, to word the call to action. */
  gate: 'sign-in' | 'support' | 'early-access' | null
  slug: string
}

export function ArticlePage(props: { article: ArticleView; signedIn: boolean } & ReaderChrome) {
  const { article } = props
  return (
    <article>
      <h1>{article.title}</h1>
      <p class="muted">
        By {article.author} ·{' '}
        <time datetime={article.publishedAt?.toISOString()}>{formatDate(article.publishedAt)}</time>
      </p>
      {props.ads ? <AdSlot name="article-top" /> : null}
      {article.bodyHtml !== null ? (
        <div class="article-body">{raw(article.bodyHtml)}</div>
      ) : (
        <>
          <p class="excerpt">{article.excerpt}</p>
          <Gate gate={article.gate} signedIn={props.signedIn} slug={article.slug} />
        </>
      )}
      {props.ads && article.bodyHtml !== null ? <AdSlot name="article-bottom" /> : null}
      {props.supportPrompts && article.bodyHtml !== null ? <SupportPrompt goal={props.goal} /> : null}
    </article>
  )
}

function Gate(props: { gate: ArticleView['gate']; signedIn: boolean; slug: string }) {
  const signIn = href(`/auth/sign-in?${new URLSearchParams({ next: href(`/articles/${props.slug}`) })}`)
  const message =
    props.gate === 'sign-in'
      ? 'This article is for members. Signing in is free.'
      : props.gate === 'early-access'
        ? 'Supporters are reading this first. It opens to everyone soon.'
        : 'This article is for supporters.'
  return (
    <section class="gate" aria-label="Keep reading">
      <p>
        <strong>{message}</strong>
      </p>
      <p>
        {props.gate === 'sign-in' ? null : (
          <>
            <a href={href('/join')}>Become a supporter</a>
            {props.signedIn ? null : ' or '}
          </>
        )}
        {props.signedIn ? null : <a href={signIn}>sign in</a>}
        {props.signedIn || props.gate === 'sign-in' ? '' : ' if you already are one.'}
      </p>
    </section>
  )
}
