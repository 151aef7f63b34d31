import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { createDemoOrigin } from '../../src/dev/demo-origin'

export interface SeenRequest {
  method: string
  path: string
  headers: Record<string, string>
  body: string
}

/** Bytes that are not text, to check that the gateway passes bodies through untouched. */
export const BINARY = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7919 + (i >> 3)) % 256)

/**
 * The demo publication (src/dev/demo-origin.ts) on a real port, with routes
 * for the gateway's tests: an echo of what reached it, binary bytes, a
 * redirect, cookies, a form post, a slow page and a page with every marker.
 */
export async function startStubOrigin() {
  const seen: SeenRequest[] = []
  /** Requests that reached the origin, by path. */
  const hits = new Map<string, number>()
  const app = new Hono()
  app.use(async (c, next) => {
    hits.set(c.req.path, (hits.get(c.req.path) ?? 0) + 1)
    await next()
  })
  app.all('/echo/*', async (c) => {
    const record = {
      method: c.req.method,
      path: c.req.path + (new URL(c.req.url).search || ''),
      headers: Object.fromEntries(c.req.raw.headers),
      body: await c.req.text(),
    }
    seen.push(record)
    return c.json(record)
  })
  app.get('/binary', (c) => c.body(BINARY, 200, { 'Content-Type': 'application/octet-stream' }))
  app.get('/moved', (c) => c.redirect('/articles/council-budget', 302))
  app.get('/cookies', (c) => {
    c.header('Set-Cookie', 'origin_a=1; Path=/', { append: true })
    c.header('Set-Cookie', 'origin_b=2; Path=/; HttpOnly', { append: true })
    return c.html('<p>cookies</p>')
  })
  app.post('/subscribe', async (c) => c.html(`<p>thanks ${(await c.req.parseBody()).email as string}</p>`, 201))
  app.get('/slow', async (c) => {
    await new Promise((resolve) => setTimeout(resolve, 1500))
    return c.html('<p>late</p>')
  })
  app.get('/markers', (c) => {
    c.header('Cache-Control', 'public, max-age=120')
    return c.html(`<!doctype html><html><head><title>Markers</title>
      <script type="application/ld+json">{"headline":"ORIGIN-LD"}</script></head><body>
      <nav data-masthead-account>theme links</nav>
      <div data-masthead-ad>AD-SLOT</div><ins class="adsbygoogle">THIRD-PARTY-AD</ins>
      <aside data-masthead-support-prompt>SUPPORT-PROMPT</aside>
      <section data-masthead-access="members">MEMBERS-SECRET</section>
      <section data-masthead-access="supporters">SUPPORTERS-SECRET</section>
      <section data-masthead-access="tiers:patron">PATRON-SECRET</section>
      <section data-masthead-early-until="2099-01-01T00:00:00Z">EARLY-SECRET</section>
      </body></html>`)
  })
  // Nested markers and HTML a browser would forgive: unclosed tags, stray end tags, unquoted attributes.
  app.get('/malformed', (c) =>
    c.html(`<html><body><div data-masthead-ad>AD-OUTER<section data-masthead-access=supporters>NESTED-SECRET
      <p>unclosed <b>bold <div data-masthead-access="tiers:patron">PATRON-IN-SUPPORTERS</div></section></div>
      </span></p></p><section data-masthead-access='members'><li>MALFORMED-SECRET<li>more</section>
      <div data-masthead-access="gold">UNREADABLE-SECRET</div>`),
  )
  app.route('/', createDemoOrigin({ words: 300 }))

  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' })
  await new Promise<void>((resolve) => server.once('listening', () => resolve()))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    hits,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

/** A port nothing listens on, for the origin-down case. */
export async function closedPort(): Promise<string> {
  const server = serve({ fetch: () => new Response(null), port: 0, hostname: '127.0.0.1' })
  await new Promise<void>((resolve) => server.once('listening', () => resolve()))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `http://127.0.0.1:${port}`
}
