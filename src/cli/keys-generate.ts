/**
 * `npm run keys:generate`: a new data encryption key (src/privacy/keys.ts), `k<n>:` and 32 random
 * bytes in base64, with the id after the highest of DATA_ENCRYPTION_KEY and
 * DATA_ENCRYPTION_KEYS_OLD when they are set (k1 otherwise), or the one given with --id.
 *
 * The only command that prints a secret. The key alone goes to standard output, which must be a
 * terminal or a pipe (`npm run -s keys:generate | npx wrangler secret put DATA_ENCRYPTION_KEY`),
 * never a file; what to do with it goes to standard error. Nothing is written anywhere else.
 */
import { fstatSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { generateDataKey, KEY_ID, nextKeyId, readDataKey } from '../privacy/keys'

const USAGE = `Usage: npm run keys:generate [-- --id kN]

Prints a new data encryption key for DATA_ENCRYPTION_KEY. Its id is the one after the highest
id in DATA_ENCRYPTION_KEY and DATA_ENCRYPTION_KEYS_OLD (k1 when neither is set), or --id.`

function fail(problem: string, code = 1): never {
  console.error(problem)
  process.exit(code)
}

let values
try {
  ;({ values } = parseArgs({
    options: { id: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
    allowPositionals: false,
  }))
} catch (error) {
  fail(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`, 2)
}
if (values.help) {
  console.log(USAGE)
  process.exit(0)
}
if (values.id !== undefined && !KEY_ID.test(values.id)) fail(`--id must be k and a number, such as k2.\n\n${USAGE}`, 2)

// Only the ids of the keys in use are read; a malformed key is named by its variable, never shown.
const inUse: string[] = []
const sources = [
  ['DATA_ENCRYPTION_KEY', process.env.DATA_ENCRYPTION_KEY],
  ['DATA_ENCRYPTION_KEYS_OLD', process.env.DATA_ENCRYPTION_KEYS_OLD],
] as const
for (const [name, value] of sources) {
  for (const text of (value ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean)) {
    const read = readDataKey(text)
    if (!read.ok) fail(`${name} ${read.problem.replace(/ \(make one.*\)$/, '')}: fix or unset it first.`)
    inUse.push(read.key.id)
  }
}
const id = values.id ?? nextKeyId(inUse)
if (inUse.includes(id)) fail(`${id} is already in use: pick an id no key has.`)

// A key in a file outlives the terminal session and ends up in backups and repositories.
if (fstatSync(1).isFile()) {
  fail('keys:generate writes the key to a terminal or a pipe, never to a file. Nothing was generated.')
}

process.stdout.write(`${generateDataKey(id)}\n`)
console.error(
  [
    '',
    `That is a new data encryption key, ${id}. It is a secret: keep it where your secrets live, never in`,
    'wrangler.toml, a .env file you commit, or a repository.',
    '  Node:     set DATA_ENCRYPTION_KEY to it in the server’s environment.',
    '  Workers:  npx wrangler secret put DATA_ENCRYPTION_KEY, and paste it when asked',
    '            (or: npm run -s keys:generate | npx wrangler secret put DATA_ENCRYPTION_KEY).',
    'Replacing a key? Move the one it replaces into DATA_ENCRYPTION_KEYS_OLD (comma-separated): what',
    'was written under it stays readable. Losing a key loses every address and name written under it.',
  ].join('\n'),
)
