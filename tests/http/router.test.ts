import { Hono } from 'hono'
import { TrieRouter } from 'hono/router/trie-router'
import { describe, expect, it } from 'vitest'
import { RememberingRouter } from '../../src/http/router'

/** A TrieRouter that counts the walks it makes. */
function countingTrie() {
  const trie = new TrieRouter<string>()
  let walks = 0
  const router = {
    name: 'counting',
    add: (method: string, path: string, handler: string) => trie.add(method, path, handler),
    match: (method: string, path: string) => {
      walks++
      return trie.match(method, path)
    },
  }
  return { router, walks: () => walks }
}

const handlersOf = (result: ReturnType<RememberingRouter<string>['match']>) =>
  (result[0] as [string, Record<string, string>][]).map(([handler, params]) => [handler, params])

describe('the remembering router', () => {
  it('answers as the router it wraps, and walks it once per method and path', () => {
    const { router, walks } = countingTrie()
    const remembering = new RememberingRouter<string>(router, 10)
    const plain = new TrieRouter<string>()
    for (const r of [remembering, plain]) {
      r.add('ALL', '/*', 'every request')
      r.add('GET', '/articles/new', 'new')
      r.add('GET', '/articles/:id', 'article')
      r.add('POST', '/articles/:id', 'save')
    }
    const asked: [string, string][] = [
      ['GET', '/articles/new'],
      ['GET', '/articles/42'],
      ['POST', '/articles/42'],
      ['GET', '/articles/43'],
      ['GET', '/nothing'],
    ]
    for (const [method, path] of [...asked, ...asked]) {
      expect(handlersOf(remembering.match(method, path))).toEqual(handlersOf(plain.match(method, path)))
    }
    expect(walks()).toBe(asked.length)
    expect(handlersOf(remembering.match('GET', '/articles/43'))).toEqual([
      ['every request', {}],
      ['article', { id: '43' }],
    ])
  })

  it('keeps at most its limit of answers, then starts again', () => {
    const { router, walks } = countingTrie()
    const remembering = new RememberingRouter<string>(router, 3)
    remembering.add('GET', '/page/:n', 'page')
    for (let n = 0; n < 10; n++) remembering.match('GET', `/page/${n}`)
    expect(remembering.remembered).toBeLessThanOrEqual(3)
    expect(walks()).toBe(10)
    remembering.match('GET', '/page/9') // the last one asked is still known
    expect(walks()).toBe(10)
    expect(handlersOf(remembering.match('GET', '/page/0'))).toEqual([['page', { n: '0' }]])
    expect(walks()).toBe(11)
  })

  it('serves a Hono app: each request gets its own parameters, however often its path is asked', async () => {
    const app = new Hono({ router: new RememberingRouter() })
    app.get('/articles/new', (c) => c.text('the form'))
    app.get('/articles/:id', (c) => c.text(`article ${c.req.param('id')}`))
    for (let round = 0; round < 3; round++) {
      expect(await (await app.request('/articles/new')).text()).toBe('the form')
      expect(await (await app.request('/articles/a%20b')).text()).toBe('article a b')
      expect(await (await app.request('/articles/7')).text()).toBe('article 7')
    }
    expect((await app.request('/elsewhere')).status).toBe(404)
  })
})
