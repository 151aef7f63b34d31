import { HTMLRewriter } from '#html-rewriter'
import { accessFor, type Viewer } from '../articles/articles'
import { showsAds, showsSupportPrompts } from '../entitlements/entitlements'
import type { PageView } from '../entitlements/page-view'
import {
  ACCOUNT,
  AD,
  accountLinks,
  type Call,
  callToAction,
  GATED,
  type GateRule,
  gateRuleOf,
  invalidAdSelectors,
  type Links,
  ORIGIN_JSON_LD,
  PAYWALL_JSON_LD,
  SUPPORT_PROMPT,
} from './markers'

export type { PageView }
export { invalidAdSelectors }

export interface RewriteOptions {
  /** config.AD_SELECTORS: extra CSS selectors of the origin's ads. */
  adSelectors: string[]
  /** config.MASTHEAD_PATH, e.g. '/members'. */
  mastheadPath: string
  /** config.PUBLICATION_NAME. */
  publication: string
  now: Date
}

type Rewriter = InstanceType<typeof HTMLRewriter>
type ElementHandlers = Parameters<Rewriter['on']>[1]
type Element = Parameters<NonNullable<ElementHandlers['element']>>[0]

/**
 * Rewrites an origin's text/html response for this reader while it streams
 * (src/gateway/markers.ts lists the markers); any other response is returned
 * as it is. Status and headers are kept, less Content-Length.
 */
export function rewritePage(response: Response, view: PageView, options: RewriteOptions): Response {
  if (response.body === null || !isHtml(response.headers.get('content-type'))) return response

  const viewer: Viewer = view
  const links: Links = { base: options.mastheadPath.replace(/\/+$/, ''), publication: options.publication }
  const page = new PageState()
  const rewriter = new HTMLRewriter()

  rewriter.on(GATED, {
    element(element) {
      page.gated = true
      const rule = gateRuleOf(
        element.getAttribute('data-masthead-access'),
        element.getAttribute('data-masthead-early-until'),
      )
      if (rule && accessFor(rule, viewer, options.now) === 'full') {
        element.setAttribute('data-masthead-gated', '')
      } else {
        // replace() drops the element's content as it streams: none of it is ever sent.
        element.replace(callToAction(callFor(rule, viewer, options.now), links), { html: true })
      }
    },
  })

  // Only what can change for this reader is matched: every handler costs parsing time.
  if (!showsAds(viewer)) {
    for (const selector of [AD, ...validAdSelectors(options.adSelectors)]) onIfValid(rewriter, selector, remove)
  }
  if (!showsSupportPrompts(viewer)) rewriter.on(SUPPORT_PROMPT, remove)

  const account = accountLinks(view.signedIn, showsSupportPrompts(viewer), links)
  rewriter.on(ACCOUNT, { element: (element) => void element.setInnerContent(account, { html: true }) })

  // The origin's JSON-LD may hold the whole article. Whether the page is gated
  // is known only once a gated element streams past, often after <head>: so
  // every one is held back, and given back at the end if none came.
  rewriter.on(ORIGIN_JSON_LD, {
    element(element) {
      page.holding = page.gated ? null : { startTag: startTagOf(element), text: '' }
      if (page.holding) page.held.push(page.holding)
      element.remove()
    },
    text(chunk) {
      if (page.holding) page.holding.text += chunk.text
    },
  })

  // The paywall markup goes where the page is known to be gated: before </body>,
  // or at the very end when there is no </body> or a gated element follows it.
  rewriter.on('body', {
    element(element) {
      element.onEndTag((end) => {
        if (page.gated && !page.marked) end.before(PAYWALL_JSON_LD, { html: true })
        page.marked ||= page.gated
      })
    },
  })
  rewriter.onDocument({
    end(end) {
      if (page.gated) {
        if (!page.marked) end.append(PAYWALL_JSON_LD, { html: true })
      } else {
        for (const { startTag, text } of page.held) end.append(`${startTag}${text}</script>`, { html: true })
      }
    },
  })

  const rewritten = rewriter.transform(response)
  const headers = new Headers(rewritten.headers)
  headers.delete('content-length') // the length changes
  return new Response(rewritten.body, { status: response.status, statusText: response.statusText, headers })
}

/** What one response's handlers learn as the page streams past. */
class PageState {
  /** A gated element has been seen (entitled or not). */
  gated = false
  /** The paywall JSON-LD has been written. */
  marked = false
  /** The origin's JSON-LD scripts seen while the page did not look gated, as they were. */
  held: { startTag: string; text: string }[] = []
  holding: { startTag: string; text: string } | null = null
}

/** text/html in any case, with or without parameters (charset). */
const isHtml = (contentType: string | null) => /^[ \t]*text\/html[ \t]*(?:;|$)/i.test(contentType ?? '')

const remove: ElementHandlers = { element: (element) => void element.remove() }

/**
 * Why the reader is shut out decides what they are asked to do, and comes from
 * accessFor itself: shut out by the early-access date alone is "supporters read
 * this first"; a members' piece asks a signed-out reader to sign in; anything
 * else, including markers that cannot be read, asks them to join.
 */
function callFor(rule: GateRule | null, viewer: Viewer, now: Date): Call {
  if (!rule) return 'join'
  if (accessFor({ ...rule, access: 'public', accessTierIds: [] }, viewer, now) === 'preview') return 'earlyAccess'
  return rule.access === 'members' && !viewer.signedIn ? 'signIn' : 'join'
}

/** The start tag again, from its attributes (lol-html gives no raw bytes): the same bytes for ordinary markup. */
function startTagOf(element: Element): string {
  let tag = `<${element.tagName}`
  for (const [name, value] of element.attributes)
    tag += ` ${name}="${value.replace(/&/g, '&amp;').replace(/"/g, '&quot;')}"`
  return `${tag}>`
}

/** AD_SELECTORS is one array for the life of the config: checked once. */
const checked = new WeakMap<string[], string[]>()
function validAdSelectors(list: string[]): string[] {
  let valid = checked.get(list)
  if (!valid) {
    const invalid = new Set(invalidAdSelectors(list))
    valid = list.filter((selector) => !invalid.has(selector))
    checked.set(list, valid)
  }
  return valid
}

/** workerd's own HTMLRewriter refuses a selector at once; a refused ad selector costs the ads, not the page. */
function onIfValid(rewriter: Rewriter, selector: string, handlers: ElementHandlers): void {
  try {
    rewriter.on(selector, handlers)
  } catch {
    // invalidAdSelectors lets the config check report it at start-up.
  }
}
