import type { Context } from 'hono'
import type { Config } from '../config'
import type { AppEnv } from '../services'
import { JOIN_SCRIPT } from './join-script'
import { themeStylesheet } from './theme'

/**
 * The join page's script (GET /assets/join.js) and the publication's colours (GET
 * /assets/theme.css, linked by the layout when ACCENT_COLOR is set, with the colour in its query
 * so a new colour is a new address). Both are made once per configuration and cached by
 * browsers for a day; the content security policy allows scripts and styles from 'self' only.
 */
export function joinAsset(c: Context<AppEnv>, which: 'script' | 'theme'): Response {
  const asset = assetsOf(c.var.services.config)[which]
  if (c.req.header('if-none-match') === asset.etag)
    return new Response(null, { status: 304, headers: { ETag: asset.etag } })
  return new Response(asset.body, {
    headers: {
      'Content-Type': asset.type,
      'Cache-Control': 'public, max-age=86400',
      ETag: asset.etag,
      'X-Content-Type-Options': 'nosniff',
    },
  })
}

interface Asset {
  body: string
  type: string
  etag: string
}

const made = new WeakMap<Config, { script: Asset; theme: Asset }>()

function assetsOf(config: Config) {
  let assets = made.get(config)
  if (!assets) {
    assets = {
      script: asset(JOIN_SCRIPT, 'text/javascript; charset=utf-8'),
      theme: asset(themeStylesheet(config), 'text/css; charset=utf-8'),
    }
    made.set(config, assets)
  }
  return assets
}

function asset(body: string, type: string): Asset {
  let hash = 0x811c9dc5 // FNV-1a, as the stylesheet's ETag
  for (let i = 0; i < body.length; i++) hash = Math.imul(hash ^ body.charCodeAt(i), 0x01000193)
  return { body, type, etag: `"${(hash >>> 0).toString(36)}-${body.length.toString(36)}"` }
}
