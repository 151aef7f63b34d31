import { parse } from 'csv-parse/sync'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { csvStream, neutralizeCell, type CsvCell, type CsvColumn } from '../../src/supporters/csv'

type Supporter = { name: string; amount?: CsvCell; since?: CsvCell }

const columns: CsvColumn<Supporter>[] = [
  { header: 'name', value: (s) => s.name },
  { header: 'amount', value: (s) => s.amount },
  { header: 'since', value: (s) => s.since },
]

async function* inBatches<T>(...batches: T[][]): AsyncGenerator<T[]> {
  yield* batches
}

async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer())
}

/** The file's text with its BOM kept, so tests can see it. */
async function textOf(stream: ReadableStream<Uint8Array>): Promise<string> {
  return new TextDecoder('utf-8', { ignoreBOM: true }).decode(await bytesOf(stream))
}

/** The export as a spreadsheet would read it: rows of cells, header first. */
async function cellsOf(stream: ReadableStream<Uint8Array>): Promise<string[][]> {
  return parse(await textOf(stream), { bom: true }) as string[][]
}

/** Lets any pulls the stream wants to make run, so read-ahead would show. */
const settled = () => new Promise((resolve) => setTimeout(resolve, 20))

const exportOf = (...rows: Supporter[]) => csvStream(columns, inBatches(rows))

describe('neutralizeCell', () => {
  it('prefixes a quote to values a spreadsheet would run as a formula', () => {
    for (const value of ['=1+1', '+1', '-1', '@SUM(A1)', '\tx', '\rx', '\n=1+1']) {
      expect(neutralizeCell(value)).toBe(`'${value}`)
    }
  })

  it('leaves other values alone, including formula characters after the start', () => {
    for (const value of ['', 'Zoë', 'a=b', '1-2', 'x@example.org', ' =1', "'quoted", '5']) {
      expect(neutralizeCell(value)).toBe(value)
    }
  })
})

describe('csvStream: formula injection in the actual file', () => {
  const dangerous = {
    'equals sign': '=HYPERLINK("https://evil.example","Click")',
    'plus sign': '+1+cmd|" /C calc"!A0',
    'minus sign': '-2+3',
    'at sign': '@SUM(1+1)',
    tab: '\t=1+1',
    'carriage return': '\r=1+1',
  }

  for (const [name, value] of Object.entries(dangerous)) {
    it(`neutralizes a cell starting with a ${name}`, async () => {
      const [, row] = await cellsOf(exportOf({ name: value }))
      expect(row![0]).toBe(`'${value}`)
    })
  }

  it('leaves safe values untouched', async () => {
    const [, row] = await cellsOf(exportOf({ name: 'Ada Lovelace', amount: 'a=b', since: 'x@example.org' }))
    expect(row).toEqual(['Ada Lovelace', 'a=b', 'x@example.org'])
  })

  it('writes numbers as numbers, negative ones too, but neutralizes the string "-5"', async () => {
    const [, numeric, text] = await cellsOf(exportOf({ name: 'a', amount: -5 }, { name: '-5', amount: 1250 }))
    expect(numeric).toEqual(['a', '-5', ''])
    expect(text).toEqual(["'-5", '1250', ''])
  })

  it('writes dates as ISO 8601 and null or undefined as empty cells', async () => {
    const since = new Date(Date.UTC(2024, 1, 29, 13, 5, 9))
    const [, row] = await cellsOf(exportOf({ name: 'a', amount: null, since }, { name: 'b' }))
    expect(row).toEqual(['a', '', '2024-02-29T13:05:09.000Z'])
  })
})

describe('csvStream: format', () => {
  it('starts with a UTF-8 BOM, then the header line', async () => {
    const bytes = await bytesOf(exportOf())
    expect([...bytes.slice(0, 3)]).toEqual([0xef, 0xbb, 0xbf])
    expect(await textOf(exportOf())).toBe('\uFEFFname,amount,since\r\n')
  })

  it('ends every line with CRLF', async () => {
    const text = await textOf(exportOf({ name: 'a', amount: 1 }, { name: 'b', amount: 2 }))
    expect(text).toBe('\uFEFFname,amount,since\r\na,1,\r\nb,2,\r\n')
  })

  it('quotes commas, quotes and line breaks so they round-trip', async () => {
    const names = ['Smith, Jane', 'The "Chief" Editor', 'two\nlines', 'crlf\r\ninside', 'plain']
    const [, ...rows] = await cellsOf(exportOf(...names.map((name) => ({ name }))))
    expect(rows.map((row) => row[0])).toEqual(names)
    const text = await textOf(exportOf({ name: 'Smith, Jane' }, { name: 'The "Chief" Editor' }))
    expect(text).toContain('\r\n"Smith, Jane",,\r\n"The ""Chief"" Editor",,\r\n')
  })

  it('read back by a CSV parser, gives every cell whole and none a spreadsheet would run', async () => {
    // Line breaks of every kind, quotes and commas around formula starts: the tricks that split a
    // row or hide a formula. fast-check mixes them with arbitrary text, in batches.
    const pieces = ['\n', '\r', '\r\n', '"', '""', ',', '=', '+', '-', '@', '\t', 'cmd|', "'", 'a', ' ', 'é']
    const cell = fc
      .array(fc.oneof(fc.constantFrom(...pieces), fc.string({ maxLength: 3 })), { maxLength: 8 })
      .map((parts) => parts.join(''))
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(cell, { minLength: 1, maxLength: 20 }), { maxLength: 4 }), async (batches) => {
        const rows = batches.map((names) => names.map((name) => ({ name, amount: -5, since: name })))
        const stream = csvStream(columns, inBatches(...rows))
        const [header, ...cells] = await cellsOf(stream)
        expect(header).toEqual(['name', 'amount', 'since'])
        const names = batches.flat()
        expect(cells).toHaveLength(names.length)
        for (const [i, row] of cells.entries()) {
          expect(row).toEqual([neutralizeCell(names[i]!), '-5', neutralizeCell(names[i]!)])
          for (const value of [row[0]!, row[2]!]) expect(value, JSON.stringify(value)).not.toMatch(/^[=+\-@\t\r\n]/)
        }
      }),
      { numRuns: 300, seed: 20261205 },
    )
  })

  it('keeps Unicode as UTF-8', async () => {
    const names = ['Zoë Ñúñez', '日本', 'emoji 🎉']
    const [, ...rows] = await cellsOf(exportOf(...names.map((name) => ({ name }))))
    expect(rows.map((row) => row[0])).toEqual(names)
    const bytes = await bytesOf(exportOf({ name: 'Zoë' }))
    expect(new TextDecoder('utf-8', { fatal: true }).decode(bytes)).toContain('Zoë')
  })

  it('skips empty batches without stalling', async () => {
    const stream = csvStream(columns, inBatches<Supporter>([], [], [{ name: 'a' }], []))
    expect(await textOf(stream)).toBe('\uFEFFname,amount,since\r\na,,\r\n')
  })
})

describe('csvStream: streaming', () => {
  it('fetches batches only as the consumer reads', async () => {
    let produced = 0
    async function* lazyBatches() {
      for (let batch = 0; batch < 1000; batch++) {
        produced++
        yield Array.from({ length: 100 }, (_, i) => ({ name: `supporter ${batch * 100 + i}`, amount: i }))
      }
    }
    const reader = csvStream(columns, lazyBatches()).getReader()

    await reader.read()
    await settled()
    expect(produced).toBeLessThanOrEqual(2)
    for (let i = 0; i < 5; i++) await reader.read()
    await settled()
    expect(produced).toBeLessThanOrEqual(7)

    let text = ''
    const decoder = new TextDecoder()
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += decoder.decode(chunk.value)
    expect(produced).toBe(1000)
    expect(text.endsWith('supporter 99999,99,\r\n')).toBe(true)
  })

  it('errors, rather than ending, when the batches fail', async () => {
    async function* failing() {
      yield [{ name: 'a' }]
      throw new Error('connection lost')
    }
    await expect(textOf(csvStream(columns, failing()))).rejects.toThrow('connection lost')
  })

  it('errors when a column fails, and closes the batches', async () => {
    let closed = false
    async function* batches() {
      try {
        yield [{ name: 'a', since: new Date(Number.NaN) }]
        yield [{ name: 'b' }]
      } finally {
        closed = true
      }
    }
    await expect(textOf(csvStream(columns, batches()))).rejects.toThrow(RangeError)
    expect(closed).toBe(true)
  })

  it('closes the batches (the cursor) when the consumer cancels', async () => {
    let closed = false
    async function* endless() {
      try {
        for (;;) yield [{ name: 'a' }]
      } finally {
        closed = true
      }
    }
    const reader = csvStream(columns, endless()).getReader()
    await reader.read()
    await reader.read()
    await reader.cancel('download aborted')
    expect(closed).toBe(true)
  })

  it('calls return() on a plain iterator too, and copes with one that has none', async () => {
    let returned = 0
    const withReturn: AsyncIterable<Supporter[]> = {
      [Symbol.asyncIterator]: () => ({
        next: async () => ({ done: false, value: [{ name: 'a' }] }),
        return: async () => {
          returned++
          return { done: true, value: undefined }
        },
      }),
    }
    const reader = csvStream(columns, withReturn).getReader()
    await reader.read()
    await reader.read()
    await reader.cancel()
    expect(returned).toBe(1)

    const withoutReturn: AsyncIterable<Supporter[]> = {
      [Symbol.asyncIterator]: () => ({ next: async () => ({ done: false, value: [{ name: 'a' }] }) }),
    }
    const other = csvStream(columns, withoutReturn).getReader()
    await other.read()
    await other.read()
    await expect(other.cancel()).resolves.toBeUndefined()
  })
})
