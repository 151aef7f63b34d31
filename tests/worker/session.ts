import { expect } from 'vitest'
import { loadConfig, type Config } from '../../src/config'
import { connectPostgres, type DatabaseHandle } from '../../src/db/client'
import { ROLE_EMAILS, seedRoleRows, type Who } from '../helpers/routes'
import type { TestWorker } from './harness'

/**
 * Accounts inside workerd, made as people make them: the e-mailed link from the development
 * mailbox (/dev/mailbox.json, served in APP_ENV=test), taken by the real Worker. The Worker's
 * APP_ENV is test and it has no DATA_ENCRYPTION_KEY, so the tests' config (`workerConfig`) holds
 * the same development key and can write rows the Worker reads.
 */

/** The Worker's config as the test process sees it, for the keys behind rows written straight into its database. */
export const workerConfig = (vars: Record<string, string> = {}): Config =>
  loadConfig({ APP_ENV: 'test', APP_URL: 'http://localhost:8787', ...vars })

/** Signs in through the mailed link inside workerd and returns the cookie ("masthead_session=…"). */
export async function signInWorker(worker: TestWorker, email: string): Promise<string> {
  const json = { 'Content-Type': 'application/json' }
  const asked = await worker.fetch('/auth/sign-in', { method: 'POST', headers: json, body: JSON.stringify({ email }) })
  expect(asked.status, `sign-in link for ${email}`).toBe(202)
  const to = email.toLowerCase()
  const mailbox = (await (await worker.fetch(`/dev/mailbox.json?to=${encodeURIComponent(to)}`)).json()) as {
    messages: { to: string; text: string }[]
  }
  const token = mailbox.messages[0]?.text.match(/\/auth\/verify\?token=([\w-]+)/)?.[1] // newest first
  expect(token, `the link mailed to ${email}`).toBeTruthy()
  const confirmed = await worker.fetch('/auth/verify', {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ token }),
  })
  expect(confirmed.status).toBe(200)
  const cookie = confirmed.headers.getSetCookie().find((c) => c.startsWith('masthead_session='))
  expect(cookie).toBeTruthy()
  return cookie!.split(';')[0]!
}

/** The variables a Worker needs for `workerRoleWorld`: the admin's address, and sign-ins enough for a suite. */
export const ROLE_WORLD_VARS = { ADMIN_EMAILS: ROLE_EMAILS.admin, SIGN_IN_LIMIT: '1000' }

/**
 * The role world (tests/helpers/routes.ts) inside workerd: an admin, an editor and a reader
 * signed in through the Worker, the editor promoted by the admin through the API, and the demo
 * tiers, ARTICLE and SUPPORTER written into the Worker's database. `database` stays open for the
 * test to read and write rows; close it when done.
 */
export async function workerRoleWorld(
  worker: TestWorker,
  vars: Record<string, string> = {},
): Promise<{ cookies: Record<Who, string | undefined>; database: DatabaseHandle; config: Config }> {
  const config = workerConfig(vars)
  const database = connectPostgres(worker.databaseUrl, { max: 4 })
  const cookies: Record<Who, string | undefined> = {
    anonymous: undefined,
    admin: await signInWorker(worker, ROLE_EMAILS.admin),
    editor: await signInWorker(worker, ROLE_EMAILS.editor),
    reader: await signInWorker(worker, ROLE_EMAILS.reader),
  }
  const promoted = await worker.fetch('/api/admin/staff', {
    method: 'POST',
    headers: { Cookie: cookies.admin!, 'Content-Type': 'application/json' },
    body: JSON.stringify({ email: ROLE_EMAILS.editor, role: 'editor' }),
  })
  expect(promoted.status).toBe(200)
  await seedRoleRows(database.db, config, new Date(Date.now() - 60_000))
  return { cookies, database, config }
}

/** The Worker's structured log lines (its JSON lines, parsed), for a test to look for events and levels. */
export function structuredLogs(worker: TestWorker): { level?: string; event?: string; [field: string]: unknown }[] {
  return worker
    .logs()
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { level?: string; event?: string })
}
