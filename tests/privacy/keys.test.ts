import { execFile, spawn } from 'node:child_process'
import { openSync, closeSync, readFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { DEVELOPMENT_DATA_ENCRYPTION_KEY, loadConfig } from '../../src/config'
import { addressIndex } from '../../src/privacy/blind-index'
import { createKeyring, generateDataKey, keyringOf, nextKeyId, parseDataKey, readDataKey } from '../../src/privacy/keys'

const run = promisify(execFile)
const root = join(import.meta.dirname, '../..')
const tsx = join(root, 'node_modules/.bin/tsx')

describe('data keys', () => {
  it('reads `<id>:<base64 of 32 bytes>` in either base64 alphabet, with or without padding', () => {
    const key = generateDataKey('k7')
    expect(key).toMatch(/^k7:[A-Za-z0-9+/]{43}=$/)
    const read = readDataKey(key)
    expect(read.ok && read.key.id).toBe('k7')
    expect(read.ok && read.key.bytes.length).toBe(32)
    const urlSafe = key.replaceAll('+', '-').replaceAll('/', '_').replace(/=$/, '')
    expect(readDataKey(urlSafe)).toMatchObject({ ok: true, key: { id: 'k7', bytes: read.ok ? read.key.bytes : null } })
    expect(readDataKey(DEVELOPMENT_DATA_ENCRYPTION_KEY)).toMatchObject({ ok: true, key: { id: 'k0' } })
  })

  it('refuses a key without an id, with a bad id, or of another length, without repeating it', () => {
    const secret = generateDataKey('k1').slice(3)
    for (const text of [secret, `key1:${secret}`, `k01:${secret}`, `K1:${secret}`]) {
      const read = readDataKey(text)
      expect(read).toEqual({
        ok: false,
        problem: 'must start with a key id such as k1, then a colon (make one with npm run keys:generate)',
      })
    }
    for (const text of [`k1:${secret.slice(0, 40)}`, `k1:${secret}AAAA`, 'k1:not base64 at all!', 'k1:']) {
      const read = readDataKey(text)
      expect(read.ok).toBe(false)
      expect(!read.ok && read.problem).toBe(
        'must hold 32 random bytes in base64 after "k1:" (make one with npm run keys:generate)',
      )
    }
  })

  it('gives the next id after the highest in use, k1 when none (or only the development k0) is', () => {
    expect(nextKeyId([])).toBe('k1')
    expect(nextKeyId(['k0'])).toBe('k1')
    expect(nextKeyId(['k3', 'k1', 'k12'])).toBe('k13')
    expect(generateDataKey('k2')).not.toBe(generateDataKey('k2'))
    expect(() => generateDataKey('two')).toThrow('A key id is k and a number')
  })

  it('makes a keyring whose current key writes and whose every key reads; one id twice is refused', async () => {
    const current = generateDataKey('k2')
    const keyring = await createKeyring(current, [generateDataKey('k1')])
    expect(keyring.current.id).toBe('k2')
    expect([...keyring.byId.keys()]).toEqual(['k2', 'k1'])
    for (const set of keyring.byId.values()) {
      expect(set.encryption.algorithm).toMatchObject({ name: 'AES-GCM', length: 256 })
      expect(set.encryption.extractable).toBe(false)
    }
    // The address index key is the HKDF subkey for its purpose: the same index as Web Crypto's HMAC
    // under a key derived with that info (src/privacy/hmac.ts computes it in JavaScript).
    const base = await crypto.subtle.importKey('raw', parseDataKey(current).bytes, 'HKDF', false, ['deriveKey'])
    const derived = await crypto.subtle.deriveKey(
      {
        name: 'HKDF',
        hash: 'SHA-256',
        salt: new Uint8Array(0),
        info: new TextEncoder().encode('masthead data key v1: address index'),
      },
      base,
      { name: 'HMAC', hash: 'SHA-256', length: 256 },
      false,
      ['sign'],
    )
    const mac = await crypto.subtle.sign('HMAC', derived, new TextEncoder().encode('reader@example.org'))
    expect(await addressIndex(keyring, 'Reader@Example.org ')).toBe(Buffer.from(mac).toString('base64url'))
    await expect(createKeyring(generateDataKey('k1'), [generateDataKey('k1')])).rejects.toThrow(
      'Two data encryption keys have the id k1',
    )
  })

  it('imports a configuration’s keys once, however many requests ask', async () => {
    const config = loadConfig({ APP_ENV: 'test' })
    const first = await keyringOf(config)
    expect(first.current.id).toBe('k0')
    expect(await keyringOf({ ...config })).toBe(first)
    const other = await keyringOf({ ...config, DATA_ENCRYPTION_KEY: generateDataKey('k1') })
    expect(other).not.toBe(first)
    expect(other.current.id).toBe('k1')
  })
})

describe('npm run keys:generate', () => {
  const env = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH, ...extra })

  it('prints the key alone on standard output, with the next id, and what to do with it on standard error', async () => {
    const fresh = await run(tsx, ['src/cli/keys-generate.ts'], { cwd: root, env: env() })
    expect(fresh.stdout).toMatch(/^k1:[A-Za-z0-9+/]{43}=\n$/)
    expect(readDataKey(fresh.stdout.trim()).ok).toBe(true)
    expect(fresh.stderr).toContain('npx wrangler secret put DATA_ENCRYPTION_KEY')
    expect(fresh.stderr).not.toContain(fresh.stdout.trim())

    const current = generateDataKey('k3')
    const next = await run(tsx, ['src/cli/keys-generate.ts'], {
      cwd: root,
      env: env({ DATA_ENCRYPTION_KEY: current, DATA_ENCRYPTION_KEYS_OLD: generateDataKey('k2') }),
    })
    expect(next.stdout).toMatch(/^k4:/)
    expect(next.stdout + next.stderr).not.toContain(current.slice(3))
  })

  it('refuses a malformed key in use without printing it, and an id already taken', async () => {
    const failure = (args: string[], extra: Record<string, string>) =>
      run(tsx, ['src/cli/keys-generate.ts', ...args], { cwd: root, env: env(extra) }).then(
        () => undefined,
        (error: { code: number; stdout: string; stderr: string }) => error,
      )
    const bad = await failure([], { DATA_ENCRYPTION_KEYS_OLD: 'k1:tooshort-secret' })
    expect(bad?.code).toBe(1)
    expect(bad?.stdout).toBe('')
    expect(bad?.stderr).toContain('DATA_ENCRYPTION_KEYS_OLD must hold 32 random bytes in base64 after "k1:"')
    expect(bad?.stderr).not.toContain('tooshort-secret')
    const taken = await failure(['--id', 'k2'], { DATA_ENCRYPTION_KEY: generateDataKey('k2') })
    expect(taken?.stderr).toContain('k2 is already in use')
    expect(taken?.stdout).toBe('')
  })

  it('never writes the key into a file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'masthead-keys-'))
    try {
      const file = join(dir, 'key.txt')
      const fd = openSync(file, 'w')
      const code = await new Promise<number | null>((resolve) => {
        const child = spawn(tsx, ['src/cli/keys-generate.ts'], {
          cwd: root,
          env: env(),
          stdio: ['ignore', fd, 'ignore'],
        })
        child.on('exit', resolve)
      })
      closeSync(fd)
      expect(code).toBe(1)
      expect(readFileSync(file, 'utf8')).toBe('')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
