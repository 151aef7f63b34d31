import { Hono } from 'hono'
import type { AppEnv } from '../services'
import { page } from '../views/layout'

/** Reader-facing pages. The front page lists articles once the articles issue lands. */
export const content = new Hono<AppEnv>().get('/', (c) => {
  const { PUBLICATION_NAME } = c.var.services.config
  return page(
    c,
    'Home',
    <>
      <h1>{PUBLICATION_NAME}</h1>
      <p>Independent journalism, paid for by its readers.</p>
    </>,
  )
})
