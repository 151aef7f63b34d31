/**
 * `node src/cli/run.ts <tool> [arguments…]`: runs the command-line tool src/cli/<tool>.ts from a
 * bundle of it (dist/cli-<tool>, made when missing or older than its sources: src/cli/bundle.ts),
 * with the arguments after its name, as `tsx src/cli/<tool>.ts [arguments…]` would, without tsx's
 * start: the import tools' npm scripts run through it, so that an import is timed by its work.
 *
 * Runs on Node's own type stripping (no tsx): it imports nothing of Masthead's but the bundle.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { runBundle } from './bundle.ts'

const tool = process.argv[2] ?? ''
const entry = `src/cli/${tool}.ts`
if (!/^[a-z][a-z0-9-]*$/.test(tool) || !existsSync(fileURLToPath(new URL(`../../${entry}`, import.meta.url)))) {
  console.error(`Usage: node src/cli/run.ts <tool> [arguments…], where src/cli/<tool>.ts is a command-line tool.`)
  process.exit(2)
}
// The tool reads its own arguments from process.argv, as if started by itself.
process.argv.splice(2, 1)
await runBundle({ entry, name: `cli-${tool}` })
