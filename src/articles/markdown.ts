import MarkdownIt from 'markdown-it'
import type { StateCore, Token } from 'markdown-it'

/**
 * Article bodies: Markdown written by editors, rendered to HTML on the server.
 *
 * Editors are trusted to write articles, not to run script in readers' browsers (an editor's
 * account can be taken over, and bodies may be pasted from elsewhere), so the output is safe
 * whatever the source says: raw HTML is escaped, never passed through, and link and image URLs
 * are limited to schemes that cannot run code.
 */

const LINK_SCHEMES = new Set(['http:', 'https:', 'mailto:'])
const IMAGE_SCHEMES = new Set(['http:', 'https:'])
// Readers are sent to pages the publication does not vouch for: no ranking credit, no
// window.opener for the other page, no Referer telling it which article (or reader) sent them.
const LINK_REL = 'nofollow noopener noreferrer'
const ELLIPSIS = '…'

/**
 * The scheme of a URL ("https:"), or null for a relative reference ("/a", "a/b", "?q", "#top",
 * "//host/x"). RFC 3986 §4.2: a relative reference's first segment cannot hold a colon, so a colon
 * before the first "/", "?" or "#" means a scheme, including ones only a browser's leniency would
 * read as one ("jav%09ascript:"); those fail the allowlist instead of being guessed at.
 */
function schemeOf(url: string): string | null {
  const firstSegment = url.trim().split(/[/?#]/, 1)[0] ?? ''
  const colon = firstSegment.indexOf(':')
  return colon === -1 ? null : firstSegment.slice(0, colon + 1).toLowerCase()
}

function isAllowedUrl(url: string, schemes: Set<string>): boolean {
  const scheme = schemeOf(url)
  return scheme === null || schemes.has(scheme)
}

/**
 * markdown-it validates every URL with one function, before it knows whether the URL is a link's
 * or an image's, so this lets through what either may use; images are narrowed by
 * `hardenInlineTokens`.
 */
function isAllowedLinkUrl(url: string): boolean {
  return isAllowedUrl(url, LINK_SCHEMES)
}

/** An image with a URL an image may not have is replaced by its alt text (e.g. `![logo](mailto:x)`). */
function withoutDisallowedImages(tokens: Token[]): Token[] {
  return tokens.flatMap((token) =>
    token.type === 'image' && !isAllowedUrl(String(token.attrGet('src') ?? ''), IMAGE_SCHEMES)
      ? withoutDisallowedImages(token.children ?? [])
      : [token],
  )
}

/** Core rule: runs on the parsed tokens, so what it guarantees holds whichever rule made a link. */
function hardenInlineTokens(state: StateCore): void {
  for (const block of state.tokens) {
    if (block.type !== 'inline' || !block.children) continue
    block.children = withoutDisallowedImages(block.children)
    for (const token of block.children) {
      if (token.type === 'link_open') token.attrSet('rel', LINK_REL)
    }
  }
}

function createRenderer() {
  const md = new MarkdownIt({ html: false, linkify: true, typographer: false })
  // markdown-it's own check (no javascript:, vbscript:, file:, non-image data:) stays as a
  // second line of defence behind the allowlist.
  const builtInValidateLink = md.validateLink.bind(md)
  md.validateLink = (url) => builtInValidateLink(url) && isAllowedLinkUrl(url)
  md.core.ruler.push('masthead_harden', hardenInlineTokens)
  return md
}

// A module-level instance is deliberate, and not the kind of singleton the project avoids:
// it is pure configuration with no I/O, no secrets and no per-request state, so sharing it
// between requests (and Worker isolates' requests) is safe, and it is built once, not per article.
const markdown = createRenderer()

/** Renders an article body to HTML that is safe to put in a page as is. */
export function renderMarkdown(source: string): string {
  return markdown.render(source)
}

/**
 * The words a reader sees, from the token stream rather than from the HTML, so nothing depends on
 * parsing markup back out. Images are left out: their alt text describes a picture, not the story.
 */
function plainTextOf(tokens: Token[]): string {
  return tokens
    .map((token) => {
      if (token.type === 'image') return ' '
      if (token.children) return plainTextOf(token.children)
      if (token.type === 'softbreak' || token.type === 'hardbreak' || token.block) return ` ${token.content} `
      return token.content
    })
    .join('')
}

/** Cuts at the last space that fits, so no word is cut in half (unless one word fills the room). */
function truncateAtWord(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text
  const room = maxChars - ELLIPSIS.length
  const lastSpace = text.lastIndexOf(' ', room)
  const cut = lastSpace > 0 ? text.slice(0, lastSpace) : text.slice(0, room).replace(/[\uD800-\uDBFF]$/, '')
  return cut.replace(/[\s,.;:!?–—-]+$/, '') + ELLIPSIS
}

/**
 * A plain-text excerpt of an article body (for listings and meta descriptions), at most `maxChars`
 * UTF-16 code units including the ellipsis. It is text, not HTML: entities are decoded, and a body
 * that shows "<b>" gives "<b>", so it must be escaped where it is output (hono/jsx does that).
 */
export function excerptFrom(source: string, maxChars = 240): string {
  if (maxChars < 1) return ''
  const text = plainTextOf(markdown.parse(source, {})).replace(/\s+/g, ' ').trim()
  return truncateAtWord(text, maxChars)
}
