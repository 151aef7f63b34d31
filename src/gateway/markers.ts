import type { Article } from '../articles/articles'
import { escapeHtml } from '../util/html'

/**
 * The attributes a publication puts on its own HTML for Masthead (gateway
 * mode), what they say, and the markup Masthead puts in their place.
 */
export const GATED = '[data-masthead-access], [data-masthead-early-until]'
export const AD = '[data-masthead-ad]'
export const SUPPORT_PROMPT = '[data-masthead-support-prompt]'
export const ACCOUNT = '[data-masthead-account]'
/** Matched loosely (any type naming ld+json, any case): removing one too many is safe, one too few leaks. */
export const ORIGIN_JSON_LD = 'script[type*="ld+json" i]'

/** What accessFor needs of an article, read from a gated element's attributes. */
export type GateRule = Pick<Article, 'access' | 'accessTierIds' | 'earlyAccessUntil'>

/**
 * The rule a gated element states, or null when its attributes cannot be
 * read: the caller then shuts every reader out (fail closed), since guessing
 * could leak.
 */
export function gateRuleOf(access: string | null, earlyUntil: string | null): GateRule | null {
  // A site states a handful of rules on thousands of page views: each is read once.
  const key = `${access ?? '\u0000'}\u0000${earlyUntil ?? '\u0000'}`
  let rule = rules.get(key)
  if (rule === undefined) {
    rule = ruleOf(access, earlyUntil)
    if (rules.size >= RULES_KEPT) rules.clear()
    rules.set(key, rule)
  }
  return rule
}

const RULES_KEPT = 1000
/** Shared by every page view that states them, so frozen. */
const rules = new Map<string, Readonly<GateRule> | null>()

function ruleOf(access: string | null, earlyUntil: string | null): Readonly<GateRule> | null {
  const level = access === null ? { access: 'public' as const, accessTierIds: [] } : levelOf(access)
  const until = earlyUntil === null ? null : instantOf(earlyUntil)
  if (!level || until === undefined) return null
  Object.freeze(level.accessTierIds)
  return Object.freeze({ ...level, earlyAccessUntil: until })
}

/** `members`, `supporters`, `public` (with an early-access date) or `tiers:<id>,<id>`. */
function levelOf(value: string): Omit<GateRule, 'earlyAccessUntil'> | null {
  const text = value.trim()
  const tiers = /^tiers:(.*)$/i.exec(text)
  if (tiers) {
    const ids = tiers[1]!.split(',').map((id) => id.trim())
    return ids.every(Boolean) ? { access: 'tiers', accessTierIds: ids } : null
  }
  const level = text.toLowerCase()
  return level === 'members' || level === 'supporters' || level === 'public'
    ? { access: level, accessTierIds: [] }
    : null
}

const ISO_INSTANT =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:(Z)|([+-])(\d{2}):?(\d{2}))?)?$/i

/**
 * An ISO 8601 date or date and time; without a zone it is UTC (as in the
 * article editor). Checked field by field, because Date rolls 30 February
 * over into March rather than refusing it. Undefined when malformed.
 */
function instantOf(text: string): Date | undefined {
  const match = ISO_INSTANT.exec(text.trim())
  if (!match) return undefined
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map((n) => (n ? Number(n) : 0)) as Fields
  const utc = new Date(Date.UTC(year, month - 1, day, hour, minute, second))
  const fields: Fields = [
    utc.getUTCFullYear(),
    utc.getUTCMonth() + 1,
    utc.getUTCDate(),
    utc.getUTCHours(),
    utc.getUTCMinutes(),
    utc.getUTCSeconds(),
  ]
  if (fields.join() !== [year, month, day, hour, minute, second].join()) return undefined
  const offsetMinutes = match[8] ? (match[8] === '-' ? -1 : 1) * (Number(match[9]) * 60 + Number(match[10])) : 0
  return new Date(utc.getTime() - offsetMinutes * 60_000)
}
type Fields = [number, number, number, number, number, number]

// ---------------------------------------------------------------- Masthead's markup

/** Why a reader is shut out, which decides what they are asked to do. */
export type Call = 'signIn' | 'join' | 'earlyAccess'

export interface Links {
  /** MASTHEAD_PATH without a trailing slash. */
  base: string
  publication: string
}

/** What replaces a gated element: text and one link, nothing executable or third-party. */
export function callToAction(call: Call, { base, publication }: Links): string {
  const [message, label, path]: [string, string, string] =
    call === 'signIn'
      ? [`This is for members of ${publication}. Sign in to read it.`, 'Sign in', '/auth/sign-in']
      : call === 'join'
        ? [`This is for supporters of ${publication}.`, 'Become a supporter', '/join']
        : [`Supporters of ${publication} read this first.`, 'Become a supporter', '/join']
  return (
    `<div class="masthead-gate" data-masthead-gated><p>${escapeHtml(message)}</p>` +
    `<a href="${escapeHtml(base + path)}">${escapeHtml(label)}</a></div>`
  )
}

/** The account slot's links: sign in or the account, and the invitation to support unless the reader's benefits hide it. */
export function accountLinks(signedIn: boolean, asksForSupport: boolean, { base }: Links): string {
  const links: [string, string][] = [signedIn ? ['Your account', '/account'] : ['Sign in', '/auth/sign-in']]
  if (asksForSupport) links.push(['Support us', '/join'])
  return links.map(([label, path]) => `<a href="${escapeHtml(base + path)}">${escapeHtml(label)}</a>`).join(' ')
}

/**
 * Google's markup for paywalled content, so that search engines do not take
 * the gate for cloaking. The selector matches the replacement and the
 * entitled reader's element alike.
 */
export const PAYWALL_JSON_LD = `<script type="application/ld+json">${JSON.stringify({
  '@context': 'https://schema.org',
  '@type': 'WebPage',
  isAccessibleForFree: false,
  hasPart: [{ '@type': 'WebPageElement', isAccessibleForFree: false, cssSelector: '[data-masthead-gated]' }],
})}</script>`

// ---------------------------------------------------------------- AD_SELECTORS

/*
 * The selectors lol-html (HTMLRewriter) supports, written as a grammar because
 * on Node `.on()` only records a selector: a bad one surfaces later, as a
 * failed page. This is a subset (no escapes, no namespaces), so anything it
 * accepts lol-html accepts too; tests/gateway/rewrite.test.ts checks that
 * against the real parser.
 */
const WS = '[ \\t\\n\\r\\f]'
const IDENT = '(?:--|-?(?:[A-Za-z_]|[^\\x00-\\x7F]))(?:[\\w-]|[^\\x00-\\x7F])*'
const STRING = `"[^"\\\\\\n\\r\\f]*"|'[^'\\\\\\n\\r\\f]*'`
const ATTRIBUTE = `\\[${WS}*${IDENT}${WS}*(?:[~^$*|]?=${WS}*(?:${IDENT}|${STRING})${WS}*(?:[is]${WS}*)?)?\\]`
const NTH = `\\(${WS}*(?:odd|even|[+-]?\\d+|[+-]?\\d*n(?:${WS}*[+-]${WS}*\\d+)?)${WS}*\\)`
const PSEUDO = `:(?:first-child|first-of-type|nth-child${NTH}|nth-of-type${NTH})`
const SIMPLE = `#${IDENT}|\\.${IDENT}|${ATTRIBUTE}|${PSEUDO}`
const NEGATION = `:not\\(${WS}*(?:${IDENT}|\\*|${SIMPLE})${WS}*\\)`
const COMPOUND = `(?:(?:${IDENT}|\\*)(?:${SIMPLE}|${NEGATION})*|(?:${SIMPLE}|${NEGATION})+)`
const COMPLEX = `${COMPOUND}(?:${WS}*>${WS}*${COMPOUND}|${WS}+${COMPOUND})*`
const SELECTOR_LIST = new RegExp(`^${WS}*${COMPLEX}(?:${WS}*,${WS}*${COMPLEX})*${WS}*$`, 'i')

/** The selectors in the list that HTMLRewriter might refuse: the config check refuses them at start-up. */
export function invalidAdSelectors(list: readonly string[]): string[] {
  return list.filter((selector) => selector.length > 500 || !SELECTOR_LIST.test(selector))
}
