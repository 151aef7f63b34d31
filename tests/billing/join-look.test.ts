import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { contrast, themeStylesheet } from '../../src/billing/theme'
import { createTestApp, type TestApp } from '../helpers/app'

// The publication's own colours and logo, readable (WCAG AA) in light and dark (issue #20 part 5).
let t: TestApp
beforeAll(async () => {
  t = await createTestApp({ env: { ACCENT_COLOR: '#FC0', LOGO_URL: '/brand/logo.svg' } })
})
afterAll(() => t.close())

const rgb = (hex: string) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number]
const LIGHT = rgb('#fdfdfb')
const DARK = rgb('#161616')

describe('the look', () => {
  it('links the theme and shows the logo on every page', async () => {
    const html = await (await t.app.request('/join')).text()
    expect(html).toContain('<link rel="stylesheet" href="/assets/theme.css?accent=ffcc00"/>')
    expect(html).toContain('<img src="/brand/logo.svg" alt="" class="logo"/>')
    const css = await t.app.request('/assets/theme.css?accent=ffcc00')
    expect(css.headers.get('content-type')).toContain('text/css')
    const text = await css.text()
    expect(text).toContain('--brand: #ffcc00; --on-brand: #000000;')
    const again = await t.app.request('/assets/theme.css', { headers: { 'If-None-Match': css.headers.get('etag')! } })
    expect(again.status).toBe(304)
  })

  it('makes text on the colour, and links in it, reach 4.5:1 in both schemes, whatever the colour', () => {
    for (const accent of [
      '#ffcc00',
      '#0b5cad',
      '#777777',
      '#ff0000',
      '#00ff00',
      '#101010',
      '#fafafa',
      '#7ab7ff',
      '#8a2be2',
    ]) {
      const css = themeStylesheet({ ACCENT_COLOR: accent })
      const [, onBrand] = css.match(/--on-brand: (#[0-9a-f]{6})/)!
      const [, light] = css.match(/:root \{[^}]*--accent: (#[0-9a-f]{6})/)!
      const [, dark] = css.match(/dark\) \{ :root \{ --accent: (#[0-9a-f]{6})/)!
      expect(contrast(rgb(accent), rgb(onBrand!)), `${accent} text`).toBeGreaterThanOrEqual(4.5)
      expect(contrast(rgb(light!), LIGHT), `${accent} light link`).toBeGreaterThanOrEqual(4.5)
      expect(contrast(rgb(dark!), DARK), `${accent} dark link`).toBeGreaterThanOrEqual(4.5)
    }
  })

  it('refuses a logo on another origin, and a colour that is none, when the config is read', async () => {
    const { loadConfig } = await import('../../src/config')
    expect(() => loadConfig({ LOGO_URL: 'https://cdn.example.com/logo.png' })).toThrow(
      /LOGO_URL: must be on this site's own origin/,
    )
    expect(() => loadConfig({ LOGO_URL: '//cdn.example.com/logo.png' })).toThrow(/LOGO_URL/)
    expect(() => loadConfig({ ACCENT_COLOR: 'blue' })).toThrow(/ACCENT_COLOR: must be a colour such as #0b5cad/)
    expect(() => loadConfig({ GOAL_SUPPORTERS: '10', GOAL_MONTHLY_AMOUNT: '100' })).toThrow(/choose one goal/)
    expect(() => loadConfig({ SUGGESTED_AMOUNTS_MONTH: '5*,10*' })).toThrow(/SUGGESTED_AMOUNTS_MONTH/)
    expect(() => loadConfig({ FEE_COVER_PERCENT: '30' })).toThrow(/FEE_COVER_PERCENT: must be at most 20/)
    expect(loadConfig({ LOGO_URL: 'http://localhost:8787/logo.png', APP_URL: 'http://localhost:8787' }).LOGO_URL).toBe(
      'http://localhost:8787/logo.png',
    )
  })
})
