/**
 * A gift membership as people give and receive one, in Debian's chromium against the Node server
 * started as `npm start` starts it (the local Stripe stand-in's Checkout): a signed-out reader
 * buys three months of a tier for a friend, to be e-mailed today; the friend follows the link,
 * is signed in, and reads a supporters-only article in full.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hasChromium, launchBrowser, layoutProblems, shot, startApp, type Browser, type RunningApp } from './harness'

const ARTICLE = '/articles/police-overtime-records'
const BODY_ONLY = 'We were never told' // in the article's body, not in its excerpt
const FRIEND = 'friend@gift-journey.example'
const GIVER = 'giver@gift-journey.example'

let app: RunningApp
let browser: Browser

interface Mail {
  to: string
  subject: string
  text: string
}

async function mailTo(email: string, subject: RegExp): Promise<Mail | undefined> {
  const { messages } = (await (await fetch(`${app.url}/dev/mailbox.json`)).json()) as { messages: Mail[] }
  return messages.find((m) => m.to === email && subject.test(m.subject))
}

describe.runIf(hasChromium)('a gift membership in a real browser', () => {
  beforeAll(async () => {
    app = await startApp({ PUBLICATION_NAME: 'The Ledger', SIGN_IN_LIMIT: '100' })
    browser = await launchBrowser()
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await app?.stop()
  })

  it('from purchase to redemption', async () => {
    const giver = await browser.newContext({ viewport: { width: 1280, height: 900 } })
    const page = await giver.newPage()
    await page.goto(`${app.url}/gift`)
    await page.getByRole('heading', { name: 'Give a membership' }).waitFor()
    expect(await layoutProblems(page)).toEqual([])
    await page.getByLabel(/^Patron:/).check()
    await page.getByLabel('How long').selectOption('3')
    await page.getByLabel('Their e-mail address').fill(FRIEND)
    // The delivery day is today by default: the e-mail goes as soon as the payment is in.
    await page.getByLabel(/^Your name/).fill('Aunt Ada')
    await page.getByLabel(/^A message/).fill('For the long reads. Love, Ada')
    await page.getByLabel('Your e-mail address, for the receipt').fill(GIVER)
    await shot(page, 'gift-1-form')
    await page.getByRole('button', { name: 'Pay and give' }).click()

    await page.getByRole('heading', { name: /^(Donate|Pay)$/ }).waitFor()
    expect(await page.content()).toContain('45.00') // 3 months of Patron at 15.00
    await shot(page, 'gift-2-checkout')
    await page.getByRole('button', { name: /^Pay / }).click()
    await page.waitForURL(/\/gift\/thanks/)
    expect(await page.textContent('main')).toMatch(/thank you/i)
    await shot(page, 'gift-3-thanks')

    // The webhook marks it paid and queues its delivery; the thanks page wakes the job loop.
    let gift: Mail | undefined
    await expect
      .poll(
        async () => {
          gift = await mailTo(FRIEND, /gave you a membership/)
          if (!gift) await page.goto(`${app.url}/gift/thanks`)
          return gift !== undefined
        },
        { timeout: 20_000, interval: 500 },
      )
      .toBe(true)
    expect(gift!.subject).toBe('Aunt Ada gave you a membership of The Ledger')
    expect(gift!.text).toContain('For the long reads. Love, Ada')
    expect(await mailTo(GIVER, /receipt/i)).toBeDefined()
    await giver.close()

    const friend = await browser.newContext({ viewport: { width: 375, height: 800 } })
    const their = await friend.newPage()
    const link = gift!.text.match(/https?:\/\/\S+\/gift\/redeem\?token=[\w-]+/)![0]
    await their.goto(link)
    await their.getByRole('heading', { name: 'Your gift' }).waitFor()
    expect(await layoutProblems(their)).toEqual([])
    await shot(their, 'gift-4-redeem')
    await their.getByRole('button', { name: 'Start my gift' }).click()
    await their.waitForURL(/\/account\?notice=gift-started/)
    const account = await their.textContent('main')
    expect(account).toContain('Your gift membership has started')
    expect(account).toMatch(/Patron, a gift: from \d{4}-\d{2}-\d{2} until \d{4}-\d{2}-\d{2}/)
    expect(await layoutProblems(their)).toEqual([])
    await shot(their, 'gift-5-account')

    await their.goto(`${app.url}${ARTICLE}`)
    expect(await their.content()).toContain(BODY_ONLY)
    expect(await their.locator('.gate').count()).toBe(0)

    // The link started the gift once; followed again, it says so.
    await their.goto(link)
    expect(await their.textContent('main')).toContain('already been started')
    await friend.close()
  })
})
