import { HTMLRewriter as PackageRewriter } from 'htmlrewriter'
import { describe, expect, it } from 'vitest'
import { HTMLRewriter } from '../../src/gateway/html-rewriter'

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** An origin body given in the pieces listed, counting how many the rewriter has asked for. */
function origin(pieces: string[]) {
  const state = { pulled: 0, cancelled: null as unknown }
  const body = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        const piece = pieces[state.pulled++]
        if (piece === undefined) controller.close()
        else controller.enqueue(encoder.encode(piece))
      },
      cancel(reason) {
        state.cancelled = reason ?? 'cancelled'
      },
    },
    { highWaterMark: 0 },
  )
  return { response: new Response(body, { headers: { 'content-type': 'text/html' } }), state }
}

async function chunksOf(response: Response): Promise<string[]> {
  const chunks: string[] = []
  const reader = response.body!.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return chunks
    chunks.push(decoder.decode(value))
  }
}

/** A page where every handler changes something, so lol-html gives its output in many small pieces. */
const PIECES = [
  '<html><head><title>T</title></head><body>',
  '<p>one <span class="ad">ad</span> two <span class="ad">ad</span> three</p>',
  '<div data-x="1">keep</div><div data-x="2">drop</div>',
  '</body></html>',
]
type ElementHandlers = Parameters<InstanceType<typeof PackageRewriter>['on']>[1]
const handlers = <R extends { on(selector: string, handlers: ElementHandlers): unknown }>(r: R): R => {
  r.on('.ad', { element: (e) => void e.remove() })
  r.on('[data-x="2"]', { element: (e) => void e.replace('<b>new</b>', { html: true }) })
  r.on('[data-x="1"]', { element: (e) => void e.setAttribute('data-seen', '') })
  return r
}

describe('HTMLRewriter on Node (src/gateway/html-rewriter.ts)', () => {
  it('rewrites exactly as the htmlrewriter package does', async () => {
    const ours = await handlers(new HTMLRewriter()).transform(origin(PIECES).response).text()
    const theirs = await handlers(new PackageRewriter()).transform(origin(PIECES).response).text()
    expect(ours).toBe(theirs)
    expect(ours).toBe(
      '<html><head><title>T</title></head><body><p>one  two  three</p>' +
        '<div data-x="1" data-seen="">keep</div><b>new</b></body></html>',
    )
  })

  it('gives one chunk for each piece of the origin’s page, where the package gives many', async () => {
    const ours = await chunksOf(handlers(new HTMLRewriter()).transform(origin(PIECES).response))
    const theirs = await chunksOf(handlers(new PackageRewriter()).transform(origin(PIECES).response))
    expect(ours.length).toBeLessThanOrEqual(PIECES.length + 1)
    expect(theirs.length).toBeGreaterThan(ours.length)
    expect(ours.join('')).toBe(theirs.join(''))
  })

  it('reads the origin only as fast as the reader reads', async () => {
    const { response, state } = origin(PIECES)
    const reader = handlers(new HTMLRewriter()).transform(response).body!.getReader()
    await reader.read()
    await new Promise((resolve) => setTimeout(resolve, 20))
    // lol-html may hold back the end of a piece until it sees the next: never more than that.
    expect(state.pulled).toBeLessThanOrEqual(2)
    await reader.cancel('gone')
    expect(state.cancelled).toBe('gone')
  })

  it('fails the page when the origin fails, and when a selector is refused', async () => {
    const failing = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.error(new Error('origin reset'))
      },
    })
    const page = handlers(new HTMLRewriter()).transform(new Response(failing))
    await expect(page.text()).rejects.toThrow('origin reset')
    const refused = new HTMLRewriter().on('p:hover', {}).transform(origin(PIECES).response)
    await expect(refused.text()).rejects.toThrow()
  })

  it('keeps status and headers, less Content-Length, and a null body null', async () => {
    const response = new Response('<p>x</p>', {
      status: 404,
      statusText: 'Not Found',
      headers: { 'content-type': 'text/html', 'content-length': '8', 'x-origin': 'yes' },
    })
    const page = new HTMLRewriter().transform(response)
    expect(page.status).toBe(404)
    expect(page.statusText).toBe('Not Found')
    expect(page.headers.get('x-origin')).toBe('yes')
    expect(page.headers.get('content-length')).toBeNull()
    expect(await page.text()).toBe('<p>x</p>')
    expect(new HTMLRewriter().transform(new Response(null, { status: 204 })).body).toBeNull()
  })
})
