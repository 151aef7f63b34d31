import { count, eq } from 'drizzle-orm'
import type { Database } from '../db/client'
import { articles, tiers, type AccessLevel } from '../db/schema'
import { randomId } from '../util/random'
import { renderMarkdown } from '../articles/markdown'

const DAY_MS = 86_400_000

interface DemoArticle {
  slug: string
  title: string
  /** The teaser everyone sees; the body is for those the access level admits. */
  excerpt: string
  author: string
  access: AccessLevel
  tierIds?: string[]
  /** Days from now until early access ends. */
  earlyAccessDays?: number
  daysAgo: number
  body: string
}

const DEMO_ARTICLES: DemoArticle[] = [
  {
    slug: 'council-approves-budget',
    excerpt: 'Library hours come back and the road-repair fund grows, after four hours of public comment.',
    title: 'Council approves next year’s budget after a late-night session',
    author: 'Ana Ruiz',
    access: 'public',
    daysAgo: 1,
    body: `The city council approved the budget at 11:40 pm, after four hours of public comment.

## What changes

- Library hours return to six days a week.
- The road-repair fund grows by 12%.

Read the [full budget](https://example.org/budget) as published by the city.`,
  },
  {
    slug: 'inside-the-housing-authority',
    excerpt: 'Thousands of families are waiting. We obtained the list and checked it.',
    title: 'Inside the housing authority’s waiting list',
    author: 'Sam Okafor',
    access: 'members',
    daysAgo: 3,
    body: `We obtained the waiting list through a records request. **2,318 families** are on it; the oldest application dates from 2019.

Members can read the whole investigation, including how we checked the figures.`,
  },
  {
    slug: 'police-overtime-records',
    excerpt: 'Overtime pay has doubled in three years. The records show where it went.',
    title: 'Police overtime: what the records show',
    author: 'Jo Park',
    access: 'supporters',
    daysAgo: 5,
    body: `Overtime pay doubled in three years, from $4.1 million to $8.3 million, according to payroll records we obtained.

Three units account for most of the increase. This reporting was paid for by our supporters.

> "We were never told," said one council member.`,
  },
  {
    slug: 'patrons-briefing',
    excerpt: 'What we are working on next, for our patrons first.',
    title: 'The patrons’ briefing: what we are working on next',
    author: 'The editors',
    access: 'tiers',
    tierIds: ['patron'],
    daysAgo: 7,
    body: `A monthly note for our patrons about the stories in progress, and a question for you.`,
  },
  {
    slug: 'school-board-election-guide',
    excerpt: 'Every candidate answered the same seven questions.',
    title: 'A guide to the school board election',
    author: 'Ana Ruiz',
    access: 'public',
    earlyAccessDays: 3,
    daysAgo: 0,
    body: `Supporters read this guide first. Every candidate answered the same seven questions.`,
  },
]

/**
 * A few articles for a fresh `npm start`, one of each access level and one in
 * supporters' early access. Only into an empty table, and never in
 * production (src/node.ts decides).
 */
export async function seedDemoArticles(db: Database, now: Date): Promise<number> {
  const [existing] = await db.select({ n: count() }).from(articles)
  if ((existing?.n ?? 0) > 0) return 0
  const [patron] = await db.select({ id: tiers.id }).from(tiers).where(eq(tiers.id, 'patron'))
  const rows = DEMO_ARTICLES.filter((a) => a.access !== 'tiers' || patron).map((a) => ({
    id: randomId(),
    slug: a.slug,
    title: a.title,
    author: a.author,
    bodyMarkdown: a.body,
    bodyHtml: renderMarkdown(a.body),
    excerpt: a.excerpt,
    access: a.access,
    accessTierIds: a.tierIds ?? [],
    earlyAccessUntil: a.earlyAccessDays ? new Date(now.getTime() + a.earlyAccessDays * DAY_MS) : null,
    publishedAt: new Date(now.getTime() - a.daysAgo * DAY_MS - 3_600_000),
    createdAt: now,
    updatedAt: now,
  }))
  const inserted = await db
    .insert(articles)
    .values(rows)
    .onConflictDoNothing({ target: articles.slug })
    .returning({ id: articles.id })
  return inserted.length
}
