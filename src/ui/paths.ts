import { createContext, useContext } from 'hono/jsx'

/**
 * Where Masthead's own routes live (config.MASTHEAD_PATH): '' when it is the
 * whole site, '/members' in gateway mode. Every link Masthead makes goes
 * through `withBase`, so that with no base path it is exactly what it was.
 */
export function withBase(base: string, path: string): string {
  if (!base) return path
  // The front page under a base path is the base itself: /members, not /members/.
  if (path === '/' || path.startsWith('/?') || path.startsWith('/#')) return `${base}${path.slice(1)}`
  return `${base}${path}`
}

/**
 * The front page: Masthead's own, or in gateway mode (ORIGIN_URL set) the
 * publication's own site, whose front page is at its root.
 */
export const homePath = (config: { MASTHEAD_PATH: string; ORIGIN_URL?: string | undefined }): string =>
  config.ORIGIN_URL ? '/' : withBase(config.MASTHEAD_PATH, '/')

/** The base path for the page being rendered; `Layout` provides it around everything it renders. */
export const BasePath = createContext('')

/** A link to one of Masthead's own paths, for components: `href('/account')` is '/members/account' in gateway mode. */
export function href(path: string): string {
  return withBase(useContext(BasePath), path)
}
