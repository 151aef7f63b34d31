import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { createServerDatabase } from '../helpers/db'

/** Debian's chromium; the tests never download a browser. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const hasChromium = existsSync(CHROMIUM)

export const SCREENSHOTS = join(import.meta.dirname, 'screenshots')

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      // Nothing leaves the machine: no background requests to Google's services.
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-default-apps',
      '--disable-domain-reliability',
      '--disable-sync',
      '--metrics-recording-only',
      '--no-first-run',
      '--no-default-browser-check',
      '--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication',
    ],
  })
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

export interface RunningApp {
  url: string
  /** Where Masthead's own routes live: `url` itself, or `url` + MASTHEAD_PATH (`/members` in gateway mode). */
  mastheadUrl: string
  output(): string
  stop(): Promise<void>
}

/**
 * The Node server as `npm start` runs it: embedded PGlite in a fresh data
 * directory (or a fresh database on TEST_DATABASE_URL's server), no Stripe
 * key, so the local Stripe stand-in with its checkout and portal pages.
 */
export async function startApp(env: Record<string, string>): Promise<RunningApp> {
  const port = await freePort()
  const dataDir = mkdtempSync(join(tmpdir(), 'masthead-browser-'))
  const database = process.env.TEST_DATABASE_URL ? await createServerDatabase(process.env.TEST_DATABASE_URL) : null
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    ...env,
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    APP_ENV: 'development',
    APP_URL: `http://localhost:${port}`,
  }
  delete childEnv.STRIPE_SECRET_KEY
  if (database) childEnv.DATABASE_URL = database.url
  else delete childEnv.DATABASE_URL
  const child: ChildProcess = spawn(process.execPath, ['src/cli/start.ts'], {
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout!.on('data', (d) => (output += d))
  child.stderr!.on('data', (d) => (output += d))
  const deadline = Date.now() + 60_000
  const url = `http://localhost:${port}`
  // As src/config.ts decides it: with ORIGIN_URL set, Masthead's own routes (health too) move under /members.
  const mastheadUrl = `${url}${childEnv.MASTHEAD_PATH ?? (childEnv.ORIGIN_URL ? '/members' : '')}`
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server exited:\n${output}`)
    if (Date.now() > deadline) throw new Error(`the server did not answer within 60 s:\n${output}`)
    // Ready once it serves and the stand-in has the tiers' prices (the join page offers them).
    const ready = await fetch(`${mastheadUrl}/healthz`).then(
      (r) => r.ok,
      () => false,
    )
    if (ready && output.includes('Masthead is serving')) break
    await new Promise((r) => setTimeout(r, 200))
  }
  return {
    url,
    mastheadUrl,
    output: () => output,
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))])
      if (child.exitCode === null) child.kill('SIGKILL')
      await database?.drop()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/** Saves a full-page screenshot under tests/browser/screenshots (git-ignored). */
export async function shot(page: Page, name: string) {
  mkdirSync(SCREENSHOTS, { recursive: true })
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true })
}

/** The newest sign-in link mailed to an address, read from the development mailbox. */
export async function signInLink(appUrl: string, email: string): Promise<string> {
  for (let i = 0; i < 50; i++) {
    const { messages } = (await (await fetch(`${appUrl}/dev/mailbox.json`)).json()) as {
      messages: { to: string; text: string }[]
    }
    const link = messages.find((m) => m.to === email)?.text.match(/https?:\/\/\S+\/auth\/verify\?token=[\w-]+/)?.[0]
    if (link) return link
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`no sign-in link for ${email}`)
}

/** Signs in through the pages: the form, the mailed link, the button. */
export async function signInThroughPages(page: Page, appUrl: string, email: string) {
  await page.goto(`${appUrl}/auth/sign-in`)
  await page.getByLabel('E-mail address').fill(email)
  await page.getByRole('button', { name: 'Send me a sign-in link' }).click()
  await page.getByRole('heading', { name: 'Check your e-mail' }).waitFor()
  await page.goto(await signInLink(appUrl, email))
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.waitForLoadState('load')
}

/**
 * Problems a person would notice: a page wider than the screen, form fields without a label,
 * and text too faint to read (WCAG AA: contrast 4.5:1, or 3:1 for large text), measured on the
 * colours the browser computed, in whichever colour scheme the page is shown.
 */
export async function layoutProblems(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const problems: string[] = []
    const width = document.documentElement.clientWidth
    if (document.documentElement.scrollWidth > width + 1) {
      problems.push(`the page is ${document.documentElement.scrollWidth}px wide on a ${width}px screen`)
    }
    for (const el of document.querySelectorAll('input, select, textarea')) {
      const input = el as HTMLInputElement
      if (input.type === 'hidden' || input.type === 'submit') continue
      const labelled =
        (input.labels?.length ?? 0) > 0 || input.getAttribute('aria-label') || input.getAttribute('aria-labelledby')
      if (!labelled) problems.push(`a ${input.tagName.toLowerCase()} named "${input.name}" has no label`)
    }

    const rgba = (css: string) => {
      const [r = 0, g = 0, b = 0, a = 1] = (css.match(/[\d.]+/g) ?? []).map(Number)
      return { r, g, b, a: css.startsWith('rgba') ? a : 1 }
    }
    const luminance = ({ r, g, b }: { r: number; g: number; b: number }) => {
      const lin = (v: number) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
      return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
    }
    /** The first opaque background behind an element; the canvas when none is set. */
    const backgroundOf = (el: Element | null) => {
      for (let at = el; at; at = at.parentElement) {
        const bg = rgba(getComputedStyle(at).backgroundColor)
        if (bg.a > 0.5) return bg
      }
      return matchMedia('(prefers-color-scheme: dark)').matches
        ? { r: 0, g: 0, b: 0, a: 1 }
        : { r: 255, g: 255, b: 255, a: 1 }
    }
    const seen = new Set<string>()
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT)
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const el = node.parentElement
      if (!el || !node.textContent?.trim() || el.closest('svg')) continue
      const style = getComputedStyle(el)
      if (style.visibility === 'hidden' || style.display === 'none' || el.getClientRects().length === 0) continue
      const fg = luminance(rgba(style.color))
      const bg = luminance(backgroundOf(el))
      const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05)
      const size = parseFloat(style.fontSize)
      const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700)
      const text = node.textContent.trim().slice(0, 40)
      if (ratio < (large ? 3 : 4.5) && !seen.has(text)) {
        seen.add(text)
        problems.push(`"${text}" has contrast ${ratio.toFixed(2)}:1 (${style.color} on its background)`)
      }
    }
    return problems
  })
}

export type { Browser, BrowserContext, Page }
