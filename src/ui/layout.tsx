import type { Context } from 'hono'
import { raw } from 'hono/html'
import type { Child } from 'hono/jsx'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { isTestMode } from '../config'
import type { AppEnv } from '../services'
import { BasePath, homePath, withBase } from './paths'

interface LayoutProps {
  title: string
  publication?: string | undefined
  /** Who is signed in, for the header's links; undefined when unknown (error pages). */
  signedIn?: { role: string } | null | undefined
  /** Payments go to a Stripe test account or the local stand-in: say so on every page. */
  testMode?: boolean | undefined
  /** Where Masthead's routes live (config.MASTHEAD_PATH); every component inside reads it through `href`. */
  base?: string | undefined
  /** Where the site name leads: Masthead's front page, or the publication's own in gateway mode (homePath). */
  home?: string | undefined
  /** The publication's colour and logo (ACCENT_COLOR, LOGO_URL): the colours as a stylesheet from this origin. */
  accent?: string | undefined
  logo?: string | undefined
  children: Child
}

/**
 * The page shell. No third-party scripts, fonts or images, ever: donors'
 * visits must not leak to anyone but the publication.
 */
export function Layout(props: LayoutProps) {
  const site = props.publication ?? 'Masthead'
  const base = props.base ?? ''
  // The layout's own links are made here, before the provider below is in force: they join the base themselves.
  const to = (path: string) => withBase(base, path)
  return (
    <BasePath.Provider value={base}>
      {raw('<!doctype html>')}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <title>{`${props.title} · ${site}`}</title>
          <link rel="stylesheet" href={to('/assets/style.css')} />
          {props.accent ? (
            <link rel="stylesheet" href={to(`/assets/theme.css?accent=${props.accent.replace('#', '')}`)} />
          ) : null}
          {/* No favicon to fetch: browsers otherwise ask for /favicon.ico on every visit. */}
          <link rel="icon" href="data:," />
        </head>
        <body>
          {props.testMode ? (
            <p class="test-mode" role="note">
              TEST MODE: payments are simulated and no real money moves.
            </p>
          ) : null}
          <header class="site">
            <a href={props.home ?? to('/')} class={props.logo ? 'brand' : undefined}>
              {props.logo ? <img src={props.logo} alt="" class="logo" /> : null}
              {site}
            </a>
            {props.signedIn === undefined ? null : (
              <nav aria-label="Account">
                {props.signedIn ? (
                  <>
                    <a href={to('/join')}>Support us</a>
                    {props.signedIn.role !== 'reader' ? <a href={to('/admin')}>Staff</a> : null}
                    <a href={to('/account')}>Your account</a>
                  </>
                ) : (
                  <>
                    <a href={to('/join')}>Support us</a>
                    <a href={to('/auth/sign-in')}>Sign in</a>
                  </>
                )}
              </nav>
            )}
          </header>
          <main>{props.children}</main>
        </body>
      </html>
    </BasePath.Provider>
  )
}

/** Who the header's links are for: the reader view (set by the session middleware or readerOf); signed out without one. */
function signedInAs(c: Context<AppEnv>): { role: string } | null {
  const view = c.var.view
  return view?.signedIn ? { role: view.staff ? 'staff' : 'reader' } : null
}

/** Renders a page inside the layout with the publication's name and the signed-in account's links. */
export function page(c: Context<AppEnv>, title: string, body: Child, status: ContentfulStatusCode = 200) {
  return c.html(
    <Layout
      title={title}
      publication={c.var.services.config.PUBLICATION_NAME}
      signedIn={signedInAs(c)}
      testMode={isTestMode(c.var.services.config)}
      accent={c.var.services.config.ACCENT_COLOR}
      logo={c.var.services.config.LOGO_URL}
      base={c.var.services.config.MASTHEAD_PATH}
      home={homePath(c.var.services.config)}
    >
      {body}
    </Layout>,
    status,
  )
}
