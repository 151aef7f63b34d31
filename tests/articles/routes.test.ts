import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../helpers/app'

let t: TestApp
beforeAll(async () => {
  t = await createTestApp({ env: { PUBLICATION_NAME: 'The Riverside Ledger' } })
})
afterAll(() => t.close())

describe('the front page', () => {
  it('is a plain HTML page named for the publication, loading nothing from other sites', async () => {
    const res = await t.app.request('/')
    expect(res.status).toBe(200)
    const html = await res.text()
    expect(html).toMatch(/^<!doctype html>/i)
    expect(html).toContain('<title>Home · The Riverside Ledger</title>')
    expect(html).toContain('<link rel="stylesheet" href="/assets/style.css"/>')
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//)
    expect(html).not.toContain('<script')
  })
})
