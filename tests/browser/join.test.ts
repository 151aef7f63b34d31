/**
 * The join page as readers use it, on a phone (375 px) and a desktop (1280 px), light and dark, in
 * Debian's chromium against the Node server as `npm start` runs it (the local Stripe stand-in):
 * a suggested yearly gift, and a tier chosen by switching to yearly. Screenshots go to a
 * temporary directory (printed at the end); the tests assert the layout facts themselves.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  hasChromium,
  launchBrowser,
  layoutProblems,
  startApp,
  type Browser,
  type Page,
  type RunningApp,
} from './harness'

const SHOTS = mkdtempSync(join(tmpdir(), 'masthead-join-shots-'))
const WIDTHS = [375, 1280] as const

let app: RunningApp
let browser: Browser

const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })

/** The text of the elements a reader can see, matching a selector. */
const visibleTexts = (page: Page, selector: string) =>
  page
    .locator(selector)
    .evaluateAll((els) =>
      els
        .filter((el) => (el as HTMLElement).offsetParent !== null)
        .map((el) => (el as HTMLElement).innerText.replace(/\s+/g, ' ').trim()),
    )

const overflow = (page: Page) =>
  page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)

describe.runIf(hasChromium)('the join page in a real browser', () => {
  beforeAll(async () => {
    app = await startApp({
      PUBLICATION_NAME: 'The Ledger',
      SIGN_IN_LIMIT: '100',
      ACCENT_COLOR: '#c2185b',
      GOAL_SUPPORTERS: '100',
      FEE_COVER_PERCENT: '2.9',
      FEE_COVER_FIXED: '0.30',
      SUGGESTED_AMOUNTS_YEAR: '50,100*,250',
    })
    browser = await launchBrowser()
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await app?.stop()
  })

  for (const width of WIDTHS) {
    for (const scheme of ['light', 'dark'] as const) {
      it(`fits ${width} px in ${scheme}, with every field labelled and every text readable`, async () => {
        const context = await browser.newContext({ viewport: { width, height: 900 }, colorScheme: scheme })
        const page = await context.newPage()
        await page.goto(`${app.url}/join`)
        expect(await overflow(page)).toBeLessThanOrEqual(1)
        expect(await layoutProblems(page)).toEqual([])
        expect(await visibleTexts(page, '.goal-words')).toEqual(['0 of 100 supporters: help us reach our goal.'])
        await shot(page, `join-${width}-${scheme}`)
        await context.close()
      })
    }
  }

  it('on a phone: a suggested yearly gift, its fee shown live, reaches Checkout as that amount a year', async () => {
    const context = await browser.newContext({ viewport: { width: 375, height: 800 } })
    const page = await context.newPage()
    await page.goto(`${app.url}/join`)
    // Once is chosen first: its suggestions show, the yearly ones do not.
    expect(await visibleTexts(page, '.amounts label')).toEqual(['$25.00', '$50.00', '$100.00'])
    await page.locator('label[for="frequency-yearly"]').click()
    expect(await visibleTexts(page, '.amounts label')).toEqual(['$50.00 a year', '$100.00 a year', '$250.00 a year'])
    await page.getByText('$250.00 a year', { exact: true }).click()
    // 2.9% of $250.00 is $7.25, plus $0.30.
    await expect.poll(() => page.locator('[data-fee-live]').textContent()).toBe('Adds $7.55: $257.55 a year in all.')
    await page.getByLabel('Your e-mail address (optional for a one-time gift)').fill('yearly@join.example')
    expect(await overflow(page)).toBeLessThanOrEqual(1)
    await shot(page, 'journey-yearly-gift-375')
    await page.getByRole('button', { name: 'Continue to payment' }).click()
    await page.waitForURL(/\/checkout\//)
    await page.getByRole('heading', { name: 'Subscribe' }).waitFor()
    expect(await page.content()).toContain('257.55')
    await shot(page, 'journey-yearly-gift-checkout-375')
    await page.getByRole('button', { name: /^Pay / }).click()
    await page.waitForURL(/\/billing\/thanks/)
    expect(await page.textContent('main')).toContain('your yearly gift has begun')
    expect(await page.textContent('main')).toContain('This page does not sign you in.')
    expect(await overflow(page)).toBeLessThanOrEqual(1)
    await shot(page, 'journey-yearly-gift-thanks-375')
    await context.close()
  })

  for (const width of WIDTHS) {
    it(`at ${width} px: the yearly switch changes the prices shown, and a tier is bought yearly`, async () => {
      const context = await browser.newContext({ viewport: { width, height: 900 } })
      const page = await context.newPage()
      await page.goto(`${app.url}/join`)
      const reader = page.locator('section.tier-card', { has: page.getByRole('heading', { name: 'Reader' }) })
      expect(await visibleTexts(page, 'section.tier-card .price')).toContain('$5.00 a month')
      await page.locator('label[for="show-yearly"]').click()
      const prices = await visibleTexts(page, 'section.tier-card .price')
      expect(prices).toContain('$50.00 a year (you save $10.00)')
      expect(prices.some((p) => p.includes('a month'))).toBe(false)
      await reader.getByLabel('Your e-mail address').fill(`tier-${width}@join.example`)
      expect(await overflow(page)).toBeLessThanOrEqual(1)
      await shot(page, `journey-tier-yearly-${width}`)
      await reader.getByRole('button', { name: 'Join for $50.00 a year' }).click()
      await page.getByRole('heading', { name: 'Subscribe' }).waitFor()
      // $50.00 and the fees covered: 2.9% of it ($1.45) and $0.30.
      expect(await page.content()).toContain('51.75')
      await page.getByRole('button', { name: /^Pay / }).click()
      await page.waitForURL(/\/billing\/thanks/)
      expect(await page.textContent('main')).toContain('your Reader membership has begun')
      await shot(page, `journey-tier-thanks-${width}`)
      await context.close()
    })
  }

  it('kept its screenshots', () => {
    console.log(`join page screenshots: ${SHOTS}`)
    expect(SHOTS).toContain('masthead-join-shots-')
  })
})
