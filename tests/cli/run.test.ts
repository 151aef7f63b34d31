import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'

/**
 * `node src/cli/run.ts <tool>` (the import tools' npm scripts) runs src/cli/<tool>.ts from its
 * bundle with the arguments after the tool's name, and refuses anything that is not a tool there.
 */
describe('node src/cli/run.ts', () => {
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ['src/cli/run.ts', ...args], { encoding: 'utf8', timeout: 60_000 })

  it("runs the tool with its own arguments: import:ghost's usage, and its refusal of a file that is not there", () => {
    const usage = run('import-ghost')
    expect(usage.status).toBe(2)
    expect(usage.stderr).toContain('Usage: npm run import:ghost -- members.csv')
    const missing = run('import-ghost', '/nonexistent/members.csv', '--dry-run')
    expect(missing.status).not.toBe(0)
    expect(missing.stderr).toMatch(/members\.csv/)
    expect(missing.stderr).not.toContain('Usage: node src/cli/run.ts')
  })

  it('refuses a name that is not a tool in src/cli', () => {
    for (const name of ['', 'no-such-tool', '../node', 'import-ghost.ts']) {
      const res = run(name)
      expect(res.status).toBe(2)
      expect(res.stderr).toContain('Usage: node src/cli/run.ts <tool>')
    }
  })
})
