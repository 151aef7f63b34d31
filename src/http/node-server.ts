/**
 * The Node server (src/node.ts, and the tests that serve the app over HTTP): @hono/node-server's,
 * with the one static asset answered before it. Node-only: the Worker entry never imports it.
 */
import type { AddressInfo } from 'node:net'
import { createServer, type RequestListener } from 'node:http'
import { constants, gzipSync } from 'node:zlib'
import { serve, type ServerType } from '@hono/node-server'
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
    createServer(serverOptions, stylesheetFirst(app, basePath ?? ''))) as typeof createServer
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
