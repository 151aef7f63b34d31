import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect } from 'vitest'
import { runDueJobs, type TestApp } from './app'

/** The demo tiers each Patreon tier of the fixtures maps to. */
export const FIXTURE_MAPPING = { Reader: 'reader', Patron: 'patron', Supporter: 'reader' }

/**
 * A fixture of tests/imports/fixtures imported through the API as the admin whose cookie is given
 * (accepted: 202), and its job run to the end, as the server's job loop would.
 */
export async function importFixture(t: TestApp, admin: string, file = 'current.csv', mapping = FIXTURE_MAPPING) {
  const form = new FormData()
  form.set('file', new File([readFileSync(join(import.meta.dirname, '..', 'imports', 'fixtures', file))], file))
  form.set('mapping', JSON.stringify(mapping))
  const res = await t.app.request('/api/admin/imports/patreon', {
    method: 'POST',
    headers: { Cookie: admin },
    body: form,
  })
  expect(res.status).toBe(202)
  await runDueJobs(t)
}
