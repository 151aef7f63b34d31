import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { seedDemoTiers } from '../../src/dev/demo-tiers'
import { MAX_LIFETIME_S, memoryPageCache, sharedLifetime } from '../../src/gateway/page-cache'
import { createTestApp, fixedClock, type TestApp } from '../helpers/app'
import { startStubOrigin } from '../helpers/origin'
import { makeReader } from '../helpers/readers'

/**
 * The Node server's cache of rewritten pages (src/gateway/page-cache.ts): a page the origin lets
 * shared caches keep is fetched and rewritten once per benefit set and lifetime, as Cloudflare's
 * cache does it on Workers; the key names no one, and what is private is never kept.
 */

const html = (body: string, headers: Record<string, string> = {}) =>
  new Response(body, { headers: { 'content-type': 'text/html', ...headers } })
const key = (path: string) => new Request(`http://cache.test${path}`)

describe('how long the origin lets a page be kept', () => {
  it('reads s-maxage before max-age, less the Age it has already, at most MAX_LIFETIME_S', () => {
    const of = (headers: Record<string, string>) => sharedLifetime(new Headers(headers))
    expect(of({ 'cache-control': 'public, max-age=60' })).toBe(60)
    expect(of({ 'cache-control': 'max-age=60, s-maxage=30' })).toBe(30)
    expect(of({ 'cache-control': 'public, max-age=60', age: '45' })).toBe(15)
    expect(of({ 'cache-control': 'public, max-age=60', age: '90' })).toBe(0)
    expect(of({ 'cache-control': 'public, max-age=86400' })).toBe(MAX_LIFETIME_S)
    expect(of({ 'cache-control': 'public' })).toBe(0)
    expect(of({})).toBe(0)
  })
})

describe('the cache itself', () => {
  it('gives back what was put, with its Age, until its lifetime ends', async () => {
    const clock = fixedClock()
    const cache = memoryPageCache({ maxBytes: 1024 * 1024, clock })
    await cache.put(key('/a'), html('<p>page a</p>', { 'cache-control': 'public, max-age=60', 'x-origin': 'kept' }))
    clock.advance(59_000)
    const hit = await cache.match(key('/a'))
    expect(await hit?.text()).toBe('<p>page a</p>')
    expect(hit?.headers.get('x-origin')).toBe('kept')
    expect(hit?.headers.get('age')).toBe('59')
    clock.advance(1_000)
    expect(await cache.match(key('/a'))).toBeUndefined()
  })

  it('keeps nothing without a shared lifetime, and nothing bigger than an eighth of it, yet reads it all', async () => {
    const cache = memoryPageCache({ maxBytes: 8000, clock: fixedClock() })
    await cache.put(key('/none'), html('<p>no lifetime</p>'))
    expect(await cache.match(key('/none'))).toBeUndefined()
    let pulled = 0
    const big = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 1
        if (pulled > 4) return controller.close()
        controller.enqueue(new Uint8Array(600))
      },
    })
    await cache.put(key('/big'), new Response(big, { headers: { 'cache-control': 'max-age=60' } }))
    expect(pulled).toBe(5) // read to its end, so the reader's side of a tee never waits for it
    expect(await cache.match(key('/big'))).toBeUndefined()
  })

  it('lets the least recently used pages go first when it is full', async () => {
    const cache = memoryPageCache({ maxBytes: 8 * 1000, clock: fixedClock() })
    const page = (n: number) => html(`${n}`.padEnd(1000, '.'), { 'cache-control': 'max-age=60' })
    for (let n = 0; n < 8; n++) await cache.put(key(`/${n}`), page(n))
    expect(await cache.match(key('/0'))).toBeDefined() // now the most recently used
    await cache.put(key('/8'), page(8))
    expect(await cache.match(key('/1'))).toBeUndefined()
    for (const n of [0, 2, 3, 4, 5, 6, 7, 8]) expect(await cache.match(key(`/${n}`)), `/${n}`).toBeDefined()
  })
})

describe('the gateway with the cache (gateway mode on Node)', () => {
  const clock = fixedClock('2026-11-25T12:00:00Z')
  let origin: Awaited<ReturnType<typeof startStubOrigin>>
  let t: TestApp
  const page = { Accept: 'text/html' }
  const get = (path: string, headers: Record<string, string> = page) => t.app.request(path, { headers })

  beforeAll(async () => {
    origin = await startStubOrigin()
    t = await createTestApp({
      clock,
      env: { ORIGIN_URL: origin.url, PUBLICATION_NAME: 'The Demo Ledger' },
      pageCache: memoryPageCache({ maxBytes: 4 * 1024 * 1024, clock }),
    })
    await seedDemoTiers(t.services.db, clock.now())
  })
  afterAll(async () => {
    await t.close()
    await origin.close()
  })

  it('asks the origin once per lifetime for anonymous readers, and serves the same rewritten page', async () => {
    const first = await get('/markers')
    const firstHtml = await first.text()
    const second = await get('/markers')
    expect(await second.text()).toBe(firstHtml)
    expect(origin.hits.get('/markers')).toBe(1)
    expect(firstHtml).not.toContain('SUPPORTERS-SECRET')
    expect(second.headers.get('age')).toBe('0')
    expect(second.headers.get('vary')).toContain('Cookie')
    expect(second.headers.get('x-request-id')).not.toBe(first.headers.get('x-request-id'))
    clock.advance(120_000) // the origin's max-age
    await (await get('/markers')).text()
    expect(origin.hits.get('/markers')).toBe(2)
  })

  it('keeps one copy per benefit set: supporters of a tier share theirs, and never get the anonymous one', async () => {
    const before = origin.hits.get('/articles/river-report') ?? 0
    const anonymous = await (await get('/articles/river-report')).text()
    const patron = (n: number) =>
      makeReader(t.services.db, t.services.config, clock.now(), `patron${n}@cache.example`, { comp: 'patron' })
    const [one, two] = [await patron(1), await patron(2)]
    const asOne = await get('/articles/river-report', { ...page, Cookie: one })
    const oneHtml = await asOne.text()
    const twoHtml = await (await get('/articles/river-report', { ...page, Cookie: two })).text()
    expect(origin.hits.get('/articles/river-report')).toBe(before + 2) // anonymous, then the Patron tier's
    expect(twoHtml).toBe(oneHtml)
    expect(oneHtml).not.toBe(anonymous)
    expect(oneHtml).not.toContain('data-masthead-ad')
    expect(anonymous).toContain('data-masthead-ad')
    expect(asOne.headers.get('cache-control')).toBe('private, no-cache')
  })

  it('takes a cache that fails for a miss, and asks it no more: the page is fetched and rewritten as usual', async () => {
    const asked: string[] = []
    const failing = await createTestApp({
      clock,
      env: { ORIGIN_URL: origin.url },
      // As workerd run without a cache configured answers caches.default.
      pageCache: {
        match: () => (asked.push('match'), Promise.reject(new Error('No Cache was configured'))),
        put: () => (asked.push('put'), Promise.reject(new Error('No Cache was configured'))),
      },
    })
    try {
      for (let i = 0; i < 3; i++) {
        const res = await failing.app.request('/markers', { headers: page })
        expect(res.status).toBe(200)
        expect(await res.text()).toContain('AD-SLOT')
      }
      expect(asked).toEqual(['match'])
    } finally {
      await failing.close()
    }
  })

  it('keeps nothing the origin does not let shared caches keep, and nothing but page views', async () => {
    await get('/') // the demo front page says nothing of caching
    await get('/')
    expect(origin.hits.get('/')).toBe(2)
    await get('/cookies') // sets cookies
    await get('/cookies')
    expect(origin.hits.get('/cookies')).toBe(2)
    const before = origin.hits.get('/markers') ?? 0
    await get('/markers', {}) // not asking for HTML (a script, a crawler of something else)
    await get('/markers', {})
    expect(origin.hits.get('/markers')).toBe(before + 2)
  })
})
