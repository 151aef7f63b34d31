import type { Context } from 'hono'
import * as z from 'zod'
import { AppError } from './errors'

/**
 * Reads a request body sent as JSON or as an HTML form into a plain object.
 * Anything else is refused with 415, unreadable JSON or forms with 400, and text holding a NUL
 * character (which no column can store) with 422.
 */
export async function readBody(c: Context): Promise<Record<string, unknown>> {
  const type = c.req.header('content-type') ?? ''
  if (type.includes('application/json')) {
    const body: unknown = await c.req.json<unknown>().catch(() => {
      throw new AppError('bad_request', 'The request body is not valid JSON.')
    })
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new AppError('bad_request', 'The request body must be a JSON object.')
    }
    refuseNul(body)
    return body as Record<string, unknown>
  }
  if (type.includes('application/x-www-form-urlencoded') || type.includes('multipart/form-data')) {
    const form = await readForm(c)
    return Object.fromEntries(Object.entries(form).filter(([, v]) => typeof v === 'string'))
  }
  throw new AppError('unsupported_media_type', 'Send the request as JSON or as a form.')
}

/**
 * A posted form (urlencoded or multipart), fields repeated as arrays with `all`: a body that is
 * not the form it says it is (a cut-short multipart, a wrong boundary) is a 400, not a failure of
 * ours, and text holding a NUL character a 422.
 */
export async function readForm(
  c: Context,
  options: { all?: boolean } = {},
): Promise<Record<string, string | File | (string | File)[]>> {
  let form: Record<string, string | File | (string | File)[]>
  try {
    form = await c.req.parseBody({ all: options.all ?? false })
  } catch {
    throw new AppError(
      'bad_request',
      'The form could not be read: it was cut short or is not the form it says. Send it again.',
    )
  }
  refuseNul(form)
  return form
}

/** Text with a NUL character anywhere in a body: PostgreSQL stores no such text, so say so plainly. */
export function refuseNul(value: unknown, depth = 0): void {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) {
      throw new AppError('validation_failed', 'A field holds a NUL character (\\u0000), which no text here may hold.')
    }
  } else if (value !== null && typeof value === 'object' && depth < 20) {
    for (const item of Array.isArray(value) ? value : Object.values(value)) refuseNul(item, depth + 1)
  }
}

/** What a person typed into a text field, to show it again: JSON may carry anything, a form only strings. */
export const typed = (value: unknown): string => (typeof value === 'string' ? value : '')

/** Field errors by field name, for forms to show beside each input. */
export type FieldErrors = Record<string, string>

export function fieldErrors(error: z.ZodError): FieldErrors {
  const out: FieldErrors = {}
  for (const issue of error.issues) {
    const field = String(issue.path[0] ?? 'form')
    out[field] ??= issue.message
  }
  return out
}

/** The 422 for a JSON client: the first problem found, in words. (Forms show every field error instead.) */
export function validationError(errors: FieldErrors): AppError {
  const message = Object.values(errors)[0] ?? 'The request is not valid.'
  return new AppError('validation_failed', message)
}

/** An e-mail address from a form or JSON, as every address is stored: trimmed and lower-cased. */
export const emailField = z
  .string({ error: 'Enter your e-mail address.' })
  .trim()
  .toLowerCase()
  .min(1, 'Enter your e-mail address.')
  .max(254, 'That e-mail address is too long.')
  .pipe(z.email({ error: 'Enter a valid e-mail address, like name@example.org.' }))

/**
 * The request body as a stream that fails with 413 once more than `maxBytes` have come: for
 * uploads read as they arrive (hono's bodyLimit reads a body without a Content-Length whole
 * before the handler sees it). A Content-Length over the limit is refused before anything is read.
 */
export function limitedBody(c: Context, maxBytes: number): ReadableStream<Uint8Array> {
  const tooLarge = () =>
    new AppError('payload_too_large', `The upload is larger than the ${Math.floor(maxBytes / 1048576)} MB allowed.`)
  const declared = Number(c.req.header('content-length') ?? 0)
  if (declared > maxBytes) throw tooLarge()
  const body = c.req.raw.body ?? new Blob([]).stream()
  let seen = 0
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        seen += chunk.byteLength
        if (seen > maxBytes) controller.error(tooLarge())
        else controller.enqueue(chunk)
      },
    }),
  )
}

/** Node's request, as @hono/node-server hands it to the app (c.env.incoming), as far as rawBody reads it. */
interface NodeIncoming extends AsyncIterable<Uint8Array> {
  readableFlowing: boolean | null
  readableEnded: boolean
  /** Bytes of the body waiting in the stream's buffer. */
  readableLength: number
  read(): Uint8Array | null
}

/** Stateless (no `stream` option), so one for every request. */
const utf8 = new TextDecoder()

/**
 * The whole body as bytes, for a signature check on exactly what was sent (webhooks). On the Node
 * server, a body with a Content-Length that nobody has started reading is read straight from Node's
 * request: through the app (c.req.arrayBuffer) it first becomes a Fetch Request with a stream,
 * which cost more than the rest of a duplicate webhook's reading. Elsewhere, and for a chunked
 * body (which bodyLimit counts through c.req.raw), the app's way. Mount bodyLimit before it.
 */
export async function rawBody(c: Context): Promise<Uint8Array> {
  const incoming = (c.env as { incoming?: Partial<NodeIncoming> } | undefined)?.incoming
  const declared = c.req.header('content-length')
  if (
    incoming &&
    typeof incoming[Symbol.asyncIterator] === 'function' &&
    incoming.readableFlowing === null &&
    incoming.readableEnded === false &&
    declared !== undefined &&
    c.req.header('transfer-encoding') === undefined
  ) {
    // A small body usually comes with the headers, and all its declared bytes wait in the buffer: one read.
    if (incoming.readableLength === Number(declared)) {
      const whole = incoming.read!()
      if (whole) return whole
    }
    const chunks: Uint8Array[] = []
    let length = 0
    for await (const chunk of incoming as NodeIncoming) {
      chunks.push(chunk)
      length += chunk.byteLength
    }
    if (chunks.length === 1) return chunks[0]!
    const whole = new Uint8Array(length)
    let at = 0
    for (const chunk of chunks) {
      whole.set(chunk, at)
      at += chunk.byteLength
    }
    return whole
  }
  return new Uint8Array(await c.req.arrayBuffer())
}

/** The whole body as UTF-8 text (rawBody). */
export async function rawBodyText(c: Context): Promise<string> {
  return utf8.decode(await rawBody(c))
}
