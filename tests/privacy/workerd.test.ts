/**
 * src/privacy runs in workerd as it does on Node, and the two agree: a value either one encrypts,
 * the other decrypts; blind indexes and the name order come out the same. A small Worker of its
 * own (workerd-entry.ts) runs the module, under Masthead's compatibility date and flags.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { unstable_startWorker } from 'wrangler'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addressIndex, queryTokens, searchTokens } from '../../src/privacy/blind-index'
import { aesImplementation, decrypt, encrypt } from '../../src/privacy/cipher'
import { createKeyring, generateDataKey } from '../../src/privacy/keys'
import { compareSortTexts } from '../../src/privacy/name-order'
import type { WorkerdCheck } from './workerd-entry'

const root = fileURLToPath(new URL('../..', import.meta.url))
const wranglerToml = readFileSync(`${root}/wrangler.toml`, 'utf8')

let worker: Awaited<ReturnType<typeof unstable_startWorker>>
let dir: string
beforeAll(async () => {
  process.env.WRANGLER_SEND_METRICS = 'false'
  process.env.CLOUDFLARE_CF_FETCH_ENABLED = 'false'
  // A config of its own (Masthead's would bring its Hyperdrive binding), with Masthead's date and flags.
  dir = mkdtempSync(join(tmpdir(), 'masthead-privacy-worker-'))
  const config = join(dir, 'wrangler.toml')
  const date = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(wranglerToml)![1]!
  const flags = /^compatibility_flags\s*=\s*(\[.*\])/m.exec(wranglerToml)![1]!
  writeFileSync(
    config,
    `name = "masthead-privacy-check"\nmain = ${JSON.stringify(join(root, 'tests/privacy/workerd-entry.ts'))}\n` +
      `compatibility_date = "${date}"\ncompatibility_flags = ${flags}\n`,
  )
  worker = await unstable_startWorker({
    config,
    dev: { server: { hostname: '127.0.0.1', port: 0 }, inspector: false, persist: false, logLevel: 'warn' },
  })
  await worker.ready
})
afterAll(async () => {
  await worker?.dispose()
  rmSync(dir, { recursive: true, force: true })
})

describe('src/privacy in workerd', () => {
  it('decrypts what Node encrypted and the reverse, and computes the same blind indexes and order', async () => {
    const [key, oldKey] = [generateDataKey('k2'), generateDataKey('k1')]
    const keyring = await createKeyring(key, [oldKey])
    const person = { name: 'José Núñez O’Brien', email: 'Jose.Nunez+news@Bücher.example' }
    const names = ['Zoë', 'de Vries', 'Ávila', 'avila', 'Bjørn', 'Åsa', 'Émile', 'Eve', '李', 'Ωmega']
    const check: WorkerdCheck = {
      key,
      oldKey,
      fromNode: await encrypt(keyring, person.email, 'users.email'),
      fromNodeUnderOldKey: await encrypt(await createKeyring(oldKey), person.email, 'users.email'),
      person,
      names,
      // The blind indexes' HMAC in JavaScript (src/privacy/hmac.ts) against workerd's Web Crypto.
      hmacs: [1, 32, 64, 65, 100].flatMap((keyLength) =>
        [0, 3, 55, 56, 63, 64, 65, 120, 200].map((length) => ({
          key: Buffer.from(crypto.getRandomValues(new Uint8Array(keyLength))).toString('hex'),
          message: Buffer.from(crypto.getRandomValues(new Uint8Array(length))).toString('hex'),
        })),
      ),
    }
    const res = await worker.fetch(await worker.url, { method: 'POST', body: JSON.stringify(check) })
    expect(res.status).toBe(200)
    const answer = (await res.json()) as Record<string, unknown>
    expect(answer).toMatchObject({
      runtime: 'Cloudflare-Workers',
      fromNode: person.email,
      fromNodeUnderOldKey: person.email,
      oldNeedsRotation: true,
      otherContext: 'tampered',
      roundTrip: person.email,
      addressIndex: await addressIndex(keyring, person.email),
      searchTokens: await searchTokens(keyring, person),
      queryTokens: await queryTokens(keyring, person.name),
      sorted: [...names].sort(compareSortTexts),
    })
    const hmacs = answer.hmacs as { ours: string; webCrypto: string }[]
    expect(hmacs).toHaveLength(check.hmacs.length)
    for (const { ours, webCrypto } of hmacs) expect(ours).toBe(webCrypto)
    expect(answer.fromWorkerd).toMatch(/^v1\.k2\./)
    expect(await decrypt(keyring, answer.fromWorkerd as string, 'users.email')).toBe(person.email)
    // Both seal with node:crypto's AES-GCM (workerd's, under nodejs_compat), and read each other's values.
    expect(answer.aes).toBe('node:crypto')
    expect(aesImplementation()).toBe('node:crypto')
  })
})
