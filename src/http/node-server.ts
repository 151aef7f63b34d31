/**
 * The Node server (src/node.ts, and the tests that serve the app over HTTP): @hono/node-server's,
 * with the one static asset answered before it. Node-only: the Worker entry never imports it.
 */
import type { AddressInfo } from 'node:net'
import {
  createServer,
  ServerResponse,
  type IncomingMessage,
  type OutgoingHttpHeader,
  type OutgoingHttpHeaders,
  type RequestListener,
} from 'node:http'
import { constants, gzipSync } from 'node:zlib'
import { serve, type ServerType } from '@hono/node-server'
import { keptFromSharedCaches, PRIVATE_WITH_COOKIES } from './cookies'
import { STYLESHEET_BYTES, STYLESHEET_PATH, stylesheetAnswers } from '../ui/stylesheet'

export interface NodeServerOptions {
  fetch: Parameters<typeof serve>[0]['fetch']
  port: number
  hostname: string
  /** Masthead's path (config.MASTHEAD_PATH), under which the stylesheet is served. */
  basePath?: string | undefined
}

/** Serves `fetch` on port and hostname as @hono/node-server's `serve` does, the stylesheet first. */
export function serveNode(options: NodeServerOptions, onListening?: (info: AddressInfo) => void): ServerType {
  const { fetch, port, hostname, basePath } = options
  const create = ((serverOptions: object, app: RequestListener) =>
    createServer(
      { ...serverOptions, ServerResponse: FramedResponse },
      stylesheetFirst(app, basePath ?? ''),
    )) as typeof createServer
  return serve({ fetch, port, hostname, createServer: create }, onListening)
}

/**
 * GET (and HEAD) of the stylesheet under `basePath` is answered from bytes and headers made once
 * (gzipped once, here, for browsers that take it), before @hono/node-server builds a request for
 * the app: nothing about it depends on who asks, so it needs none of the app (no request id, log
 * line or services, as through the app: src/ui/stylesheet.ts). Everything else goes to `app`.
 */
export function stylesheetFirst(app: RequestListener, basePath: string): RequestListener {
  const path = `${basePath}${STYLESHEET_PATH}`
  const stylesheet = stylesheetAnswers(gzipSync(STYLESHEET_BYTES, { level: constants.Z_BEST_COMPRESSION }))
  return (incoming, outgoing) => {
    const { method, url = '' } = incoming
    if (
      (method === 'GET' || method === 'HEAD') &&
      url.startsWith(path) &&
      (url.length === path.length || url.charCodeAt(path.length) === 63) // 63: '?', a query changes nothing
    ) {
      const { status, headers, body } = stylesheet.answer(
        incoming.headers['if-none-match'],
        incoming.headers['accept-encoding'],
      )
      outgoing.writeHead(status, headers)
      outgoing.end(method === 'HEAD' || body === null ? undefined : body)
      return
    }
    app(incoming, outgoing)
  }
}

/**
 * The response of Masthead's Node server: it takes the headers the app's frame adds to every
 * answer (the request id and the security headers, src/http/middleware.ts) as a list, and writes
 * them with the answer's own when the head is written, in one array. Set one by one on the
 * response, each was validated, lower-cased and stored in an object of its own, and once one was
 * set Node took every header of the answer through the same path: together with the log line
 * about a third of a cheap JSON route's CPU here (BENCHMARKS.md, path). Where the answer names a
 * header the frame added, the answer's own is written, as when the frame's went first.
 */
export class FramedResponse<Request extends IncomingMessage = IncomingMessage> extends ServerResponse<Request> {
  #added: (readonly [string, string])[] | undefined
  #cookies: string[] | undefined

  /** Headers for this answer (the request id; the security headers, a list made once per configuration), written with its head; the answer's own header of a name wins. */
  addHeaders(list: ReadonlyArray<readonly [string, string]>): void {
    const added = (this.#added ??= [])
    for (const pair of list) added.push(pair)
  }

  /**
   * Set-Cookie texts for this answer, written with its head after the answer's own, which make it
   * private: its Cache-Control becomes PRIVATE_WITH_COOKIES unless its own already keeps it from
   * shared caches (src/http/cookies.ts).
   */
  addCookies(cookies: readonly string[]): void {
    const kept = (this.#cookies ??= [])
    for (const cookie of cookies) kept.push(cookie)
  }

  override writeHead(
    statusCode: number,
    reasonOrHeaders?: string | OutgoingHttpHeaders | OutgoingHttpHeader[],
    headers?: OutgoingHttpHeaders | OutgoingHttpHeader[],
  ): this {
    const added = this.#added
    const cookies = this.#cookies
    if (added === undefined && cookies === undefined)
      return super.writeHead(statusCode, reasonOrHeaders as string, headers)
    this.#added = this.#cookies = undefined
    if (typeof reasonOrHeaders === 'string')
      return super.writeHead(statusCode, reasonOrHeaders, withAdded(headers, added, cookies, this))
    return super.writeHead(statusCode, withAdded(reasonOrHeaders, added, cookies, this))
  }
}

/** What decides where cookies go and whether the answer stays cacheable, when set before the head (setHeader). */
const EARLIER_FOR_COOKIES = ['set-cookie', 'cache-control']

/**
 * The answer's own headers, the added ones and the cookies as one flat list (name, value, …): an
 * added header the answer names is left out; the cookies follow the answer's own Set-Cookie (Node
 * writes every entry of a name in a flat list) and bring their Cache-Control. With cookies, the
 * answer's own include the Set-Cookie and Cache-Control set on `response` before the head, where
 * the head does not name them: a head that names a header drops what was set before it, as Node
 * does.
 */
function withAdded(
  own: OutgoingHttpHeaders | OutgoingHttpHeader[] | undefined,
  added: ReadonlyArray<readonly [string, string]> | undefined,
  cookies: readonly string[] | undefined,
  response: ServerResponse,
): OutgoingHttpHeader[] {
  const flat: OutgoingHttpHeader[] = []
  if (Array.isArray(own)) {
    if (own.length > 0 && Array.isArray(own[0]))
      for (const [name, value] of own as unknown as [string, string][]) flat.push(name, value)
    else for (const entry of own) flat.push(entry)
  } else if (own) {
    for (const name in own) {
      const value = own[name]
      if (value !== undefined) flat.push(name, value)
    }
  }
  if (cookies)
    for (const name of EARLIER_FOR_COOKIES) {
      const value = response.getHeader(name)
      if (value !== undefined && !names(flat, flat.length, name)) flat.push(name, value)
    }
  const ownLength = flat.length
  if (added) for (const [name, value] of added) if (!names(flat, ownLength, name)) flat.push(name, value)
  if (cookies) {
    let cacheControl = -1
    for (let i = 0; i < ownLength; i += 2) if (String(flat[i]).toLowerCase() === 'cache-control') cacheControl = i + 1
    if (cacheControl === -1) flat.push('Cache-Control', PRIVATE_WITH_COOKIES)
    else if (!keptFromSharedCaches(String(flat[cacheControl]))) flat[cacheControl] = PRIVATE_WITH_COOKIES
    for (const cookie of cookies) flat.push('Set-Cookie', cookie)
  }
  return flat
}

/** Whether the first `length` entries of a flat header list name `name` (in any case). */
function names(flat: OutgoingHttpHeader[], length: number, name: string): boolean {
  for (let i = 0; i < length; i += 2) {
    const other = String(flat[i])
    if (other.length === name.length && other.toLowerCase() === name.toLowerCase()) return true
  }
  return false
}
