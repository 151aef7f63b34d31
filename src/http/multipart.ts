/**
 * Reads a multipart/form-data body as it arrives, handing each file on as a stream, so that an
 * upload of many megabytes is never held whole (Workers have 128 MB for everything). Web streams
 * only: it runs the same on Node and in workerd.
 *
 * It reads what browsers and the platforms' own FormData send (the WHATWG multipart/form-data
 * encoding): a quoted name or filename ends at the next quote, and %22, %0D and %0A in it stand for
 * a quote, CR and LF; `filename*=UTF-8''…` (RFC 5987) is read too and wins over `filename=`.
 * Field values are decoded as UTF-8, as Request.formData does.
 */

/** The body is not the form it says it is; the message says what is wrong, for a person. */
export class MultipartError extends Error {
  override name = 'MultipartError'
  constructor(problem: string) {
    super(`The upload is not a well-formed form: ${problem}`)
  }
}

export interface MultipartFile {
  name: string
  filename: string
  contentType: string | null
  stream: ReadableStream<Uint8Array>
}

export interface MultipartLimits {
  /** Bytes one field that is not a file may hold; 64 KiB unless given. */
  maxFieldBytes?: number
  /** Parts (fields and files) one form may have; 100 unless given. */
  maxParts?: number
}

/** The most a part's headers may take: a browser sends a few hundred bytes. */
const MAX_HEADER_BYTES = 16 * 1024

/**
 * Reads the form in `body` (whose Content-Type header is `contentType`) and returns its fields that
 * are not files, a repeated name as an array. Each file is passed to `onFile` as it comes, in order;
 * `onFile` must read or cancel the file's stream before it resolves (whatever it leaves is skipped),
 * and the next part is read only then.
 *
 * A body that is not well-formed throws `MultipartError`. An error from `onFile` is thrown as it is,
 * and so is one from reading `body` itself (the body limit's, a client that went away). On any
 * error the body is cancelled.
 */
export async function readMultipart(
  body: ReadableStream<Uint8Array>,
  contentType: string,
  onFile: (file: MultipartFile) => Promise<void>,
  limits: MultipartLimits = {},
): Promise<Record<string, string | string[]>> {
  const maxFieldBytes = limits.maxFieldBytes ?? 64 * 1024
  const maxParts = limits.maxParts ?? 100
  const source = body.getReader()
  try {
    const parts = partReader(source, boundaryOf(contentType))
    const fields = new Map<string, string | string[]>()
    let count = 0
    for (let part = await parts.nextPart(); part !== null; part = await parts.nextPart()) {
      if (++count > maxParts) throw new MultipartError(`it has more than the ${maxParts} parts a form may have.`)
      if (part.filename === null) {
        const value = await readField(parts, part.name, maxFieldBytes)
        const earlier = fields.get(part.name)
        fields.set(part.name, earlier === undefined ? value : [earlier, value].flat())
      } else {
        await passFile(parts, { ...part, filename: part.filename }, onFile)
      }
    }
    // Whatever follows the closing boundary (the epilogue, usually a CRLF) means nothing.
    while (!(await source.read()).done);
    return Object.fromEntries(fields)
  } catch (error) {
    await source.cancel(error).catch(() => {})
    throw error
  }
}

interface PartHead {
  name: string
  filename: string | null
  contentType: string | null
}

async function readField(parts: PartReader, name: string, maxBytes: number): Promise<string> {
  const pieces: Uint8Array[] = []
  let size = 0
  for (let bytes = await parts.nextBytes(); bytes !== null; bytes = await parts.nextBytes()) {
    size += bytes.byteLength
    if (size > maxBytes) {
      throw new MultipartError(`the field "${name}" is longer than the ${maxBytes} bytes a field may hold.`)
    }
    pieces.push(bytes)
  }
  // As Request.formData reads a field: UTF-8, a leading BOM kept, bad bytes as U+FFFD.
  return new TextDecoder('utf-8', { ignoreBOM: true }).decode(concat(pieces))
}

/**
 * Hands one file part to `onFile` as a stream that reads the body only as the stream is read; once
 * `onFile` is done, skips what it left unread.
 */
async function passFile(
  parts: PartReader,
  head: PartHead & { filename: string },
  onFile: (file: MultipartFile) => Promise<void>,
): Promise<void> {
  let state: 'open' | 'ended' | 'cancelled' | 'handed back' = 'open'
  let pulling: Promise<void> = Promise.resolve()
  const stream = new ReadableStream<Uint8Array>(
    {
      pull: (controller) => {
        if (state === 'handed back') {
          controller.error(new Error('The file stream was read after onFile had resolved.'))
          return
        }
        pulling = parts.nextBytes().then((bytes) => {
          if (state === 'cancelled') return
          if (bytes !== null) return controller.enqueue(bytes)
          state = 'ended'
          controller.close()
        })
        return pulling
      },
      cancel: () => {
        state = 'cancelled'
      },
    },
    { highWaterMark: 0 },
  )
  await onFile({ ...head, stream })
  if (state === 'open') state = 'handed back'
  // A read still under way finishes first (its failure, if any, comes again from nextBytes).
  await pulling.catch(() => {})
  while ((await parts.nextBytes()) !== null);
}

interface PartReader {
  /** The headers of the next part, skipping what is left of this one; null after the closing boundary. */
  nextPart(): Promise<PartHead | null>
  /** The next bytes of this part's body; null at its end. */
  nextBytes(): Promise<Uint8Array | null>
}

const CRLF = new Uint8Array([0x0d, 0x0a])
const CRLF_CRLF = new Uint8Array([0x0d, 0x0a, 0x0d, 0x0a])
const DASH = 0x2d

/**
 * The parts of a body, read from `source` no further than asked. It holds at most the chunk being
 * read and the tail of the one before that could start a delimiter (or a part's headers, at most
 * MAX_HEADER_BYTES). Once it has thrown, it throws the same error again.
 */
function partReader(source: ReadableStreamDefaultReader<Uint8Array>, boundary: string): PartReader {
  const delimiter = new TextEncoder().encode(`\r\n--${boundary}`)
  // Unread bytes are buf[pos…]. The CRLF lets a body that opens with its first boundary line (as
  // every sender's does) match the delimiter like the others.
  let buf: Uint8Array = CRLF
  let pos = 0
  // preamble: before the first boundary; body: in a part's body; boundary: just after a delimiter
  let state: 'preamble' | 'body' | 'boundary' | 'closed' = 'preamble'
  let failure: unknown = null

  const fill = async () => {
    const next = await source.read()
    if (next.done) {
      throw new MultipartError(
        state === 'preamble'
          ? 'the boundary its Content-Type names never appears in it.'
          : 'it ends before its closing boundary: it was cut short.',
      )
    }
    buf = pos === buf.length ? next.value : concat([buf.subarray(pos), next.value])
    pos = 0
  }

  /** The next bytes before the delimiter, or null once it has been passed. */
  const bodyBytes = async (): Promise<Uint8Array | null> => {
    for (;;) {
      const found = indexOfBytes(buf, delimiter, pos)
      if (found !== -1) {
        const bytes = buf.subarray(pos, found)
        pos = found + delimiter.length
        state = 'boundary'
        return bytes.byteLength > 0 ? bytes : null
      }
      // Everything but a tail that could be the start of the delimiter is the body's.
      const safe = buf.length - partialMatchAtEnd(buf, delimiter, pos)
      if (safe > pos) {
        const bytes = buf.subarray(pos, safe)
        pos = safe
        return bytes
      }
      await fill()
    }
  }

  /** After a delimiter: the closing `--`, or padding, a line break and the next part's headers. */
  const afterDelimiter = async (): Promise<PartHead | null> => {
    while (buf.length - pos < 2) await fill()
    if (buf[pos] === DASH && buf[pos + 1] === DASH) {
      state = 'closed'
      return null
    }
    // RFC 2046 lets a sender put spaces or tabs after the boundary.
    for (let padding = 0; ; padding++) {
      if (pos === buf.length) await fill()
      if (buf[pos] !== 0x20 && buf[pos] !== 0x09) break
      if (padding > MAX_HEADER_BYTES) throw new MultipartError('a boundary line goes on and on.')
      pos++
    }
    while (buf.length - pos < 2) await fill()
    if (buf[pos] !== 0x0d || buf[pos + 1] !== 0x0a) {
      throw new MultipartError('a boundary is followed by something other than a line break.')
    }
    // The headers end at the first empty line; the search starts at this line break, so a part with
    // no headers at all is found too.
    for (;;) {
      const end = indexOfBytes(buf, CRLF_CRLF, pos)
      if (end !== -1 && end - pos <= MAX_HEADER_BYTES) {
        const head = readHead(buf.subarray(pos + 2, end))
        pos = end + CRLF_CRLF.length
        state = 'body'
        return head
      }
      if (buf.length - pos > MAX_HEADER_BYTES + CRLF_CRLF.length) {
        throw new MultipartError(`a part's headers are longer than the ${MAX_HEADER_BYTES} bytes allowed.`)
      }
      await fill()
    }
  }

  const guarded =
    <T>(step: () => Promise<T>) =>
    async (): Promise<T> => {
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- the same error again, whatever it was
      if (failure !== null) throw failure
      try {
        return await step()
      } catch (error) {
        failure = error
        throw error
      }
    }

  return {
    nextPart: guarded(async () => {
      while (state === 'preamble' || state === 'body') await bodyBytes()
      return state === 'closed' ? null : afterDelimiter()
    }),
    nextBytes: guarded(async () => (state === 'body' ? bodyBytes() : null)),
  }
}

/** A part's headers: Content-Disposition (required: form-data, with a name) and Content-Type. */
function readHead(block: Uint8Array): PartHead {
  let disposition: string | null = null
  let contentType: string | null = null
  const lines = block.byteLength === 0 ? [] : new TextDecoder().decode(block).split('\r\n')
  for (const line of lines) {
    const colon = line.indexOf(':')
    if (colon <= 0) throw new MultipartError(`a part has a header line that is not "Name: value".`)
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    if (name === 'content-disposition') disposition = value
    else if (name === 'content-type') contentType = value
    else if (name === 'content-transfer-encoding' && !/^(7bit|8bit|binary)$/i.test(value)) {
      throw new MultipartError(`a part is sent in the ${value} transfer encoding, which forms do not use.`)
    }
  }
  if (disposition === null) throw new MultipartError('a part has no Content-Disposition header.')
  const { type, params } = parameters(disposition, 'Content-Disposition')
  if (type.toLowerCase() !== 'form-data') {
    throw new MultipartError(`a part's Content-Disposition is "${type}", not "form-data".`)
  }
  const name = extendedValue(params.get('name*')) ?? quotedValue(params.get('name'))
  if (name === null) throw new MultipartError('a part has no name in its Content-Disposition.')
  const filename = extendedValue(params.get('filename*')) ?? quotedValue(params.get('filename'))
  return { name, filename, contentType }
}

/** A quoted name or filename as browsers write it: %22, %0D and %0A stand for ", CR and LF. */
function quotedValue(value: string | undefined): string | null {
  if (value === undefined) return null
  return value.replace(/%(22|0d|0a)/gi, (escape) => String.fromCharCode(parseInt(escape.slice(1), 16)))
}

/** An RFC 5987 value, `charset'language'percent-encoded`, in UTF-8 or ISO-8859-1. */
function extendedValue(value: string | undefined): string | null {
  if (value === undefined) return null
  const match = /^([^']*)'[^']*'(.*)$/.exec(value)
  const charset = match?.[1]?.toLowerCase()
  const encoded = match?.[2] ?? ''
  if (!/^(?:[^%]|%[0-9a-f]{2})*$/i.test(encoded)) {
    throw new MultipartError('a name or filename is not percent-encoded correctly.')
  }
  if (charset === 'iso-8859-1') {
    return encoded.replace(/%[0-9a-f]{2}/gi, (escape) => String.fromCharCode(parseInt(escape.slice(1), 16)))
  }
  if (charset !== 'utf-8') throw new MultipartError('a name or filename is given in a character set other than UTF-8.')
  try {
    return decodeURIComponent(encoded)
  } catch {
    throw new MultipartError('a name or filename is not UTF-8.')
  }
}

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+"
const PARAMETER = new RegExp(`\\s*;\\s*(${TOKEN})\\s*=\\s*(?:"([^"]*)"|([^\\s";]*))\\s*`, 'y')

/**
 * `type; name=value; name="quoted value"` as a type and parameters by lowercased name (a name*
 * keeps its star). Quoted values come as written, between the quotes.
 */
function parameters(header: string, what: string): { type: string; params: Map<string, string> } {
  const type = /^\s*([^\s;]*)\s*/.exec(header)
  const params = new Map<string, string>()
  PARAMETER.lastIndex = type?.[0].length ?? 0
  while (PARAMETER.lastIndex < header.length) {
    const match = PARAMETER.exec(header)
    if (match === null) {
      if (/^\s*;?\s*$/.test(header.slice(PARAMETER.lastIndex))) break
      throw new MultipartError(`its ${what} header cannot be read.`)
    }
    params.set((match[1] ?? '').toLowerCase(), match[2] ?? match[3] ?? '')
  }
  return { type: type?.[1] ?? '', params }
}

/** The boundary from a Content-Type header, checked against RFC 2046. */
function boundaryOf(contentType: string): string {
  const { type, params } = parameters(contentType, 'Content-Type')
  if (type.toLowerCase() !== 'multipart/form-data') {
    throw new MultipartError('it is not sent as multipart/form-data.')
  }
  const boundary = params.get('boundary')
  if (boundary === undefined || boundary === '') throw new MultipartError('its Content-Type names no boundary.')
  if (!/^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/.test(boundary)) {
    throw new MultipartError('the boundary its Content-Type names is not one RFC 2046 allows.')
  }
  return boundary
}

/** Where `needle` first starts in `haystack` at or after `from`, or -1. */
function indexOfBytes(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0] ?? 0
  const last = haystack.length - needle.length
  for (let i = haystack.indexOf(first, from); i !== -1 && i <= last; i = haystack.indexOf(first, i + 1)) {
    let j = 1
    while (j < needle.length && haystack[i + j] === needle[j]) j++
    if (j === needle.length) return i
  }
  return -1
}

/** The length of the longest tail of `haystack` (from `from` on) that `needle` starts with. */
function partialMatchAtEnd(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0] ?? 0
  for (
    let start = haystack.indexOf(first, Math.max(from, haystack.length - needle.length + 1));
    start !== -1;
    start = haystack.indexOf(first, start + 1)
  ) {
    let j = 1
    while (start + j < haystack.length && haystack[start + j] === needle[j]) j++
    if (start + j === haystack.length) return j
  }
  return 0
}

function concat(pieces: Uint8Array[]): Uint8Array {
  if (pieces.length === 1 && pieces[0]) return pieces[0]
  const whole = new Uint8Array(pieces.reduce((size, piece) => size + piece.byteLength, 0))
  let offset = 0
  for (const piece of pieces) {
    whole.set(piece, offset)
    offset += piece.byteLength
  }
  return whole
}
