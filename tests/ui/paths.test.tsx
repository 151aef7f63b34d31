/**
 * The base path reaches every component a page renders through hono/jsx's
 * context (src/ui/paths.ts): nested function components, lists, fragments,
 * and components that await.
 */
import { describe, expect, it } from 'vitest'
import { BasePath, href, withBase } from '../../src/ui/paths'

function Link(props: { to: string }) {
  return <a href={href(props.to)}>{props.to}</a>
}

function Nav(props: { items: string[] }) {
  return (
    <nav>
      {props.items.map((to) => (
        <>
          <Link to={to} />
        </>
      ))}
    </nav>
  )
}

async function Later() {
  await new Promise((resolve) => setTimeout(resolve, 1))
  return <Link to="/later" />
}

/** Renders as c.html() does: a page with a component that awaits renders to a promise. */
async function render(base: string): Promise<string> {
  const page = (
    <BasePath.Provider value={base}>
      <Nav items={['/', '/account', '/join?tier=a']} />
      <form action={href('/outside')}>x</form>
      <Later />
    </BasePath.Provider>
  )
  // Typed as a string, but a promise when a component awaits.
  return String(await Promise.resolve(page.toString()))
}

describe('the base path in pages', () => {
  it('reaches nested components, lists and components that await', async () => {
    const html = await render('/members')
    expect(html).toContain('<a href="/members">/</a>')
    expect(html).toContain('<a href="/members/account">')
    expect(html).toContain('<a href="/members/join?tier=a">')
    expect(html).toContain('<a href="/members/later">')
  })

  it('is read when components render, not when the JSX is written', async () => {
    // href() called outside any component runs before the provider: it gets the default, the root.
    expect(await render('/members')).toContain('action="/outside"')
  })

  it('changes nothing without a base path', async () => {
    const html = await render('')
    expect(html).toContain('<a href="/">/</a>')
    expect(html).toContain('<a href="/account">')
    expect(html).toContain('<a href="/later">')
  })

  it('does not leak between renders running at the same time', async () => {
    const [a, b] = await Promise.all([render('/a'), render('/b')])
    expect(a).toContain('<a href="/a/later">')
    expect(b).toContain('<a href="/b/later">')
  })

  it('joins paths to the base', () => {
    expect(withBase('', '/')).toBe('/')
    expect(withBase('', '/account')).toBe('/account')
    expect(withBase('/members', '/')).toBe('/members')
    expect(withBase('/members', '/?notice=x')).toBe('/members?notice=x')
    expect(withBase('/members', '/account?notice=x')).toBe('/members/account?notice=x')
  })
})
