/**
 * The product as people use it, in Debian's chromium driven by playwright-core,
 * against the Node server started as `npm start` starts it (embedded PGlite, or
 * a fresh database on TEST_DATABASE_URL's server, and the local Stripe stand-in).
 * The journeys run in order and build on each other, as real use would.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  hasChromium,
  launchBrowser,
  layoutProblems,
  shot,
  signInLink,
  signInThroughPages,
  startApp,
  type Browser,
  type BrowserContext,
  type Page,
  type RunningApp,
} from './harness'

const ARTICLE = '/articles/police-overtime-records'
const BODY_ONLY = 'We were never told' // in the article's body, not in its excerpt
const READER = 'reader@journeys.example'
const EDITOR = 'editor@journeys.example'
const ADMIN = 'admin@journeys.example'

let app: RunningApp
let browser: Browser
let reader: BrowserContext
let admin: BrowserContext

describe.runIf(hasChromium)('journeys in a real browser', () => {
  beforeAll(async () => {
    // Every sign-in here comes from 127.0.0.1: the per-IP limit is raised so the journeys do not trip it.
    app = await startApp({ ADMIN_EMAILS: ADMIN, PUBLICATION_NAME: 'The Ledger', SIGN_IN_LIMIT: '100' })
    browser = await launchBrowser()
    reader = await browser.newContext({ viewport: { width: 1280, height: 900 } })
    admin = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true })
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await app?.stop()
  })

  const open = async (context: BrowserContext, path: string) => {
    const page = await context.newPage()
    await page.goto(`${app.url}${path}`)
    return page
  }

  it('a reader opens a supporters-only article, signs in, joins a tier and reads it in full without ads', async () => {
    const page = await open(reader, ARTICLE)
    await expect.poll(() => page.locator('.gate').count()).toBe(1)
    expect(await page.locator('.ad-slot').count()).toBeGreaterThan(0)
    expect(await page.content()).not.toContain(BODY_ONLY)
    await shot(page, '1-article-preview')

    await page.locator('.gate').getByRole('link', { name: 'sign in' }).click()
    await page.getByLabel('E-mail address').fill(READER)
    await shot(page, '1-sign-in')
    await page.getByRole('button', { name: 'Send me a sign-in link' }).click()
    await page.getByRole('heading', { name: 'Check your e-mail' }).waitFor()
    await page.goto(await signInLink(app.url, READER))
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL(`${app.url}${ARTICLE}`)
    // Signed in, but a member is not a supporter: still the preview.
    expect(await page.locator('.gate').count()).toBe(1)

    await page.getByRole('link', { name: 'Become a supporter' }).first().click()
    await page.waitForURL(`${app.url}/join`)
    await shot(page, '1-join')
    await page
      .locator('section', { has: page.getByRole('heading', { name: 'Patron' }) })
      .getByRole('button', { name: /a month/ })
      .click()
    await page.getByRole('heading', { name: 'Subscribe' }).waitFor()
    await shot(page, '1-checkout')
    await page.getByRole('button', { name: /^Pay / }).click()
    await page.waitForURL(/\/billing\/thanks/)
    await shot(page, '1-thanks')

    // The webhook reaches the app on its own; the article opens once it has.
    await expect
      .poll(
        async () => {
          await page.goto(`${app.url}${ARTICLE}`)
          return page.content()
        },
        { timeout: 15_000 },
      )
      .toContain(BODY_ONLY)
    expect(await page.locator('.ad-slot').count()).toBe(0)
    expect(await page.locator('.support-prompt').count()).toBe(0)
    await shot(page, '1-article-full')
  })

  it('a signed-out reader donates an amount of their own', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(`${app.url}/join`)
    await page.getByLabel('Amount').fill('7.50')
    await page.getByLabel('Your e-mail address (optional for a one-time gift)').fill('giver@journeys.example')
    await page.getByRole('button', { name: 'Continue to payment' }).click()
    await page.getByRole('heading', { name: /^(Donate|Pay)$/ }).waitFor()
    expect(await page.content()).toContain('7.50')
    await shot(page, '2-donate-checkout')
    await page.getByRole('button', { name: /^Pay / }).click()
    await page.waitForURL(/\/billing\/thanks/)
    expect(await page.textContent('main')).toMatch(/thank/i)
    await shot(page, '2-donate-thanks')
    await context.close()
  })

  it('a supporter cancels in the portal and stays ad-free until the period ends', async () => {
    const page = await open(reader, '/account')
    await shot(page, '3-account')
    await page.getByRole('button', { name: 'Manage billing' }).click()
    await page.getByRole('heading', { name: 'Billing portal' }).waitFor()
    await page.getByRole('button', { name: 'Cancel at period end' }).click()
    await page.getByRole('button', { name: 'Resume subscription' }).waitFor()
    await shot(page, '3-portal-canceled')
    await expect
      .poll(
        async () => {
          await page.goto(`${app.url}/account`)
          return page.textContent('main')
        },
        { timeout: 15_000 },
      )
      .toMatch(/until/i)
    await page.goto(`${app.url}${ARTICLE}`)
    expect(await page.content()).toContain(BODY_ONLY)
    expect(await page.locator('.ad-slot').count()).toBe(0)
  })

  it('an editor finds that supporter by e-mail, opens the timeline and exports CSV', async () => {
    // The editor signs in once; an admin then makes them an editor.
    const editor = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true })
    const page = await editor.newPage()
    await signInThroughPages(page, app.url, EDITOR)
    const adminPage = await admin.newPage()
    await signInThroughPages(adminPage, app.url, ADMIN)
    await adminPage.goto(`${app.url}/admin/staff`)
    await adminPage.getByLabel('Their e-mail address').fill(EDITOR)
    await adminPage.getByRole('button', { name: 'Make editor' }).click()
    await adminPage.waitForURL(`${app.url}/admin/staff`)
    expect(await adminPage.textContent('table')).toContain(EDITOR)

    await page.goto(`${app.url}/admin`)
    await page.getByRole('link', { name: 'Supporters' }).click()
    await page.getByLabel('Search by e-mail or name').fill('reader@journeys')
    await page.getByRole('button', { name: 'Show' }).click()
    await shot(page, '4-supporters')
    await page.getByRole('link', { name: READER }).click()
    await page.getByRole('heading', { name: 'Timeline' }).waitFor()
    const timeline = await page.textContent('ol.timeline')
    expect(timeline).toContain('Signed up')
    expect(timeline).toContain('Subscription started')
    expect(timeline).toContain('Paid')
    await shot(page, '4-supporter-detail')
    await page.goBack()
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Export these as CSV' }).click(),
    ])
    const csv = readFileSync(await download.path(), 'utf8')
    expect(csv).toContain(READER)
    expect(csv.split('\r\n')[0]).toContain('email,name,status')
    await editor.close()
  })

  it('an admin imports a Patreon export, dry run first, and sees the patrons', async () => {
    const page = await admin.newPage()
    await page.goto(`${app.url}/admin/imports/patreon`)
    await page
      .getByLabel('Patreon members CSV')
      .setInputFiles(join(import.meta.dirname, '../imports/fixtures/current.csv'))
    await page.getByRole('button', { name: 'Preview the import' }).click()
    await page.getByRole('heading', { name: 'Preview: Patreon import' }).waitFor()
    await page.getByLabel(/^Supporter/).selectOption('reader')
    await page.getByRole('button', { name: 'Update the preview' }).click()
    await expect.poll(() => page.textContent('[role=status]')).toContain('0 rejected')
    await shot(page, '5-import-preview')
    await page.getByRole('button', { name: /^Import/ }).click()
    await page.waitForURL(/notice=/)
    expect(await page.textContent('[role=status]')).toContain('The import has started.')
    // The server runs the import in the background (its job loop, every 2 s): reload until it is done.
    await expect
      .poll(
        async () => {
          await page.reload()
          return page.textContent('#work + ul')
        },
        { timeout: 30_000, interval: 500 },
      )
      .toContain('Import finished: 1 of 1 parts, 7 rows (7 new, 0 updated, 0 unchanged).')
    await shot(page, '5-import-finished')
    await page.goto(`${app.url}/admin/supporters?source=patreon`)
    const list = await page.textContent('table')
    expect(list).toContain('ada@example.com')
    expect(list).toContain('grace.hopper@navy.example.org')
    await shot(page, '5-patrons')
  })

  it('the pages fit a 375 px screen and a desktop, in light and dark, label every field, read clearly, and work from the keyboard', async () => {
    const readerPages = [
      ['home', '/'],
      ['article', ARTICLE],
      ['join', '/join'],
      ['sign-in', '/auth/sign-in'],
      ['account', '/account'],
    ]
    const staffPages = [
      ['admin', '/admin'],
      ['admin-supporters', '/admin/supporters'],
      ['admin-metrics', '/admin/metrics'],
      ['admin-articles', '/admin/articles'],
      ['admin-article-new', '/admin/articles/new'],
      ['admin-tiers', '/admin/tiers'],
      ['admin-staff', '/admin/staff'],
      ['admin-audit', '/admin/audit'],
      ['admin-import', '/admin/imports/patreon'],
    ]
    const screens = [
      { name: 'mobile', viewport: { width: 375, height: 740 }, isMobile: true },
      { name: 'desktop', viewport: { width: 1280, height: 900 }, isMobile: false },
    ]
    const problems: string[] = []
    for (const screen of screens) {
      for (const colorScheme of ['light', 'dark'] as const) {
        const options = { viewport: screen.viewport, isMobile: screen.isMobile, colorScheme }
        const visits = [
          // The supporter from the first journey, then an admin (the import journey's).
          {
            context: await browser.newContext({ ...options, storageState: await reader.storageState() }),
            pages: readerPages,
          },
          {
            context: await browser.newContext({ ...options, storageState: await admin.storageState() }),
            pages: staffPages,
          },
        ]
        for (const { context, pages } of visits) {
          const page = await context.newPage()
          for (const [name, path] of pages) {
            await page.goto(`${app.url}${path!}`)
            const label = `${screen.name} ${colorScheme} ${path}`
            problems.push(...(await layoutProblems(page)).map((p) => `${label}: ${p}`))
            await shot(page, `${screen.name}-${colorScheme}-${name}`)
          }
          await context.close()
        }
      }
    }
    // Signed out, the article shows its gate and ads, the join page its e-mail fields.
    const signedOut = await browser.newContext({ viewport: { width: 375, height: 740 }, isMobile: true })
    const page = await signedOut.newPage()
    for (const path of [ARTICLE, '/join']) {
      await page.goto(`${app.url}${path}`)
      problems.push(...(await layoutProblems(page)).map((p) => `mobile signed-out ${path}: ${p}`))
    }
    await shot(page, 'mobile-light-join-signed-out')
    expect(problems).toEqual([])

    // The keyboard alone, with a focus ring to see where one is: sign in, then start joining a tier.
    const tabTo = async (wanted: (el: { name: string; text: string }) => boolean, limit = 30) => {
      for (let i = 0; i < limit; i++) {
        await page.keyboard.press('Tab')
        const active = await page.evaluate(() => {
          const el = document.activeElement as HTMLInputElement | null
          const style = el ? getComputedStyle(el) : null
          return {
            name: el?.name ?? '',
            text: el?.textContent?.trim() ?? '',
            ring: !!style && style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0,
          }
        })
        if (wanted(active)) return active
      }
      throw new Error('the keyboard never reached the field')
    }
    await page.goto(`${app.url}/auth/sign-in`)
    expect((await tabTo((el) => el.name === 'email')).ring).toBe(true)
    await page.keyboard.type('keyboard@journeys.example')
    await page.keyboard.press('Enter')
    await page.getByRole('heading', { name: 'Check your e-mail' }).waitFor()

    await page.goto(`${app.url}/join`)
    await tabTo((el) => el.name === 'email')
    await page.keyboard.type('keyboard@journeys.example')
    const button = await tabTo((el) => el.text.endsWith('a month'))
    expect(button.ring).toBe(true)
    await page.keyboard.press('Enter')
    await page.getByRole('heading', { name: 'Subscribe' }).waitFor()
    await signedOut.close()
  })
})

// Only without chromium: a skipped test whose name says why, next to the warning vitest.config.ts prints.
if (!hasChromium) {
  describe('journeys in a real browser', () => {
    it.skip('SKIPPED: /usr/bin/chromium is not installed (apt-get install chromium); .ci/run installs it', () => {})
  })
}

export type { Page }
