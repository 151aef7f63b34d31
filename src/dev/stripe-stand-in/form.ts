// Parses Stripe's form encoding (what the SDK sends for POST bodies and GET/DELETE query strings):
// `metadata[tier]=x`, `line_items[0][price_data][recurring][interval]=month`, `expand[]=a`, `lookup_keys[0]=k`.
// The result is a plain tree; objects whose keys are all numeric (or pushed with `[]`) become arrays.

export type FormValue = string | FormValue[] | { [key: string]: FormValue }
export type Params = { [key: string]: FormValue }

/** An error answered in Stripe's error shape. */
export class StripeApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: 'invalid_request_error' | 'api_error' | 'card_error',
    message: string,
    readonly code?: string,
    readonly param?: string,
  ) {
    super(message)
  }

  body() {
    const error: Record<string, string> = { type: this.type, message: this.message }
    if (this.code) error.code = this.code
    if (this.param) error.param = this.param
    return { error }
  }
}

export const missing = (kind: string, id: string, param = 'id') =>
  new StripeApiError(404, 'invalid_request_error', `No such ${kind}: '${id}'`, 'resource_missing', param)

export const badParam = (param: string, message: string) =>
  new StripeApiError(400, 'invalid_request_error', message, 'parameter_invalid', param)

// Intermediate nodes are plain objects; `[]` appends use a counter key so order is kept.
type Node = { [key: string]: Node | string }
const PUSH = '\u0000push'

export function parseForm(...sources: string[]): Params {
  const root: Node = {}
  for (const source of sources) {
    for (const [rawKey, value] of new URLSearchParams(source)) {
      const match = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(rawKey)
      if (!match) throw badParam(rawKey, `Invalid parameter name: ${rawKey}`)
      const path = [match[1]!, ...[...match[2]!.matchAll(/\[([^[\]]*)\]/g)].map((m) => m[1]!)]
      let node = root
      for (let i = 0; i < path.length; i++) {
        let key = path[i]!
        if (key === '') key = `${PUSH}${Object.keys(node).length.toString().padStart(6, '0')}`
        if (i === path.length - 1) {
          node[key] = value
        } else {
          const next = node[key]
          if (typeof next === 'string') throw badParam(path.slice(0, i + 1).join('.'), `Invalid nesting in ${rawKey}`)
          node = node[key] = next ?? {}
        }
      }
    }
  }
  return normalize(root) as Params
}

function normalize(node: Node | string): FormValue {
  if (typeof node === 'string') return node
  const keys = Object.keys(node)
  const arrayLike = keys.length > 0 && keys.every((k) => /^\d+$/.test(k) || k.startsWith(PUSH))
  if (arrayLike) {
    const numeric = (k: string) => (k.startsWith(PUSH) ? Number(k.slice(PUSH.length)) : Number(k))
    return keys.sort((a, b) => numeric(a) - numeric(b)).map((k) => normalize(node[k]!))
  }
  const out: { [key: string]: FormValue } = {}
  for (const k of keys) out[k] = normalize(node[k]!)
  return out
}

// Typed accessors: they throw Stripe-shaped 400s so handlers can stay short.

export function str(p: Params | undefined, key: string, path = key): string | undefined {
  const v = p?.[key]
  if (v === undefined) return undefined
  if (typeof v !== 'string') throw badParam(path, `Invalid string: ${path}`)
  return v
}

export function reqStr(p: Params | undefined, key: string, path = key): string {
  const v = str(p, key, path)
  if (v === undefined || v === '') {
    throw new StripeApiError(
      400,
      'invalid_request_error',
      `Missing required param: ${path}.`,
      'parameter_missing',
      path,
    )
  }
  return v
}

/** Empty string means "unset" in Stripe's encoding (e.g. `lookup_key=` clears it). */
export function nullableStr(p: Params | undefined, key: string): string | null | undefined {
  const v = str(p, key)
  return v === '' ? null : v
}

export function int(p: Params | undefined, key: string, path = key): number | undefined {
  const v = str(p, key, path)
  if (v === undefined) return undefined
  if (!/^-?\d+$/.test(v)) throw badParam(path, `Invalid integer: ${v}`)
  return Number(v)
}

export function reqInt(p: Params | undefined, key: string, path = key): number {
  const v = int(p, key, path)
  if (v === undefined) reqStr(p, key, path)
  return v!
}

export function bool(p: Params | undefined, key: string): boolean | undefined {
  const v = str(p, key)
  if (v === undefined) return undefined
  if (v !== 'true' && v !== 'false') throw badParam(key, `Invalid boolean: ${v}`)
  return v === 'true'
}

export function obj(p: Params | undefined, key: string): Params | undefined {
  const v = p?.[key]
  if (v === undefined || v === '') return undefined
  if (typeof v !== 'object' || Array.isArray(v)) throw badParam(key, `Invalid object: ${key}`)
  return v
}

export function arr(p: Params | undefined, key: string): FormValue[] | undefined {
  const v = p?.[key]
  if (v === undefined || v === '') return undefined
  if (!Array.isArray(v)) throw badParam(key, `Invalid array: ${key}`)
  return v
}

export function strArr(p: Params | undefined, key: string): string[] | undefined {
  return arr(p, key)?.map((v, i) => {
    if (typeof v !== 'string') throw badParam(`${key}[${i}]`, `Invalid string: ${key}[${i}]`)
    return v
  })
}

/** Metadata: `metadata[k]=v`; an empty value deletes the key and `metadata=` clears all, as in Stripe. */
export function applyMetadata(current: Record<string, string>, p: Params, key = 'metadata'): Record<string, string> {
  const v = p[key]
  if (v === undefined) return current
  if (v === '') return {}
  if (typeof v !== 'object') throw badParam(key, `Invalid hash: ${key}`)
  // `metadata[0]=x` parses as an array; metadata keys are strings, so map it back.
  const entries = Array.isArray(v) ? v.map((val, i) => [String(i), val] as const) : Object.entries(v)
  const next = { ...current }
  for (const [k, val] of entries) {
    if (typeof val !== 'string') throw badParam(`${key}[${k}]`, `Invalid string: ${key}[${k}]`)
    if (val === '') delete next[k]
    else next[k] = val
  }
  return next
}
