import type { Result, Router } from 'hono/router'
import { RegExpRouter } from 'hono/router/reg-exp-router'
import { SmartRouter } from 'hono/router/smart-router'
import { TrieRouter } from 'hono/router/trie-router'

/** How many answers `RememberingRouter` keeps before it starts again; each is a few small arrays. */
export const REMEMBERED_MATCHES = 1000

/**
 * Hono's router, remembering what it answered for each method and path. Hono's default
 * (SmartRouter) settles on RegExpRouter, which keeps a table of static paths, only when every
 * route fits it; Masthead's do not (`/admin/articles/new` beside `/admin/articles/:id`), so it
 * settles on TrieRouter, which walks its tree on every request: about 2 µs of a 45 µs JSON route
 * here (BENCHMARKS.md, path). Most requests ask for a handful of paths, and the same path always
 * gets the same answer, so the answer is kept: Hono only reads what a router returns (its handlers
 * and parameters). At most REMEMBERED_MATCHES answers are kept, then all forgotten at once, so
 * that any number of distinct paths (every page of a publication in gateway mode, or a flood of
 * made-up ones) costs the walk again, never memory.
 */
export class RememberingRouter<T> implements Router<T> {
  name = 'RememberingRouter'
  readonly #router: Router<T>
  readonly #limit: number
  #answers = new Map<string, Result<T>>()

  constructor(
    router: Router<T> = new SmartRouter({ routers: [new RegExpRouter(), new TrieRouter()] }),
    limit = REMEMBERED_MATCHES,
  ) {
    this.#router = router
    this.#limit = limit
  }

  add(method: string, path: string, handler: T): void {
    this.#answers.clear() // none is kept before the first request; cleared should a route come later
    this.#router.add(method, path, handler)
  }

  match(method: string, path: string): Result<T> {
    const key = `${method} ${path}`
    let answer = this.#answers.get(key)
    if (answer === undefined) {
      answer = this.#router.match(method, path)
      if (this.#answers.size >= this.#limit) this.#answers.clear()
      this.#answers.set(key, answer)
    }
    return answer
  }

  /** How many answers are kept (for the tests). */
  get remembered(): number {
    return this.#answers.size
  }
}
