import type { Config } from '../config'

/**
 * The publication's colour (ACCENT_COLOR) as a stylesheet of custom properties, served from this
 * origin (the content security policy allows no inline style): `--brand` is the colour itself,
 * for fills (buttons, the goal meter, the chosen tier's border), with `--on-brand`, whichever of
 * black and white reads better on it; `--accent`, for links and text on the page's own
 * background, is the colour darkened (light scheme) or lightened (dark scheme) just until it
 * reaches WCAG AA's 4.5:1 there. Contrast by WCAG 2's relative luminance.
 */
export function themeStylesheet(config: Pick<Config, 'ACCENT_COLOR'>): string {
  const brand = config.ACCENT_COLOR
  if (!brand) return ''
  const rgb = parseHex(brand)
  const onBrand = readableOn(rgb)
  const light = towards(rgb, [0, 0, 0], LIGHT_BACKGROUND)
  const dark = towards(rgb, [255, 255, 255], DARK_BACKGROUND)
  return [
    `:root { --brand: ${brand}; --on-brand: ${onBrand}; --accent: ${hex(light)}; }`,
    `@media (prefers-color-scheme: dark) { :root { --accent: ${hex(dark)}; } }`,
    '',
  ].join('\n')
}

type Rgb = [number, number, number]

/** The page backgrounds of src/ui/stylesheet.ts (--bg), light and dark. */
const LIGHT_BACKGROUND: Rgb = [0xfd, 0xfd, 0xfb]
const DARK_BACKGROUND: Rgb = [0x16, 0x16, 0x16]
const BLACK: Rgb = [0, 0, 0]
const WHITE: Rgb = [0xff, 0xff, 0xff]

const parseHex = (text: string): Rgb => [1, 3, 5].map((i) => parseInt(text.slice(i, i + 2), 16)) as Rgb
const hex = (rgb: Rgb) => `#${rgb.map((v) => v.toString(16).padStart(2, '0')).join('')}`

export function luminance([r, g, b]: Rgb): number {
  const linear = (v: number) => {
    const c = v / 255
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4
  }
  return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
}

export function contrast(a: Rgb, b: Rgb): number {
  const [x, y] = [luminance(a), luminance(b)]
  return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05)
}

/** Black or white, whichever contrasts more (one of them always reaches 4.58:1 or more). */
export function readableOn(rgb: Rgb): string {
  return contrast(rgb, BLACK) >= contrast(rgb, WHITE) ? hex(BLACK) : hex(WHITE)
}

/** `rgb` mixed towards `target` in 1/64 steps until it reads at 4.5:1 on `background`. */
function towards(rgb: Rgb, target: Rgb, background: Rgb): Rgb {
  for (let step = 0; step <= 64; step++) {
    const mixed = rgb.map((v, i) => Math.round(v + ((target[i]! - v) * step) / 64)) as Rgb
    if (contrast(mixed, background) >= 4.5) return mixed
  }
  return target
}
