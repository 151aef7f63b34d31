/**
 * Gateway mode in the real Worker (wrangler's bundle in workerd, whose own
 * HTMLRewriter does the rewriting), in front of a stub origin on this machine.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config'
import { connectPostgres, type DatabaseHandle } from '../../src/db/client'
import { seedDemoTiers } from '../../src/dev/demo-tiers'
import { BINARY, closedPort, startStubOrigin } from '../helpers/origin'
import { makeReader, MALFORMED, MARKERS, READERS } from '../helpers/readers'
import { startTestWorker, type TestWorker } from './harness'

let origin: Awaited<ReturnType<typeof startStubOrigin>>
let worker: TestWorker
let database: DatabaseHandle
const vars = {
  AD_SELECTORS: 'ins.adsbygoogle',
  ORIGIN_BLOCKED_PATHS: '/feed*',
  PUBLICATION_NAME: 'The Demo Ledger',
  ORIGIN_TIMEOUT_MS: '500',
}

beforeAll(async () => {
  origin = await startStubOrigin()
  worker = await startTestWorker({ ORIGIN_URL: origin.url, ...vars })
  database = connectPostgres(worker.databaseUrl, { max: 1 })
  await seedDemoTiers(database.db, new Date())
})
afterAll(async () => {
  await database?.close()
  await worker?.stop()
  await origin?.close()
})

const view = (path: string, cookie?: string) =>
  worker.fetch(path, { headers: cookie ? { Cookie: cookie } : {}, redirect: 'manual' })

describe('the Worker as the gateway', () => {
  const config = loadConfig({ APP_ENV: 'test', APP_URL: 'http://localhost:8787', ORIGIN_URL: 'http://origin.invalid' })
  for (const { who, reader, sees } of READERS) {
    it(`${who} sees ${sees.length} of ${MARKERS.length} marked parts, and nothing of the rest`, async () => {
      const cookie = reader
        ? await makeReader(
            database.db,
            config,
            new Date(),
            `${reader.email}@worker.example`,
            reader.membership,
            reader.role,
          )
        : undefined
      const res = await view('/markers', cookie)
      expect(res.status).toBe(200)
      const html = await res.text()
      for (const marker of MARKERS) {
        if (sees.includes(marker)) expect(html, marker).toContain(marker)
        else expect(html, marker).not.toContain(marker)
      }
      if (cookie) expect(res.headers.getSetCookie().some((c) => c.startsWith('masthead_view='))).toBe(true)
    })
  }

  it('decides the next page view from the cookie it issued', async () => {
    const cookie = await makeReader(database.db, config, new Date(), 'cookie@worker.example', { comp: 'reader' })
    const first = await view('/markers', cookie)
    const viewCookie = first.headers
      .getSetCookie()
      .find((c) => c.startsWith('masthead_view='))!
      .split(';')[0]
    const second = await view('/markers', `${cookie}; ${viewCookie}`)
    expect(await second.text()).toContain('SUPPORTERS-SECRET')
    expect(second.headers.getSetCookie()).toEqual([])
  })

  it('reads its cookies amid others, and refuses changed claims under the signature of one it verified', async () => {
    const cookie = await makeReader(database.db, config, new Date(), 'forged@worker.example')
    const issued = (await view('/markers', cookie)).headers
      .getSetCookie()
      .find((c) => c.startsWith('masthead_view='))!
      .split(';')[0]!
    // Verified and remembered, with other cookies around and a repeated name (the last one counts).
    const again = await view('/markers', `theme=dark;masthead_view=stale; ${cookie};${issued} ; lang=en`)
    expect(again.headers.getSetCookie()).toEqual([])
    expect(await again.text()).not.toContain('SUPPORTERS-SECRET')
    const [header, payload, signature] = issued.slice('masthead_view='.length).split('.')
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>
    const forged = Buffer.from(JSON.stringify({ ...claims, benefits: ['adFree', 'supportersOnlyContent'] })).toString(
      'base64url',
    )
    const res = await view('/markers', `${cookie}; masthead_view=${header}.${forged}.${signature}`)
    expect(await res.text()).not.toContain('SUPPORTERS-SECRET') // the session was read instead
    expect(res.headers.getSetCookie().some((c) => c.startsWith('masthead_view='))).toBe(true)
  })

  it('passes binary bodies, redirects and the origin’s cookies through', async () => {
    expect(new Uint8Array(await (await view('/binary')).arrayBuffer())).toEqual(BINARY)
    const moved = await view('/moved')
    expect(moved.status).toBe(302)
    expect(moved.headers.get('location')).toBe('/articles/council-budget')
    expect((await view('/cookies')).headers.getSetCookie()).toEqual([
      'origin_a=1; Path=/',
      'origin_b=2; Path=/; HttpOnly',
    ])
  })

  it('sends its own cookies beside the origin’s, and keeps such a page from shared caches', async () => {
    const cookie = await makeReader(database.db, config, new Date(), 'both@worker.example')
    const res = await view('/cookies', cookie)
    const set = res.headers.getSetCookie()
    expect(set.slice(0, 2)).toEqual(['origin_a=1; Path=/', 'origin_b=2; Path=/; HttpOnly'])
    expect(set.some((c) => c.startsWith('masthead_view='))).toBe(true)
    expect(res.headers.get('cache-control')).toMatch(/\b(private|no-store)\b/)
  })

  it('never lets Masthead’s cookies reach the origin', async () => {
    const cookie = await makeReader(database.db, config, new Date(), 'echo@worker.example')
    const seen = (await (await view('/echo/x', `${cookie}; theme=dark`)).json()) as { headers: Record<string, string> }
    expect(seen.headers.cookie).toBe('theme=dark')
  })

  it('caches a page the origin lets caches keep once per benefit set, never per reader', async () => {
    const html = { Accept: 'text/html' }
    const path = '/articles/river-report'
    const patron = () =>
      makeReader(database.db, config, new Date(), `${crypto.randomUUID()}@worker.example`, { comp: 'patron' })
    const first = await worker.fetch(path, { headers: { ...html, Cookie: await patron() } })
    expect(await first.text()).not.toContain('Advertisement')
    const second = await worker.fetch(path, { headers: { ...html, Cookie: await patron() } })
    const page = await second.text()
    expect(page).not.toContain('Advertisement')
    expect(page).toContain('For supporters')
    expect(origin.hits.get(path)).toBe(1) // the second Patron got the first one's copy
    expect(second.headers.get('cache-control')).toBe('private, no-cache') // but the browser keeps it to itself

    const anonymous = await worker.fetch(path, { headers: html })
    const anonymousPage = await anonymous.text()
    expect(anonymousPage).toContain('Advertisement')
    expect(anonymousPage).not.toContain('Supporters-only paragraph')
    expect(origin.hits.get(path)).toBe(2) // another benefit set, another copy
  })

  for (const { who, membership, sees, never } of MALFORMED) {
    it(`rewrites nested markers and malformed HTML for ${who}, leaking nothing`, async () => {
      const cookie = membership
        ? await makeReader(database.db, config, new Date(), `${crypto.randomUUID()}@worker.example`, membership)
        : undefined
      const html = await (await view('/malformed', cookie)).text()
      for (const text of sees) expect(html, text).toContain(text)
      for (const text of never) expect(html, text).not.toContain(text)
    })
  }

  it('passes form posts through', async () => {
    const posted = await worker.fetch('/subscribe', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'email=reader%40example.org',
    })
    expect(posted.status).toBe(201)
    expect(await posted.text()).toContain('thanks reader@example.org')
  })

  it('answers 504 in the publication’s name when the origin is too slow', async () => {
    const res = await view('/slow')
    expect(res.status).toBe(504)
    const html = await res.text()
    expect(html).toContain('The Demo Ledger')
    expect(html).toContain(res.headers.get('x-request-id')!)
  })

  it('answers blocked paths and Masthead’s own space itself', async () => {
    expect((await view('/feed.xml')).status).toBe(404)
    expect((await view('/members/healthz')).status).toBe(200)
    expect((await view('/members/api/entitlements')).headers.get('content-type')).toContain('application/json')
  })
})

describe('the Worker with its origin down', () => {
  let down: TestWorker
  beforeAll(async () => {
    down = await startTestWorker({ ORIGIN_URL: await closedPort(), ...vars })
  })
  afterAll(() => down?.stop())

  it('answers 502, and never anything from the origin', async () => {
    const res = await down.fetch('/articles/council-budget')
    expect(res.status).toBe(502)
    expect(await res.text()).toContain('The site cannot be reached')
  })
})
