/**
 * `npm start`: builds the Node server (src/node.ts, into dist/node) when its bundle is missing or
 * older than its sources, then runs it in this process (src/cli/bundle.ts). The development tools
 * stay a chunk of their own, loaded only outside production. `npm run build:node` (`--build`)
 * builds anyway and runs nothing.
 *
 * Runs on Node's own type stripping (no tsx): it imports nothing of Masthead's but the bundle.
 */
import { buildOnce, runBundle, type Bundle } from './bundle.ts'

const server: Bundle = { entry: 'src/node.ts', name: 'node' }

if (process.argv.includes('--build')) await buildOnce(server, true)
else await runBundle(server)
