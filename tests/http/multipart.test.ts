import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MultipartError, readMultipart, type MultipartFile, type MultipartLimits } from '../../src/http/multipart'

/**
 * The streaming multipart reader against the platform's own encoder and decoder (a form encoded by
 * `new Response(formData)` must read as `Response.formData()` reads it, however the body is split
 * into chunks), against bodies written by hand with boundary-like bytes in their files, and against
 * broken bodies, which must fail with a MultipartError and never hang.
 */

const encoder = new TextEncoder()
const bytesOf = (text: string) => encoder.encode(text)
const textOf = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

interface Source {
  body: ReadableStream<Uint8Array>
  /** Bytes handed to the reader so far. */
  pulled(): number
  /** The reason the reader cancelled the body with, if it did. */
  cancelled(): { reason: unknown } | null
}

/** A body that gives `bytes` in chunks of the given sizes (the last size repeats), only when pulled. */
function sourceOf(bytes: Uint8Array, sizes: number[] | number): Source {
  const list = typeof sizes === 'number' ? [sizes] : sizes
  let offset = 0
  let index = 0
  let cancel: { reason: unknown } | null = null
  const body = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (offset >= bytes.length) return controller.close()
        const size = Math.max(1, list[Math.min(index++, list.length - 1)] ?? 1)
        controller.enqueue(bytes.slice(offset, offset + size))
        offset += size
      },
      cancel(reason) {
        cancel = { reason }
      },
    },
    { highWaterMark: 0 },
  )
  return { body, pulled: () => Math.min(offset, bytes.length), cancelled: () => cancel }
}

/** A body cut at the given offsets, each piece one chunk. */
function splitAt(bytes: Uint8Array, cuts: number[]): number[] {
  const points = [...new Set(cuts.map((cut) => Math.min(Math.max(cut, 1), bytes.length)))].sort((a, b) => a - b)
  return [...points, bytes.length].map((point, i) => point - (points[i - 1] ?? 0)).filter((size) => size > 0)
}

interface ReadFile {
  name: string
  filename: string
  contentType: string | null
  text: string
  bytes: number[]
}

/** Reads a form, keeping each file's bytes. */
async function read(body: ReadableStream<Uint8Array>, contentType: string, limits?: MultipartLimits) {
  const files: ReadFile[] = []
  const fields = await readMultipart(
    body,
    contentType,
    async (file) => {
      const bytes = new Uint8Array(await new Response(file.stream).arrayBuffer())
      const { name, filename, contentType } = file
      files.push({ name, filename, contentType, text: textOf(bytes), bytes: [...bytes] })
    },
    limits,
  )
  return { fields, files }
}

/** A form encoded by the platform, as a browser would send it. */
async function encode(form: FormData): Promise<{ bytes: Uint8Array<ArrayBuffer>; contentType: string }> {
  const response = new Response(form)
  return { bytes: new Uint8Array(await response.arrayBuffer()), contentType: response.headers.get('content-type')! }
}

/** The platform's own reading of the same body, in the shape `read` gives. */
async function platformReading(bytes: Uint8Array<ArrayBuffer>, contentType: string) {
  const form = await new Response(bytes, { headers: { 'content-type': contentType } }).formData()
  const fields = new Map<string, string | string[]>()
  const files: ReadFile[] = []
  for (const [name, value] of form) {
    if (typeof value === 'string') {
      const earlier = fields.get(name)
      fields.set(name, earlier === undefined ? value : [earlier, value].flat())
    } else {
      const content = new Uint8Array(await value.arrayBuffer())
      files.push({ name, filename: value.name, contentType: value.type, text: textOf(content), bytes: [...content] })
    }
  }
  return { fields: Object.fromEntries(fields), files }
}

/** The error a body fails with; fails the test if it is read without one. */
async function failureOf(
  body: ReadableStream<Uint8Array> | string | Uint8Array,
  contentType: string,
  limits?: MultipartLimits,
) {
  const stream =
    body instanceof ReadableStream ? body : sourceOf(typeof body === 'string' ? bytesOf(body) : body, 7).body
  try {
    await read(stream, contentType, limits)
  } catch (error) {
    return error
  }
  throw new Error('Expected the body to be refused')
}

const BOUNDARY = 'masthead-test-boundary'
const FORM_TYPE = `multipart/form-data; boundary=${BOUNDARY}`

/** A body written by hand: each part its header lines and its content. */
function handWritten(parts: { headers: string[]; content: string | Uint8Array }[], boundary = BOUNDARY): Uint8Array {
  const pieces: Uint8Array[] = []
  for (const part of parts) {
    pieces.push(bytesOf(`--${boundary}\r\n${part.headers.map((line) => `${line}\r\n`).join('')}\r\n`))
    pieces.push(typeof part.content === 'string' ? bytesOf(part.content) : part.content)
    pieces.push(bytesOf('\r\n'))
  }
  pieces.push(bytesOf(`--${boundary}--\r\n`))
  return new Uint8Array(pieces.flatMap((piece) => [...piece]))
}

const field = (name: string, value: string) => ({
  headers: [`Content-Disposition: form-data; name="${name}"`],
  content: value,
})
const file = (name: string, filename: string, content: string | Uint8Array) => ({
  headers: [`Content-Disposition: form-data; name="${name}"; filename="${filename}"`, 'Content-Type: text/csv'],
  content,
})

function sampleForm(): FormData {
  const form = new FormData()
  form.append('mapping', '{"Reader":"reader"}')
  form.append(
    'file',
    new File(['Name,Email\r\n"Ada, ""Countess""",ada@example.com\r\n--\r\n-'], 'members.csv', { type: 'text/csv' }),
  )
  form.append('tier', 'reader')
  form.append('tier', 'patron')
  form.append('empty', '')
  form.append('note', 'Zoë — 寄付 🎉\r\nline two')
  form.append('blank', new File([], 'nothing.csv'))
  form.append('binary', new File([new Uint8Array([0, 255, 13, 10, 45, 45, 13, 0xc3])], 'b.bin'))
  return form
}

describe('a form encoded by the platform', () => {
  it('reads as the platform reads it, split into chunks of every size', async () => {
    const { bytes, contentType } = await encode(sampleForm())
    const expected = await platformReading(bytes, contentType)
    expect(expected.files).toHaveLength(3)
    expect(expected.fields.tier).toEqual(['reader', 'patron'])
    for (let size = 1; size <= bytes.length + 1; size++) {
      expect(await read(sourceOf(bytes, size).body, contentType), `chunks of ${size}`).toEqual(expected)
    }
  })

  it('reads as the platform reads it, whatever the fields and files and however it is split', async () => {
    // Contents rich in line breaks, dashes and boundary-like text, which a delimiter search trips on.
    const piece = fc.constantFrom(
      '\r',
      '\n',
      '\r\n',
      '-',
      '--',
      '\r\n--',
      '----formdata-',
      'a',
      'é',
      '"',
      '%22',
      '\0',
      ' ',
    )
    const content = fc.array(fc.oneof(piece, fc.string({ maxLength: 4 })), { maxLength: 30 }).map((p) => p.join(''))
    const entry = fc.record({
      name: fc.oneof(fc.constantFrom('file', 'a"b', 'a\r\nb', 'naïve', '%22'), fc.string({ maxLength: 6 })),
      value: content,
      filename: fc.option(
        fc.oneof(fc.constantFrom('members.csv', 'a"b.csv', 'ü.csv'), fc.string({ minLength: 1, maxLength: 6 })),
      ),
    })
    await fc.assert(
      fc.asyncProperty(
        fc.array(entry, { maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        async (entries, cuts) => {
          const form = new FormData()
          for (const { name, value, filename } of entries) {
            if (filename === null) form.append(name, value)
            else form.append(name, new File([value], filename, { type: 'text/plain' }))
          }
          const { bytes, contentType } = await encode(form)
          const sizes = splitAt(
            bytes,
            cuts.map((cut) => cut % (bytes.length + 1)),
          )
          expect(await read(sourceOf(bytes, sizes).body, contentType)).toEqual(
            await platformReading(bytes, contentType),
          )
        },
      ),
      { numRuns: 300 },
    )
  })
})

describe('a file whose bytes look like a boundary', () => {
  const delimiter = `\r\n--${BOUNDARY}`

  it('keeps every partial delimiter, at every split, as the file’s bytes', async () => {
    // Each proper prefix of the delimiter, followed by something else, and one right at the end.
    const tricky =
      Array.from({ length: delimiter.length }, (_, k) => delimiter.slice(0, k) + 'x').join('') + delimiter.slice(0, -1)
    const body = handWritten([file('file', 'members.csv', tricky), field('after', 'still read')])
    for (let size = 1; size <= 80; size++) {
      const { fields, files } = await read(sourceOf(body, size).body, FORM_TYPE)
      expect(
        files.map((f) => f.text),
        `chunks of ${size}`,
      ).toEqual([tricky])
      expect(fields).toEqual({ after: 'still read' })
    }
  })

  it('keeps random mixes of delimiter pieces, whatever the split', async () => {
    // A whole delimiter may not appear in a part (RFC 2046), but any piece of one may.
    const prefixes = Array.from({ length: delimiter.length }, (_, k) => delimiter.slice(0, k))
    const pieces = fc.constantFrom(...prefixes, '-', 'x', '\r\n')
    const after = fc.constantFrom('x', '-', '\r', '\n', '')
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(pieces, after), { maxLength: 12 }),
        fc.array(fc.nat()),
        async (parts, cuts) => {
          const content = parts.map(([piece, next]) => piece + next).join('')
          const body = handWritten([file('file', 'f.csv', content), field('tail', content)])
          const sizes = splitAt(
            body,
            cuts.map((cut) => cut % body.length),
          )
          const result = await read(sourceOf(body, sizes).body, FORM_TYPE)
          expect(result.files.map((f) => f.text)).toEqual([content])
          expect(result.fields).toEqual({ tail: content })
        },
      ),
      { numRuns: 300 },
    )
  })
})

describe('streaming', () => {
  it('passes a large file on as it arrives, holding no more than a chunk and a delimiter', async () => {
    const size = 2 * 1024 * 1024
    const content = new Uint8Array(size).map((_, i) => (i % 97 === 0 ? 13 : i % 89 === 0 ? 10 : 45))
    const body = handWritten([field('before', 'x'), file('file', 'big.csv', content), field('after', 'y')])
    const chunk = 64 * 1024
    const source = sourceOf(body, chunk)
    let received = 0
    let largestLead = 0
    let largestPiece = 0
    const fields = await readMultipart(source.body, FORM_TYPE, async (upload) => {
      for await (const piece of upload.stream) {
        received += piece.byteLength
        largestPiece = Math.max(largestPiece, piece.byteLength)
        // What the reader has taken from the body but not yet given the file's reader.
        largestLead = Math.max(largestLead, source.pulled() - received)
      }
    })
    expect(fields).toEqual({ before: 'x', after: 'y' })
    expect(received).toBe(size)
    expect(largestPiece).toBeLessThanOrEqual(chunk + BOUNDARY.length + 4)
    expect(largestLead).toBeLessThanOrEqual(chunk + 200) // a chunk, and the parts' headers before the file
  })

  it('does not read the body ahead of a file’s reader', async () => {
    const body = handWritten([file('file', 'big.csv', new Uint8Array(1024 * 1024).fill(65))])
    const source = sourceOf(body, 1024)
    await readMultipart(source.body, FORM_TYPE, async (upload) => {
      const reader = upload.stream.getReader()
      await reader.read()
      await new Promise((resolve) => setTimeout(resolve, 5))
      expect(source.pulled()).toBeLessThanOrEqual(3 * 1024)
      await reader.cancel()
    })
  })
})

describe('a file reader that stops early', () => {
  const body = handWritten([
    file('file', 'members.csv', 'a'.repeat(100_000)),
    field('mapping', '{}'),
    file('second', 's.csv', 'second'),
  ])

  it('may cancel the stream: the rest is skipped and later parts still read', async () => {
    const seen: string[] = []
    const fields = await readMultipart(sourceOf(body, 1000).body, FORM_TYPE, async (upload) => {
      const reader = upload.stream.getReader()
      const first = await reader.read()
      seen.push(`${upload.name}:${first.done ? 'done' : textOf(first.value).slice(0, 1)}`)
      await reader.cancel()
    })
    expect(fields).toEqual({ mapping: '{}' })
    expect(seen).toEqual(['file:a', 'second:s'])
  })

  it('may leave the stream unread: the rest is skipped, and reading it afterwards fails', async () => {
    const streams: MultipartFile['stream'][] = []
    const fields = await readMultipart(sourceOf(body, 999).body, FORM_TYPE, async (upload) => {
      streams.push(upload.stream)
    })
    expect(fields).toEqual({ mapping: '{}' })
    await expect(streams[0]!.getReader().read()).rejects.toThrow('after onFile had resolved')
  })

  it('may stop with a for-await break', async () => {
    const fields = await readMultipart(sourceOf(body, 10).body, FORM_TYPE, async (upload) => {
      for await (const piece of upload.stream) if (piece.byteLength > 0) break
    })
    expect(fields).toEqual({ mapping: '{}' })
  })
})

describe('an onFile that throws', () => {
  it('rejects with that same error, after cancelling the body', async () => {
    const body = handWritten([file('file', 'members.csv', 'a'.repeat(10_000)), field('after', 'x')])
    const source = sourceOf(body, 100)
    const refusal = new Error('not a Patreon export')
    const thrown = await readMultipart(source.body, FORM_TYPE, async (upload) => {
      await upload.stream.getReader().read()
      throw refusal
    }).catch((error: unknown) => error)
    expect(thrown).toBe(refusal)
    expect(source.cancelled()).toEqual({ reason: refusal })
    expect(source.pulled()).toBeLessThan(body.length)
  })

  it('cancels the body on a MultipartError too', async () => {
    const body = bytesOf(`--${BOUNDARY}\r\nContent-Type: text/plain\r\n\r\n${'x'.repeat(10_000)}`)
    const source = sourceOf(body, 100)
    const error = await failureOf(source.body, FORM_TYPE)
    expect(error).toBeInstanceOf(MultipartError)
    expect(source.cancelled()).toEqual({ reason: error })
  })

  it('gets the MultipartError of a body that breaks off in its file, and passes it on', async () => {
    const body = handWritten([file('file', 'members.csv', 'a'.repeat(10_000))]).slice(0, 5_000)
    const thrown = await failureOf(sourceOf(body, 100).body, FORM_TYPE)
    expect(thrown).toBeInstanceOf(MultipartError)
    expect((thrown as Error).message).toMatch(/cut short/)
  })
})

describe('names and filenames', () => {
  it('reads quoted names with %22, %0D and %0A, filename*= and unquoted values', async () => {
    const body = handWritten([
      { headers: ['Content-Disposition: form-data; name="a%22b%0D%0Ac"'], content: '1' },
      {
        headers: [
          'content-disposition: FORM-DATA ; NAME=plain ; filename*=UTF-8\'\'%C3%BC%20%22x%22.csv; filename="fallback.csv"',
        ],
        content: '2',
      },
      {
        headers: ['Content-Disposition: form-data; name="f"; filename="x.csv"; filename*=iso-8859-1\'en\'%E9.csv'],
        content: '3',
      },
      {
        headers: [
          'Content-Disposition: form-data; name="nothing chosen"; filename=""',
          'Content-Type: application/octet-stream',
        ],
        content: '',
      },
      { headers: ['Content-Disposition: form-data; name="__proto__"'], content: 'own property' },
      { headers: ['Content-Disposition: form-data; name="back\\"'], content: 'a name ending in a backslash' },
    ])
    const { fields, files } = await read(sourceOf(body, 5).body, FORM_TYPE)
    expect(Object.keys(fields)).toEqual(['a"b\r\nc', '__proto__', 'back\\'])
    expect(Object.getPrototypeOf(fields)).toBe(Object.prototype)
    expect(files.map((f) => [f.name, f.filename, f.contentType, f.text])).toEqual([
      ['plain', 'ü "x".csv', null, '2'],
      ['f', 'é.csv', null, '3'],
      ['nothing chosen', '', 'application/octet-stream', ''],
    ])
  })

  it('reads a quoted boundary, padding after a boundary, a preamble and an epilogue', async () => {
    const body = bytesOf(
      `This is the preamble.\r\n--${BOUNDARY} \t\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--${BOUNDARY}--\r\nepilogue`,
    )
    expect(await read(sourceOf(body, 3).body, `Multipart/Form-Data; charset=utf-8; boundary="${BOUNDARY}"`)).toEqual({
      fields: { a: '1' },
      files: [],
    })
  })
})

describe('limits', () => {
  it('refuse a field over maxFieldBytes, and take one at it', async () => {
    const body = handWritten([field('mapping', 'x'.repeat(100))])
    expect(await read(sourceOf(body, 7).body, FORM_TYPE, { maxFieldBytes: 100 })).toEqual({
      fields: { mapping: 'x'.repeat(100) },
      files: [],
    })
    const error = await failureOf(body, FORM_TYPE, { maxFieldBytes: 99 })
    expect(error).toBeInstanceOf(MultipartError)
    expect((error as Error).message).toBe(
      'The upload is not a well-formed form: the field "mapping" is longer than the 99 bytes a field may hold.',
    )
  })

  it('refuse a field over 64 KiB by default, but not a file', async () => {
    const big = 'x'.repeat(64 * 1024 + 1)
    expect((await failureOf(handWritten([field('mapping', big)]), FORM_TYPE)) as Error).toBeInstanceOf(MultipartError)
    expect((await read(sourceOf(handWritten([file('file', 'f.csv', big)]), 4096).body, FORM_TYPE)).files[0]?.text).toBe(
      big,
    )
  })

  it('refuse more parts than maxParts, files included, and 100 by default', async () => {
    const parts = (n: number) =>
      handWritten(Array.from({ length: n }, (_, i) => (i % 2 ? field(`f${i}`, 'x') : file(`g${i}`, 'g.csv', 'y'))))
    expect((await read(sourceOf(parts(3), 50).body, FORM_TYPE, { maxParts: 3 })).files).toHaveLength(2)
    expect(((await failureOf(parts(4), FORM_TYPE, { maxParts: 3 })) as Error).message).toBe(
      'The upload is not a well-formed form: it has more than the 3 parts a form may have.',
    )
    expect((await read(sourceOf(parts(100), 500).body, FORM_TYPE)).files).toHaveLength(50)
    expect(((await failureOf(parts(101), FORM_TYPE)) as Error).message).toMatch(/more than the 100 parts/)
  })

  it('refuse headers over 16 KiB', async () => {
    const long = handWritten([
      { headers: ['Content-Disposition: form-data; name="a"', `X-Padding: ${'p'.repeat(16 * 1024)}`], content: '' },
    ])
    expect(((await failureOf(long, FORM_TYPE)) as Error).message).toMatch(/headers are longer than the 16384 bytes/)
    const endless = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytesOf(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="a"\r\nX: `))
      },
      pull(controller) {
        controller.enqueue(new Uint8Array(1024).fill(97))
      },
    })
    expect(((await failureOf(endless, FORM_TYPE)) as Error).message).toMatch(/headers are longer/)
  })
})

describe('a body that is not a well-formed form', () => {
  const valid = handWritten([field('mapping', '{}'), file('file', 'members.csv', 'Name,Email\r\n')])

  it.each([
    ['no boundary parameter', 'multipart/form-data', valid, 'its Content-Type names no boundary.'],
    ['an empty boundary', 'multipart/form-data; boundary=""', valid, 'its Content-Type names no boundary.'],
    [
      'a boundary RFC 2046 does not allow',
      'multipart/form-data; boundary=a{b',
      valid,
      'the boundary its Content-Type names is not one RFC 2046 allows.',
    ],
    ['another media type', `text/plain; boundary=${BOUNDARY}`, valid, 'it is not sent as multipart/form-data.'],
    [
      'a Content-Type that cannot be read',
      `multipart/form-data; boundary="${BOUNDARY}`,
      valid,
      'its Content-Type header cannot be read.',
    ],
    [
      'another boundary than the header’s',
      'multipart/form-data; boundary=other',
      valid,
      'the boundary its Content-Type names never appears in it.',
    ],
    ['an empty body', FORM_TYPE, '', 'the boundary its Content-Type names never appears in it.'],
    [
      'no closing boundary',
      FORM_TYPE,
      valid.slice(0, valid.length - 4),
      'it ends before its closing boundary: it was cut short.',
    ],
    [
      'a body cut in the headers',
      FORM_TYPE,
      `--${BOUNDARY}\r\nContent-Disposition: form-data; na`,
      'it ends before its closing boundary: it was cut short.',
    ],
    [
      'a part without Content-Disposition',
      FORM_TYPE,
      `--${BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nx\r\n--${BOUNDARY}--`,
      'a part has no Content-Disposition header.',
    ],
    [
      'a part without headers',
      FORM_TYPE,
      `--${BOUNDARY}\r\n\r\nx\r\n--${BOUNDARY}--`,
      'a part has no Content-Disposition header.',
    ],
    [
      'a disposition other than form-data',
      FORM_TYPE,
      `--${BOUNDARY}\r\nContent-Disposition: attachment; name="a"\r\n\r\nx\r\n--${BOUNDARY}--`,
      'a part\'s Content-Disposition is "attachment", not "form-data".',
    ],
    [
      'a part without a name',
      FORM_TYPE,
      `--${BOUNDARY}\r\nContent-Disposition: form-data; filename="a.csv"\r\n\r\nx\r\n--${BOUNDARY}--`,
      'a part has no name in its Content-Disposition.',
    ],
    [
      'a name whose quote is never closed',
      FORM_TYPE,
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="a\r\n\r\nx\r\n--${BOUNDARY}--`,
      'its Content-Disposition header cannot be read.',
    ],
    [
      'a header line without a colon',
      FORM_TYPE,
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="a"\r\nnonsense\r\n\r\nx\r\n--${BOUNDARY}--`,
      'a part has a header line that is not "Name: value".',
    ],
    [
      'a base64 part',
      FORM_TYPE,
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="a"\r\nContent-Transfer-Encoding: base64\r\n\r\neA==\r\n--${BOUNDARY}--`,
      'a part is sent in the base64 transfer encoding, which forms do not use.',
    ],
    [
      'a filename* in another charset',
      FORM_TYPE,
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="a"; filename*=koi8-r''%C1\r\n\r\nx\r\n--${BOUNDARY}--`,
      'a name or filename is given in a character set other than UTF-8.',
    ],
    [
      'a filename* badly encoded',
      FORM_TYPE,
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="a"; filename*=UTF-8''%C3\r\n\r\nx\r\n--${BOUNDARY}--`,
      'a name or filename is not UTF-8.',
    ],
    [
      'a filename* with a stray %',
      FORM_TYPE,
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="a"; filename*=UTF-8''100%\r\n\r\nx\r\n--${BOUNDARY}--`,
      'a name or filename is not percent-encoded correctly.',
    ],
    [
      'a boundary run into other text',
      FORM_TYPE,
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--${BOUNDARY}XYZ\r\n`,
      'a boundary is followed by something other than a line break.',
    ],
  ])('is refused for %s', async (_, contentType, body, problem) => {
    for (const size of [1, 3, 1000]) {
      const source = sourceOf(typeof body === 'string' ? bytesOf(body) : body, size)
      const error = await failureOf(source.body, contentType)
      expect(error).toBeInstanceOf(MultipartError)
      expect((error as Error).message).toBe(`The upload is not a well-formed form: ${problem}`)
      // Cancelled, unless the reader had already come to the body's end.
      expect([null, error]).toContain(source.cancelled()?.reason ?? null)
    }
  })

  it('is refused for every cut short version of a form, and read once the closing boundary is in', async () => {
    const { bytes, contentType } = await encode(sampleForm())
    expect(textOf(bytes.slice(-4))).toBe('--\r\n')
    const closed = bytes.length - 2 // the closing boundary's -- is in; its CRLF is the epilogue
    for (let length = 0; length < bytes.length; length++) {
      const reading = read(sourceOf(bytes.slice(0, length), 5).body, contentType)
      if (length >= closed) await expect(reading).resolves.toMatchObject({ files: { length: 3 } })
      else await expect(reading, `cut at ${length}`).rejects.toBeInstanceOf(MultipartError)
    }
  })

  it('is refused with a MultipartError, or read, whatever bytes are changed, dropped or added', async () => {
    const { bytes, contentType } = await encode(sampleForm())
    const edit = fc.record({ at: fc.nat(), drop: fc.nat({ max: 8 }), insert: fc.uint8Array({ maxLength: 8 }) })
    const special = fc.constantFrom(...['\r', '\n', '-', '"', ';', ':', '\r\n\r\n', '--'].map(bytesOf))
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(edit, fc.record({ at: fc.nat(), drop: fc.constant(0), insert: special })), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.nat({ max: 40 }),
        async (edits, size) => {
          let mutated = [...bytes]
          for (const { at, drop, insert } of edits) {
            const where = at % (mutated.length + 1)
            mutated = [...mutated.slice(0, where), ...insert, ...mutated.slice(where + drop)]
          }
          const outcome = await read(sourceOf(new Uint8Array(mutated), size + 1).body, contentType).catch(
            (error: unknown) => error,
          )
          if (outcome instanceof Error) expect(outcome).toBeInstanceOf(MultipartError)
        },
      ),
      { numRuns: 400 },
    )
  })
})

describe('the body’s own failure', () => {
  it('is thrown as it is, not as a MultipartError', async () => {
    const cut = new Error('client went away')
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(
          bytesOf(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="a"; filename="a.csv"\r\n\r\nabc`),
        )
      },
      pull(controller) {
        controller.error(cut)
      },
    })
    expect(await failureOf(body, FORM_TYPE)).toBe(cut)
  })
})
