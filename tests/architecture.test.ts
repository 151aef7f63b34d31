/**
 * The shape of src/, read from its import graph by dependency-cruiser.
 *
 * A node is a first-level folder under src/ (`billing`) or a file directly in
 * src/ (`app.ts`). Type-only imports are kept apart: they vanish at run time,
 * so they cannot make a circle nor pull code into a bundle.
 */
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { cruise, type ICruiseResult } from 'dependency-cruiser'
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config'
import { beforeAll, describe, expect, it } from 'vitest'

/** One import from a file in src/ to another, e.g. src/billing/x.ts → src/accounts/y.ts. */
interface Import {
  from: string
  to: string
  typeOnly: boolean
}

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const SHARED = ['http', 'ui', 'db', 'util', 'privacy']
const DEV_TOOLS = ['dev', 'cli']
/** Every other folder is a feature, so a new feature folder is covered without editing this file. */
const FEATURES = readdirSync(`${ROOT}/src`, { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && ![...SHARED, ...DEV_TOOLS].includes(entry.name))
  .map((entry) => entry.name)

/** `src/billing/tiers/tiers.ts` → `billing`; `src/app.ts` → `app.ts`. */
function nodeOf(file: string): string {
  return file.replace(/^src\//, '').split('/')[0]!
}

/**
 * The circles among nodes made by value imports (Tarjan's strongly connected
 * components), each described by every import that joins two of its nodes:
 * `billing → accounts (src/billing/x.ts → src/accounts/y.ts)`.
 */
function findCircles(imports: Import[]): string[][] {
  const edges = new Map<string, Map<string, string[]>>()
  for (const { from, to, typeOnly } of imports) {
    const [a, b] = [nodeOf(from), nodeOf(to)]
    if (typeOnly || a === b) continue
    const targets = edges.get(a) ?? new Map<string, string[]>()
    edges.set(a, targets.set(b, [...new Set([...(targets.get(b) ?? []), `${from} → ${to}`])]))
  }
  const nodes = new Set([...edges.keys(), ...[...edges.values()].flatMap((targets) => [...targets.keys()])])
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const components: string[][] = []
  const visit = (v: string) => {
    index.set(v, index.size)
    low.set(v, index.get(v)!)
    stack.push(v)
    for (const w of edges.get(v)?.keys() ?? []) {
      if (!index.has(w)) visit(w)
      if (stack.includes(w)) low.set(v, Math.min(low.get(v)!, low.get(w)!))
    }
    if (low.get(v) !== index.get(v)) return
    const component = stack.splice(stack.indexOf(v))
    if (component.length > 1) components.push(component.sort())
  }
  for (const v of [...nodes].sort()) if (!index.has(v)) visit(v)
  return components.map((component) =>
    component.flatMap((a) =>
      component.flatMap((b) => (edges.get(a)?.get(b) ?? []).map((why) => `${a} → ${b} (${why})`)),
    ),
  )
}

/** Every import between files in src/, as dependency-cruiser sees it before TypeScript erases the types. */
async function importsInSrc(): Promise<Import[]> {
  const tsConfig = `${ROOT}/tsconfig.json`
  const result = await cruise(
    ['src'],
    {
      baseDir: ROOT,
      tsConfig: { fileName: tsConfig },
      tsPreCompilationDeps: true,
      doNotFollow: { path: 'node_modules' },
    },
    { exportsFields: ['exports'], conditionNames: ['import', 'node', 'default'] },
    { tsConfig: extractTSConfig(tsConfig) },
  )
  const { modules } = result.output as ICruiseResult
  const unresolved = modules.flatMap((m) =>
    m.dependencies.filter((d) => d.couldNotResolve && d.module.startsWith('.')).map((d) => `${m.source} → ${d.module}`),
  )
  // An import it could not follow would be an edge missing from every check below.
  expect(unresolved).toEqual([])
  return modules
    .filter((m) => m.source.startsWith('src/'))
    .flatMap((m) =>
      m.dependencies
        .filter((d) => d.resolved.startsWith('src/'))
        .map((d) => ({
          from: m.source,
          to: d.resolved,
          typeOnly: d.dependencyTypes.some((t) => t === 'type-only' || t === 'type-import'),
        })),
    )
}

/** Each import as `from → to`, once (a file may import another both for types and for values). */
function described(list: Import[]): string[] {
  return [...new Set(list.map((i) => `${i.from} → ${i.to}`))]
}

/** The files src/worker.ts loads at run time, each with the chain of imports that reaches it. */
function closureOf(entry: string, imports: Import[]): Map<string, string[]> {
  const reached = new Map([[entry, [entry]]])
  const queue = [entry]
  for (let file = queue.shift(); file; file = queue.shift()) {
    for (const { to } of imports.filter((i) => i.from === file && !i.typeOnly)) {
      if (reached.has(to)) continue
      reached.set(to, [...reached.get(file)!, to])
      queue.push(to)
    }
  }
  return reached
}

let imports: Import[]
beforeAll(async () => {
  imports = await importsInSrc()
})

describe('the import graph of src/', () => {
  it('sees the whole of src/, type-only imports included', () => {
    expect(FEATURES).toEqual(expect.arrayContaining(['accounts', 'billing', 'supporters']))
    expect(imports.some((i) => i.from === 'src/app.ts' && i.to === 'src/billing/checkout-routes.tsx')).toBe(true)
    expect(imports.some((i) => i.from === 'src/http/guards.ts' && i.to === 'src/services.ts' && i.typeOnly)).toBe(true)
  })

  it('has no circle between folders (and root files) by value imports', () => {
    expect(findCircles(imports)).toEqual([])
  })

  it('ui imports only ui, util, config.ts and db; and services.ts for types only', () => {
    const allowed = (i: Import) =>
      ['ui', 'util', 'config.ts', 'db'].includes(nodeOf(i.to)) || (i.typeOnly && i.to === 'src/services.ts')
    const stray = imports.filter((i) => i.from.startsWith('src/ui/') && !allowed(i))
    expect(described(stray)).toEqual([])
  })

  it('http imports no feature folder, not even for types', () => {
    const stray = imports.filter((i) => i.from.startsWith('src/http/') && FEATURES.includes(nodeOf(i.to)))
    expect(described(stray)).toEqual([])
  })

  it('privacy (encryption and blind indexes) imports only util, and config.ts for types only', () => {
    const allowed = (i: Import) =>
      ['privacy', 'util'].includes(nodeOf(i.to)) || (i.typeOnly && i.to === 'src/config.ts')
    const stray = imports.filter((i) => i.from.startsWith('src/privacy/') && !allowed(i))
    expect(described(stray)).toEqual([])
    expect(imports.some((i) => i.from === 'src/privacy/keys.ts' && i.to === 'src/config.ts' && i.typeOnly)).toBe(true)
  })

  it('only src/dev, src/cli and src/node.ts import the development tools in src/dev', () => {
    const mayImport = (file: string) => ['dev', 'cli', 'node.ts'].includes(nodeOf(file))
    const stray = imports.filter((i) => i.to.startsWith('src/dev/') && !mayImport(i.from))
    expect(described(stray)).toEqual([])
  })

  it('the Worker (src/worker.ts) loads no file from src/dev or src/cli', () => {
    const closure = closureOf('src/worker.ts', imports)
    expect(closure.has('src/app.ts')).toBe(true)
    const stray = [...closure].filter(([file]) => DEV_TOOLS.includes(nodeOf(file))).map(([, chain]) => chain)
    expect(stray.map((chain) => chain.join(' → '))).toEqual([])
  })
})

describe('the circle finder', () => {
  it('reports a circle with the imports that make it, and ignores type-only imports and imports inside a folder', () => {
    const circles = findCircles([
      { from: 'src/billing/x.ts', to: 'src/accounts/y.ts', typeOnly: false },
      { from: 'src/accounts/z.ts', to: 'src/app.ts', typeOnly: false },
      { from: 'src/app.ts', to: 'src/billing/w.ts', typeOnly: false },
      { from: 'src/accounts/y.ts', to: 'src/accounts/z.ts', typeOnly: false },
      { from: 'src/http/a.ts', to: 'src/services.ts', typeOnly: true },
      { from: 'src/services.ts', to: 'src/http/b.ts', typeOnly: false },
      { from: 'src/ui/a.ts', to: 'src/util/b.ts', typeOnly: false },
    ])
    expect(circles).toEqual([
      [
        'accounts → app.ts (src/accounts/z.ts → src/app.ts)',
        'app.ts → billing (src/app.ts → src/billing/w.ts)',
        'billing → accounts (src/billing/x.ts → src/accounts/y.ts)',
      ],
    ])
  })
})
