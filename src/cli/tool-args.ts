/**
 * What the import tools (import-patreon.ts, import-ghost.ts, import-stripe.ts) share before their
 * own work: refusing with a message and an exit code, their arguments, the configuration, and a
 * tier mapping read from a JSON file.
 */
import { readFileSync } from 'node:fs'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { ConfigError, loadConfig, type Config } from '../config'
import { describeErrorText } from '../http/log'

/** Says why on stderr and exits: 2 for a wrong command line, 1 for anything else. */
export function fail(message: string, code = 1): never {
  console.error(message)
  process.exit(code)
}

/** The command line parsed by `options`, or the problem and the usage (exit 2). */
export function toolArgs<T extends ParseArgsConfig['options']>(usage: string, options: T, positionals = false) {
  try {
    return parseArgs({ options, allowPositionals: positionals, strict: true })
  } catch (error) {
    fail(`${error instanceof Error ? error.message : String(error)}\n${usage}`, 2)
  }
}

/** The configuration from the environment, or what is wrong with it (exit 1). */
export function toolConfig(): Config {
  try {
    return loadConfig(process.env)
  } catch (error) {
    fail(error instanceof ConfigError ? error.message : String(error))
  }
}

/**
 * A tier mapping given as a JSON file (`{"Gold": "patron"}`, of `what` to tier ids), `auto`, or
 * nothing (an empty mapping). A file that cannot be read or is not such an object: exit 2.
 */
export function readMappingFile(path: string | undefined, what: string): Record<string, string> | 'auto' {
  if (!path) return {}
  if (path === 'auto') return 'auto'
  let value: unknown
  try {
    value = JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    fail(`Could not read the tier mapping ${path}: ${describeErrorText(error)}`, 2)
  }
  if (
    !value ||
    typeof value !== 'object' ||
    Array.isArray(value) ||
    !Object.values(value).every((v) => typeof v === 'string')
  ) {
    fail(`${path} must be a JSON object of ${what} to tier ids, like {"Gold": "patron"}.`, 2)
  }
  return value as Record<string, string>
}
