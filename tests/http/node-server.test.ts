import { createHash } from 'node:crypto'
import { connect, type AddressInfo } from 'node:net'
import { Hono } from 'hono'
import type { ServerType } from '@hono/node-server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { onError } from '../../src/http/errors'
import { rawBody } from '../../src/http/input'
import { bodyLimit } from '../../src/http/middleware'
import { FramedResponse, serveNode } from '../../src/http/node-server'
import { createServer, type ServerResponse } from 'node:http'
import type { AppEnv } from '../../src/services'
import { createTestApp, type TestApp } from '../helpers/app'

interface Served {
  url: string
  close(): Promise<void>
}

/** The test app served as `npm start` serves it (src/http/node-server.ts) on a free port. */
async function serveApp(env: Record<string, string> = {}, basePath?: string): Promise<Served> {
  const t: TestApp = await createTestApp({ env })
  const server: ServerType = serveNode({ fetch: t.app.fetch, port: 0, hostname: '127.0.0.1', basePath })
  await new Promise((resolve) => server.once('listening', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      await new Promise((resolve) => server.close(resolve))
      await t.close()
    },
  }
}

/**
 * The headers every answer of Masthead's own carries, through @hono/node-server as `npm start`
 * serves the app: there frame sets them on Node's outgoing response, not on the Fetch
 * response (src/http/middleware.ts), so app.request() alone would not see that path.
 */
describe('security headers on the Node server', () => {
  let served: Served
  let url: string
  beforeAll(async () => {
    served = await serveApp({ STRIPE_API_URL: 'http://127.0.0.1:12111' })
    url = served.url
  })
  afterAll(() => served.close())

  it.each(['/', '/join', '/auth/sign-in', '/nothing-here'])('the page %s carries the page set', async (path) => {
    const res = await fetch(`${url}${path}`, { redirect: 'manual' })
    const csp = res.headers.get('content-security-policy')
    expect(csp).toContain("default-src 'self'")
    expect(csp).toContain("frame-ancestors 'none'")
    expect(csp?.match(/form-action ([^;]*)/)?.[1]).toBe(
      "'self' https://checkout.stripe.com https://billing.stripe.com http://127.0.0.1:12111",
    )
    expect(res.headers.get('x-frame-options')).toBe('DENY')
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('referrer-policy')).toBe('same-origin')
    expect(res.headers.get('strict-transport-security')).toBe('max-age=31536000; includeSubDomains')
    expect(res.headers.get('permissions-policy')).toBe('camera=(), microphone=(), geolocation=(), payment=()')
    expect(res.headers.get('x-request-id')).toMatch(/^[\w-]+$/)
    // Each header once: the route's own and these are not doubled.
    expect(res.headers.get('content-security-policy')).not.toContain(', ')
    await res.arrayBuffer()
  })

  it.each(['/api/entitlements', '/api/nothing-here', '/healthz'])(
    '%s, not a page, the set that lets nothing load',
    async (path) => {
      const res = await fetch(`${url}${path}`)
      expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'")
      expect(res.headers.get('x-content-type-options')).toBe('nosniff')
      expect(res.headers.get('x-frame-options')).toBe('DENY')
      expect(res.headers.get('permissions-policy')).toBeNull()
      expect(res.headers.get('x-request-id')).toMatch(/^[\w-]+$/)
      await res.arrayBuffer()
    },
  )

  it('an address refused before any handler (a control character) still gets its id and the headers', async () => {
    for (const path of ['/articles/%00', '/api/articles/a%00b']) {
      const res = await fetch(`${url}${path}`)
      expect(res.status).toBe(400)
      expect(res.headers.get('x-request-id')).toMatch(/^[\w-]+$/)
      expect(res.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/)
      expect(res.headers.get('x-frame-options')).toBe('DENY')
      expect(await res.text()).toContain('control character')
    }
  })

  it('an incoming well-formed X-Request-Id is kept, and a malformed one replaced', async () => {
    const kept = await fetch(`${url}/api/entitlements`, { headers: { 'X-Request-Id': 'proxy-id_123=' } })
    expect(kept.headers.get('x-request-id')).toBe('proxy-id_123=')
    await kept.arrayBuffer()
    const replaced = await fetch(`${url}/api/entitlements`, { headers: { 'X-Request-Id': 'bad id"\\' } })
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    await replaced.arrayBuffer()
  })

  it('serves the stylesheet with its own few headers', async () => {
    const res = await fetch(`${url}/assets/style.css`, { headers: { 'Accept-Encoding': 'identity' } })
    expect(res.status).toBe(200)
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('content-security-policy')).toBeNull()
    expect(res.headers.get('content-length')).toBe(String((await res.arrayBuffer()).byteLength))
  })
})

describe('the stylesheet on the Node server', () => {
  let served: Served
  let url: string
  beforeAll(async () => {
    served = await serveApp()
    url = served.url
  })
  afterAll(() => served.close())

  it('is gzipped for a browser that takes it from the first request, and plain otherwise; both validate', async () => {
    const plain = await fetch(`${url}/assets/style.css`, { headers: { 'Accept-Encoding': 'identity' } })
    const text = await plain.text()
    expect(plain.headers.get('content-encoding')).toBeNull()
    expect(plain.headers.get('content-length')).toBe(String(new TextEncoder().encode(text).byteLength))
    expect(plain.headers.get('content-type')).toBe('text/css; charset=utf-8')
    expect(text).toContain(':root')
    const gzipped = await fetch(`${url}/assets/style.css`, { headers: { 'Accept-Encoding': 'gzip, br' } })
    expect(gzipped.headers.get('content-encoding')).toBe('gzip')
    expect(Number(gzipped.headers.get('content-length'))).toBeLessThan(text.length / 2)
    expect(await gzipped.text()).toBe(text) // fetch decodes it
    expect(gzipped.headers.get('vary')).toBe('Accept-Encoding')
    expect(gzipped.headers.get('etag')).not.toBe(plain.headers.get('etag'))
    const refused = await fetch(`${url}/assets/style.css`, { headers: { 'Accept-Encoding': 'gzip;q=0, br' } })
    expect(refused.headers.get('content-encoding')).toBeNull()
    await refused.arrayBuffer()
    for (const etag of [plain.headers.get('etag')!, gzipped.headers.get('etag')!]) {
      const again = await fetch(`${url}/assets/style.css`, { headers: { 'If-None-Match': `"other", W/${etag}` } })
      expect(again.status).toBe(304)
      expect(again.headers.get('etag')).toBe(etag)
      expect(await again.text()).toBe('')
    }
  })

  it('answers HEAD with the headers alone, and a query string changes nothing', async () => {
    const head = await fetch(`${url}/assets/style.css`, { method: 'HEAD', headers: { 'Accept-Encoding': 'identity' } })
    expect(head.status).toBe(200)
    expect(Number(head.headers.get('content-length'))).toBeGreaterThan(1000)
    expect(await head.text()).toBe('')
    const versioned = await fetch(`${url}/assets/style.css?v=2`)
    expect(versioned.status).toBe(200)
    expect(await versioned.text()).toContain(':root')
    // Not the stylesheet: the app answers (and says so with its own headers).
    for (const path of ['/assets/style.cssx', '/assets/style.css/more']) {
      const other = await fetch(`${url}${path}`)
      expect(other.status).toBe(404)
      expect(other.headers.get('x-request-id')).toMatch(/^[\w-]+$/)
      await other.arrayBuffer()
    }
    const posted = await fetch(`${url}/assets/style.css`, { method: 'POST' })
    expect(posted.status).not.toBe(200)
    expect(posted.headers.get('x-request-id')).toMatch(/^[\w-]+$/)
    await posted.arrayBuffer()
  })
})

describe('the stylesheet on the Node server under MASTHEAD_PATH', () => {
  let served: Served
  beforeAll(async () => (served = await serveApp({ MASTHEAD_PATH: '/members' }, '/members')))
  afterAll(() => served.close())

  it('is served under the path, and the same address outside it is not', async () => {
    const res = await fetch(`${served.url}/members/assets/style.css`, { headers: { 'Accept-Encoding': 'gzip' } })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-encoding')).toBe('gzip')
    expect(await res.text()).toContain(':root')
    const outside = await fetch(`${served.url}/assets/style.css`)
    expect(outside.status).toBe(404)
    await outside.arrayBuffer()
  })
})

/**
 * rawBody (src/http/input.ts) reads a body with a Content-Length straight from Node's request on
 * the Node server, and through the app otherwise; bodyLimit judges a declared length without
 * reading, and counts a chunked body as it comes.
 */
describe('request bodies on the Node server', () => {
  let server: ServerType
  let url: string
  beforeAll(async () => {
    const app = new Hono<AppEnv>()
    app.use((c, next) => {
      c.set('services', { config: { MAX_BODY_BYTES: 1000 } } as AppEnv['Variables']['services'])
      c.set('audience', 'machines')
      return next()
    })
    app.post('/echo', bodyLimit(), async (c) => {
      const bytes = await rawBody(c)
      return c.json({ length: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') })
    })
    app.onError(onError)
    server = serveNode({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' })
    await new Promise((resolve) => server.once('listening', resolve))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

  const bytesOf = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) % 256)
  const digest = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

  it('reads a body with a Content-Length whole, in one chunk or several', async () => {
    for (const n of [0, 1, 999, 1000]) {
      const body = bytesOf(n)
      const res = await fetch(`${url}/echo`, { method: 'POST', body })
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ length: n, sha256: digest(body) })
    }
  })

  it('reads a body that came with its headers, and one that comes later in pieces, the same', async () => {
    // Sent whole with the headers, the body waits in the request's buffer and is taken in one read; sent after
    // them in two pieces, it is read as it comes.
    const body = Buffer.from(bytesOf(700))
    const { port } = new URL(url)
    const post = (pieces: Buffer[]) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1')
        let answer = ''
        socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')))
        socket.on('end', () => resolve(answer))
        socket.on('error', reject)
        pieces.forEach((piece, i) => setTimeout(() => socket.write(piece), 30 * i))
      })
    const head = Buffer.from(
      `POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
      'latin1',
    )
    for (const pieces of [[Buffer.concat([head, body])], [head, body.subarray(0, 300), body.subarray(300)]]) {
      const answer = await post(pieces)
      expect(answer.startsWith('HTTP/1.1 200')).toBe(true)
      expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toEqual({ length: 700, sha256: digest(body) })
    }
  })

  it('reads a chunked body (no Content-Length) through the app, within the limit', async () => {
    const body = bytesOf(900)
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(body.slice(0, 400))
        controller.enqueue(body.slice(400))
        controller.close()
      },
    })
    const res = await fetch(`${url}/echo`, { method: 'POST', body: stream, duplex: 'half' } as RequestInit)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ length: 900, sha256: digest(body) })
  })

  it('refuses a body over the limit with 413, declared or chunked', async () => {
    const declared = await fetch(`${url}/echo`, { method: 'POST', body: bytesOf(1001) })
    expect(declared.status).toBe(413)
    expect((await declared.json()).error.code).toBe('payload_too_large')
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 3; i++) controller.enqueue(bytesOf(500))
        controller.close()
      },
    })
    const chunked = await fetch(`${url}/echo`, { method: 'POST', body: stream, duplex: 'half' } as RequestInit)
    expect(chunked.status).toBe(413)
    await chunked.arrayBuffer()
  })
})

/**
 * FramedResponse keeps the headers the frame adds and writes them with the answer's own head: each
 * way Node writes a head (writeHead with an object, an array, a reason phrase; setHeader first; no
 * writeHead at all), the answer's own header wins a shared name, and nothing is written twice.
 */
describe("the Node server's response with headers added", () => {
  let url: string
  let server: ReturnType<typeof createServer>
  const FRAME: ReadonlyArray<readonly [string, string]> = [
    ['X-Frame-Options', 'DENY'],
    ['Content-Security-Policy', "default-src 'none'"],
  ]
  const ways: Record<string, (res: ServerResponse) => void> = {
    object: (res) => res.writeHead(200, { 'content-type': 'text/plain', 'Set-Cookie': ['a=1', 'b=2'] }).end('object'),
    array: (res) => res.writeHead(200, ['Content-Type', 'text/plain', 'X-Own', 'yes']).end('array'),
    pairs: (res) =>
      res
        .writeHead(200, [
          ['Content-Type', 'text/plain'],
          ['X-Own', 'yes'],
        ] as unknown as string[])
        .end('pairs'),
    reason: (res) => res.writeHead(202, 'Taken', { 'Content-Type': 'text/plain' }).end('reason'),
    own: (res) => res.writeHead(200, { 'content-security-policy': "default-src 'self'" }).end('own'),
    'set first': (res) => {
      res.setHeader('X-Earlier', 'set before')
      res.writeHead(200, { 'X-Frame-Options': 'SAMEORIGIN' }).end('set first')
    },
    implicit: (res) => {
      res.statusCode = 201
      res.end('implicit')
    },
    // With cookies added too (the ways whose names start with 'cookies'):
    'cookies public': (res) =>
      res.writeHead(200, { 'Cache-Control': 'public, max-age=60', 'Set-Cookie': ['own=1', 'own=2'] }).end('c'),
    'cookies no-store': (res) => res.writeHead(200, ['cache-control', 'no-store', 'set-cookie', 'own=1']).end('c'),
    'cookies none': (res) => res.writeHead(200, { 'Content-Type': 'text/plain' }).end('c'),
    'cookies set first': (res) => {
      res.setHeader('Set-Cookie', 'earlier=1')
      res.setHeader('Cache-Control', 'public')
      res.end('c')
    },
  }
  beforeAll(async () => {
    server = createServer({ ServerResponse: FramedResponse }, (req, res) => {
      const framed = res as FramedResponse
      framed.addHeaders([['X-Request-Id', 'req-1']])
      framed.addHeaders(FRAME)
      const way = decodeURIComponent(req.url!.slice(1))
      if (way.startsWith('cookies')) framed.addCookies(['masthead_view=v; Path=/', 'masthead_session=s; Path=/'])
      ways[way]!(res)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

  const raw = async (way: string) => {
    const res = await fetch(`${url}/${encodeURIComponent(way)}`)
    return { res, body: await res.text() }
  }

  it.each(['object', 'array', 'pairs', 'reason', 'implicit'])(
    "%s: the added headers and the answer's own",
    async (way) => {
      const { res, body } = await raw(way)
      expect(body).toBe(way)
      expect(res.headers.get('x-request-id')).toBe('req-1')
      expect(res.headers.get('x-frame-options')).toBe('DENY')
      expect(res.headers.get('content-security-policy')).toBe("default-src 'none'")
      if (way !== 'implicit') expect(res.headers.get('content-type')).toBe('text/plain')
    },
  )

  it('keeps the status, the reason phrase and every Set-Cookie', async () => {
    expect((await raw('reason')).res.status).toBe(202)
    expect((await raw('reason')).res.statusText).toBe('Taken')
    expect((await raw('implicit')).res.status).toBe(201)
    expect((await raw('object')).res.headers.getSetCookie()).toEqual(['a=1', 'b=2'])
    expect((await raw('array')).res.headers.get('x-own')).toBe('yes')
    expect((await raw('pairs')).res.headers.get('x-own')).toBe('yes')
  })

  it("writes the answer's own header where both name it, once", async () => {
    const own = (await raw('own')).res
    expect(own.headers.get('content-security-policy')).toBe("default-src 'self'") // not joined with the frame's
    const first = (await raw('set first')).res
    expect(first.headers.get('x-frame-options')).toBe('SAMEORIGIN')
    expect(first.headers.get('x-earlier')).toBe('set before')
    expect(first.headers.get('x-request-id')).toBe('req-1')
  })

  it("writes the cookies after the answer's own, and makes the answer private unless it already was", async () => {
    const ours = ['masthead_view=v; Path=/', 'masthead_session=s; Path=/']
    const cases: [string, string[], string][] = [
      ['cookies public', ['own=1', 'own=2', ...ours], 'private, no-cache'],
      ['cookies no-store', ['own=1', ...ours], 'no-store'],
      ['cookies none', ours, 'private, no-cache'],
      ['cookies set first', ['earlier=1', ...ours], 'private, no-cache'],
    ]
    for (const [way, cookies, cacheControl] of cases) {
      const { res, body } = await raw(way)
      expect(body, way).toBe('c')
      expect(res.headers.getSetCookie(), way).toEqual(cookies)
      expect(res.headers.get('cache-control'), way).toBe(cacheControl)
      expect(res.headers.get('x-request-id'), way).toBe('req-1')
    }
    // An answer without cookies added keeps its own Cache-Control and cookies.
    expect((await raw('object')).res.headers.get('cache-control')).toBeNull()
  })
})
