/**
 * provideServices (src/http/middleware.ts) lets go of a request's services (on Workers, its
 * database connection) only once the response's body has been sent: a streamed body, such as the
 * CSV export, still reads from the database after the handler has returned.
 */
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { provideServices } from '../../src/http/middleware'
import type { AppEnv, Services } from '../../src/services'

/** An app whose one route streams two chunks, the second only when `next` is called; and a Worker-like context. */
function setup(opened: boolean) {
  const events: string[] = []
  let next!: () => void
  const second = new Promise<void>((resolve) => (next = resolve))
  const app = new Hono<AppEnv>()
  app.use(
    provideServices(() => ({
      services: {} as Services,
      release: opened
        ? async () => {
            events.push('released')
            return Promise.resolve()
          }
        : undefined,
    })),
  )
  app.get('/stream', () => {
    const encoder = new TextEncoder()
    let sent = 0
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent === 1) await second
        sent += 1
        events.push(`chunk ${sent}`)
        controller.enqueue(encoder.encode(`part ${sent};`))
        if (sent === 2) controller.close()
      },
    })
    return new Response(body, { headers: { 'content-type': 'text/csv' } })
  })
  const waiting: Promise<unknown>[] = []
  const ctx = { waitUntil: (p: Promise<unknown>) => void waiting.push(p), passThroughOnException: () => {}, props: {} }
  return { app, ctx, events, next, settled: () => Promise.all(waiting) }
}

describe('releasing services on Workers', () => {
  it('waits for a streamed body to be read to its end', async () => {
    const { app, ctx, events, next, settled } = setup(true)
    const res = await app.fetch(new Request('http://x/stream'), {}, ctx)
    expect(res.headers.get('content-type')).toBe('text/csv')
    const reader = res.body!.getReader()
    const decoder = new TextDecoder()
    expect(decoder.decode((await reader.read()).value)).toBe('part 1;')
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(events).toEqual(['chunk 1'])
    next()
    expect(decoder.decode((await reader.read()).value)).toBe('part 2;')
    expect((await reader.read()).done).toBe(true)
    await settled()
    expect(events).toEqual(['chunk 1', 'chunk 2', 'released'])
  })

  it('releases when the reader goes away mid-body', async () => {
    const { app, ctx, events, settled } = setup(true)
    const res = await app.fetch(new Request('http://x/stream'), {}, ctx)
    const reader = res.body!.getReader()
    await reader.read()
    await reader.cancel()
    await settled()
    expect(events).toContain('released')
  })

  it('leaves the body alone when nothing was opened', async () => {
    const { app, ctx, events, next, settled } = setup(false)
    const res = await app.fetch(new Request('http://x/stream'), {}, ctx)
    next()
    expect(await res.text()).toBe('part 1;part 2;')
    await settled()
    expect(events).toEqual(['chunk 1', 'chunk 2'])
  })
})
