import { raw } from 'hono/html'
import type { Child } from 'hono/jsx'

/**
 * The page shell. No third-party scripts, fonts or images, ever: donors'
 * visits must not leak to anyone but the publication.
 */
export function Layout(props: { title: string; publication?: string | undefined; children: Child }) {
  const site = props.publication ?? 'Masthead'
  return (
    <>
      {raw('<!doctype html>')}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <title>{`${props.title} · ${site}`}</title>
          <link rel="stylesheet" href="/assets/style.css" />
        </head>
        <body>
          <header class="site">
            <a href="/">{site}</a>
          </header>
          <main>{props.children}</main>
        </body>
      </html>
    </>
  )
}
