import type { Context } from 'hono'
import type { Config } from '../config'
import type { AppEnv } from '../services'
import { withBase } from '../ui/paths'

/**
 * Masthead's own paths as the outside world sees them, under config.MASTHEAD_PATH
 * (gateway mode puts every route under /members). Handlers write paths as their
 * routers do ('/account') and pass them through here; paths read from the request
 * (`c.req.path`) already carry the base.
 */

/** For redirects and links made by handlers: `pathTo(c, '/account')` is '/members/account' in gateway mode. */
export const pathTo = (c: Context<AppEnv>, path: string): string => withBase(c.var.services.config.MASTHEAD_PATH, path)

/** For links that leave the site (e-mails, Stripe's return URLs): APP_URL, the base path, then the path. */
export const absoluteUrl = (config: Pick<Config, 'APP_URL' | 'MASTHEAD_PATH'>, path: string): string =>
  `${config.APP_URL}${withBase(config.MASTHEAD_PATH, path)}`
