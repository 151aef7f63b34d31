import { describe, expect, it } from 'vitest'
import { excerptFrom, renderMarkdown } from '../../src/articles/markdown'

/** A URL as a browser would read it: entities and percent-escapes decoded, whitespace and controls dropped. */
function asBrowserReadsIt(url: string): string {
  const entitiesDecoded = url
    .replace(/&#x([0-9a-f]+);?/gi, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/&#(\d+);?/g, (_, dec: string) => String.fromCodePoint(Number(dec)))
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&')
  const percentDecoded = entitiesDecoded.replace(/%([0-9a-f]{2})/gi, (_, hex: string) =>
    String.fromCharCode(parseInt(hex, 16)),
  )
  // eslint-disable-next-line no-control-regex -- as a browser does, control characters are dropped
  return percentDecoded.replace(/[\u0000-\u0020]/g, '')
}

/** The one check every hostile input must pass: nothing in the output can run script. */
function expectHarmless(html: string) {
  expect(html).not.toMatch(/<(script|iframe|object|embed|svg|style|form)\b/i)
  for (const [tag] of html.matchAll(/<[^>]*>/g)) {
    // Attribute names only: a quoted value may mention "onerror=" harmlessly, as long as its quotes hold.
    expect(tag.replace(/"[^"]*"/g, '""')).not.toMatch(/\son[a-z]+\s*=/i)
  }
  for (const [, name, value] of html.matchAll(/\b(href|src)\s*=\s*"([^"]*)"/gi)) {
    expect(asBrowserReadsIt(value!), `${name}="${value}"`).not.toMatch(/^(javascript|vbscript|data|file):/i)
  }
}

/** Text content of the output, to check that a refused link's words still reach the reader. */
const textOf = (html: string) => html.replace(/<[^>]*>/g, '')

describe('renderMarkdown', () => {
  it('renders headings, emphasis, lists and code', () => {
    const html = renderMarkdown(
      '# Title\n\nSome *em* and **strong**.\n\n- one\n- two\n\n1. first\n\n`inline`\n\n```\nblock <b>\n```',
    )
    expect(html).toContain('<h1>Title</h1>')
    expect(html).toContain('<em>em</em>')
    expect(html).toContain('<strong>strong</strong>')
    expect(html).toContain('<ul>\n<li>one</li>\n<li>two</li>\n</ul>')
    expect(html).toContain('<ol>\n<li>first</li>\n</ol>')
    expect(html).toContain('<code>inline</code>')
    expect(html).toContain('<pre><code>block &lt;b&gt;\n</code></pre>')
  })

  it('keeps safe links and images, and gives every link rel="nofollow noopener noreferrer"', () => {
    const html = renderMarkdown(
      '[a](https://example.org/x) [b](http://example.org) [c](/about) [d](#notes) [e](mailto:desk@example.org) ' +
        'https://linkified.example.org ![pic](https://cdn.example.org/p.png) ![rel](/img/p.png)',
    )
    const links = [...html.matchAll(/<a [^>]*>/g)].map(([tag]) => tag)
    expect(links).toHaveLength(6)
    for (const tag of links) expect(tag).toContain(' rel="nofollow noopener noreferrer"')
    expect(html).toContain('href="https://example.org/x"')
    expect(html).toContain('href="/about"')
    expect(html).toContain('href="#notes"')
    expect(html).toContain('href="mailto:desk@example.org"')
    expect(html).toContain('href="https://linkified.example.org"')
    expect(html).toContain('<img src="https://cdn.example.org/p.png" alt="pic">')
    expect(html).toContain('<img src="/img/p.png" alt="rel">')
    expect(html).not.toContain('target=')
  })

  it('escapes raw HTML instead of passing it through', () => {
    expect(renderMarkdown('<script>alert(1)</script>')).toBe('<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n')
    expect(renderMarkdown('<iframe src="https://evil.example"></iframe>')).toContain('&lt;iframe src=')
  })

  const hostile: { name: string; source: string; text: string }[] = [
    { name: 'javascript: link', source: '[click](javascript:alert(1))', text: 'click' },
    { name: 'upper-case scheme', source: '[click](JAVASCRIPT:alert(1))', text: 'click' },
    { name: 'leading spaces', source: '[click](  javascript:alert(1))', text: 'click' },
    { name: 'tab entity inside the scheme', source: '[click](jav&#x09;ascript:alert(1))', text: 'click' },
    { name: 'colon entity', source: '[click](javascript&colon;alert(1))', text: 'click' },
    { name: 'escaped character in the scheme', source: '[click](java\\script:alert(1))', text: 'click' },
    { name: 'angle-bracket destination', source: '[click](<javascript:alert(1)>)', text: 'click' },
    {
      name: 'data: HTML',
      source: '[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)',
      text: 'click',
    },
    { name: 'vbscript:', source: '[click](vbscript:msgbox(1))', text: 'click' },
    { name: 'file:', source: '[click](file:///etc/passwd)', text: 'click' },
    { name: 'reference definition', source: '[ref]: javascript:alert(1)\n\n[click][ref]', text: 'click' },
    { name: 'autolink', source: '<javascript:alert(1)>', text: 'javascript:alert(1)' },
    { name: 'linkify', source: 'see javascript:alert(1) now', text: 'javascript:alert(1)' },
    { name: 'javascript: image', source: '![pic](javascript:alert(1))', text: 'pic' },
    { name: 'data: image', source: '![pic](data:image/png;base64,iVBORw0KGgo=)', text: 'pic' },
    { name: 'attribute break-out in an image', source: '![pic](x" onerror="alert(1))', text: 'pic' },
    { name: 'attribute break-out in a title', source: '[click](/a "x\\" onmouseover=\\"alert(1)")', text: 'click' },
    { name: 'raw <a href="javascript:">', source: '<a href="javascript:alert(1)">click</a>', text: 'click' },
    { name: 'raw <img onerror>', source: '<img src=x onerror=alert(1)>', text: 'onerror' },
    { name: 'raw <svg onload>', source: '<svg onload=alert(1)>', text: 'svg' },
  ]

  for (const { name, source, text } of hostile) {
    it(`makes a hostile input harmless: ${name}`, () => {
      const html = renderMarkdown(source)
      expectHarmless(html)
      expect(textOf(html)).toContain(text)
    })
  }

  it('refuses an image URL that only a link may have, keeping the alt text', () => {
    const html = renderMarkdown('![Our logo](mailto:desk@example.org)')
    expect(html).not.toContain('<img')
    expect(html).toBe('<p>Our logo</p>\n')
  })

  it('refuses a scheme it does not know rather than guessing (ftp:, tel:)', () => {
    expect(renderMarkdown('[a](ftp://example.org/f) [b](tel:+100)')).not.toContain('href=')
  })
})

describe('excerptFrom', () => {
  it('gives the plain text, without markup, with entities decoded', () => {
    const source = '# A title\n\nSome *emphasis*, a [link](https://example.org) and `code`.\n\n- one\n- two\n\nAT&amp;T'
    expect(excerptFrom(source)).toBe('A title Some emphasis, a link and code. one two AT&T')
  })

  it('returns text, not HTML: raw HTML in the source stays literal, for the page to escape', () => {
    expect(excerptFrom('Hello <b>there</b>')).toBe('Hello <b>there</b>')
  })

  it('collapses whitespace and line breaks into single spaces', () => {
    expect(excerptFrom('one\ntwo  \nthree\n\n\n   four')).toBe('one two three four')
  })

  it('leaves images out', () => {
    expect(excerptFrom('![A photo of the river](/river.jpg)\n\nThe river rose.')).toBe('The river rose.')
  })

  it('is returned whole when it fits', () => {
    expect(excerptFrom('Short and sweet.', 16)).toBe('Short and sweet.')
  })

  it('cuts at a word boundary, with an ellipsis, within maxChars', () => {
    const excerpt = excerptFrom('The council voted on Tuesday to close the library, despite protests.', 40)
    expect(excerpt).toBe('The council voted on Tuesday to close…')
    expect(excerpt.length).toBeLessThanOrEqual(40)
  })

  it('drops punctuation left dangling before the ellipsis', () => {
    expect(excerptFrom('First, second, third fourth', 16)).toBe('First, second…')
  })

  it('cuts a single word longer than maxChars', () => {
    expect(excerptFrom('Supercalifragilisticexpialidocious', 10)).toBe('Supercali…')
  })

  it('defaults to 240 characters', () => {
    const excerpt = excerptFrom('word '.repeat(200))
    expect(excerpt.length).toBeLessThanOrEqual(240)
    expect(excerpt.endsWith('word…')).toBe(true)
  })
})
