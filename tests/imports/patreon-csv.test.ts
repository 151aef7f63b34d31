import { readFileSync } from 'node:fs'
import { parse } from 'csv-parse/sync'
import { stringify } from 'csv-stringify/sync'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  PATREON_IMPORT_LIMITS,
  PatreonCsvError,
  createPatreonReader,
  parsePatreonCsv,
  readPatreonStream,
  type PatreonImportLimits,
  type PatreonParseResult,
  type PatreonRow,
  type RejectedRow,
} from '../../src/imports/patreon-csv'
import { PATREON_HEADERS, patreonCsvFixture } from '../../src/dev/patreon-fixture'

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}.csv`, import.meta.url), 'utf8')
const withBomAndCrlf = (csv: string) => '\uFEFF' + csv.replaceAll('\n', '\r\n')

/** A valid member in the current layout; each test overrides only the cells it is about. */
const VALID_MEMBER: Record<string, string> = {
  Name: 'Ada Lovelace',
  Email: 'ada@example.com',
  'Patron Status': 'Active patron',
  'Free Member': 'No',
  'Lifetime Amount': '35.88',
  'Pledge Amount': '2.99',
  'Charge Frequency': 'monthly',
  Tier: 'Reader',
  'Patronage Since Date': '2025-08-10 13:37:12',
  'User ID': '12345678',
  Currency: 'USD',
}

function exportOf(members: Record<string, string>[], header = PATREON_HEADERS.current): string {
  return stringify(
    members.map((member) => ({ ...VALID_MEMBER, ...member })),
    { header: true, columns: header },
  )
}

/** The reason the single member in an export is rejected (it is on line 2). */
function rejectionOf(member: Record<string, string>): string {
  const result = parsePatreonCsv(exportOf([member]))
  expect(result.rows).toEqual([])
  expect(result.rejected).toHaveLength(1)
  expect(result.rejected[0]?.line).toBe(2)
  return result.rejected[0]?.reason ?? ''
}

function fileError(input: string | Uint8Array, limits?: PatreonImportLimits): string {
  try {
    parsePatreonCsv(input, limits)
  } catch (error) {
    if (error instanceof PatreonCsvError) return error.message
    throw error
  }
  throw new Error('Expected a PatreonCsvError')
}

/**
 * Every value a CSV holds in the columns Masthead must never keep. Addressee is left out where it
 * equals the Name, which is kept; State and Country are two-letter codes that could match by chance,
 * and no output field can hold them (see the test of the row's keys).
 */
function neverStoredValues(csv: string): string[] {
  const members = parse(csv, { bom: true, columns: true }) as Record<string, string>[]
  const columns = ['Street', 'City', 'Zip', 'Phone', 'Discord', 'Twitter', 'Additional Details', 'Full country name']
  return members
    .flatMap((member) => [
      ...columns.map((column) => member[column] ?? ''),
      member.Addressee === member.Name ? '' : (member.Addressee ?? ''),
    ])
    .filter((value) => value !== '')
}

function expectNoneIn(result: PatreonParseResult, values: string[]) {
  const text = JSON.stringify(result)
  expect(values.length).toBeGreaterThan(0)
  // Compared JSON-escaped, so a value with a line break or a quote is found too.
  const found = values.filter((value) => text.includes(JSON.stringify(value).slice(1, -1)))
  expect(found).toEqual([])
}

describe('a current export', () => {
  const result = parsePatreonCsv(fixture('current'))

  it('reads every member, each with its status', () => {
    expect(result.variant).toBe('current')
    expect(result.rejected).toEqual([])
    expect(result.rows.map((row) => [row.line, row.email, row.status, row.freeMember])).toEqual([
      [2, 'ada@example.com', 'active', false],
      [3, 'grace.hopper@navy.example.org', 'active', false],
      [4, 'alan@bletchley.example', 'declined', false],
      [5, 'kj@orbit.example.com', 'former', false],
      [6, 'edsger@shortest.example.nl', 'none', true],
      [7, 'barbara@substitution.example', 'none', false],
      [8, 'juergen@example.de', 'active', false],
    ])
  })

  it('gives amounts in minor units, currencies in lowercase and dates in UTC', () => {
    expect(result.rows[0]).toEqual({
      line: 2,
      name: 'Ada Lovelace',
      email: 'ada@example.com',
      status: 'active',
      freeMember: false,
      tier: 'Reader',
      pledgeAmount: 299,
      lifetimeAmount: 3588,
      currency: 'gbp',
      chargeFrequency: 'monthly',
      patronSince: new Date('2025-08-10T13:37:12Z'),
      lastChargeDate: new Date('2026-08-10T13:37:14Z'),
      lastChargeStatus: 'Paid',
      nextChargeDate: new Date('2026-09-10T00:00:00Z'),
      accessExpiration: null,
      lastUpdated: new Date('2026-08-10T15:52:24Z'),
      patreonUserId: '12345678',
    })
  })

  it('trims and lowercases what needs it, and keeps names as written', () => {
    const [, grace, , katherine, , barbara, juergen] = result.rows
    expect(grace).toMatchObject({ chargeFrequency: 'annual', pledgeAmount: 10000, currency: 'usd', tier: 'Patron' })
    expect(katherine).toMatchObject({ accessExpiration: new Date('2026-06-30T00:00:00Z'), nextChargeDate: null })
    expect(barbara).toMatchObject({ tier: null, pledgeAmount: null, lifetimeAmount: null, currency: null })
    expect(juergen?.name).toBe('Jürgen Müller')
  })

  it('reads the same from bytes as from text', () => {
    const bytes = readFileSync(new URL('./fixtures/current.csv', import.meta.url))
    expect(parsePatreonCsv(bytes)).toEqual(result)
  })
})

describe('an older export', () => {
  const result = parsePatreonCsv(fixture('older'))

  it('reads every member, and counts a member with no status as free', () => {
    expect(result.variant).toBe('older')
    expect(result.rejected).toEqual([])
    expect(result.rows.map((row) => [row.line, row.name, row.status, row.freeMember])).toEqual([
      [2, 'Radia Perlman', 'active', false],
      [3, 'Donald Knuth', 'declined', false],
      [4, 'Frances Allen', 'former', false],
      [5, 'Linus Pauling', 'none', true],
    ])
    expect(result.rows[2]).toMatchObject({ pledgeAmount: 300, lifetimeAmount: 1200, currency: 'usd' })
    expect(result.rows[2]?.accessExpiration).toEqual(new Date('2025-05-20T00:00:00Z'))
  })
})

describe('columns Masthead never keeps', () => {
  it('have no field in a row', () => {
    const row = parsePatreonCsv(fixture('current')).rows[0] ?? {}
    expect(Object.keys(row).sort()).toEqual(
      [
        'line',
        'name',
        'email',
        'status',
        'freeMember',
        'tier',
        'pledgeAmount',
        'lifetimeAmount',
        'currency',
        'chargeFrequency',
        'patronSince',
        'lastChargeDate',
        'lastChargeStatus',
        'nextChargeDate',
        'accessExpiration',
        'lastUpdated',
        'patreonUserId',
      ].sort(),
    )
  })

  it.each(['current', 'older', 'multiline'])('leave no value anywhere in the result of the %s fixture', (name) => {
    const csv = fixture(name)
    expectNoneIn(parsePatreonCsv(csv), neverStoredValues(csv))
  })

  it('leave no value anywhere in the result of generated exports', () => {
    for (const variant of ['current', 'older'] as const) {
      const csv = patreonCsvFixture(300, { variant, seed: 7 })
      expectNoneIn(parsePatreonCsv(csv), neverStoredValues(csv))
    }
  })

  it('leave no value in the reasons rows are rejected for', () => {
    const csv = exportOf([{ Email: 'nobody', Street: '221B Baker Street', Phone: '+44 20 7224 3688' }])
    const result = parsePatreonCsv(csv)
    expect(result.rejected).toHaveLength(1)
    expectNoneIn(result, ['221B Baker Street', '+44 20 7224 3688'])
  })
})

describe('quoted fields over several lines', () => {
  const result = parsePatreonCsv(fixture('multiline'))

  it('keep commas and quotes inside fields, and line numbers true to the file', () => {
    expect(result.rows.map((row) => [row.line, row.name, row.email])).toEqual([
      [2, 'Lovelace, Ada', 'ada.multiline@example.com'],
      [6, 'Jean "JJ" Dupont', 'jj@example.fr'],
    ])
    expect(result.rejected).toEqual([
      { line: 5, reason: 'The e-mail address is not valid.' },
      { line: 8, reason: 'The Patronage Since Date "2026-13-01 00:00:00" is not a date like 2026-08-10 13:37:12.' },
    ])
  })

  it('read the same with a byte order mark and Windows line endings, as text or bytes', () => {
    const windows = withBomAndCrlf(fixture('multiline'))
    expect(parsePatreonCsv(windows)).toEqual(result)
    expect(parsePatreonCsv(new TextEncoder().encode(windows))).toEqual(result)
  })
})

describe('columns', () => {
  it('are found by name, in any order, in any case, ignoring unknown ones', () => {
    const [header = [], ...records] = parse(fixture('current')) as string[][]
    const order = header.map((_, index) => header.length - 1 - index)
    const shuffled = [
      ['Pronouns', ...order.map((index) => ` ${header[index]?.toUpperCase()} `)],
      ...records.map((record) => ['they/them', ...order.map((index) => record[index] ?? '')]),
    ]
    expect(parsePatreonCsv(stringify(shuffled))).toEqual(parsePatreonCsv(fixture('current')))
  })

  it('outside the required ones may be missing, and read as empty', () => {
    const required = ['Name', 'Email', 'Patron Status', 'Lifetime Amount', 'Pledge Amount', 'Tier']
    const header = [...required, 'Patronage Since Date', 'User ID', 'Currency']
    const result = parsePatreonCsv(exportOf([{}, { Email: 'free@example.com', 'Patron Status': '' }], header))
    expect(result.variant).toBe('older')
    expect(result.rows.map((row) => [row.status, row.freeMember, row.chargeFrequency, row.nextChargeDate])).toEqual([
      ['active', false, null, null],
      ['none', true, null, null],
    ])
  })

  it('missing at the end of a short row read as empty', () => {
    const header = PATREON_HEADERS.current.join(',')
    const short = 'Ada,ada@example.com,,Active patron,Yes,No,No,2.99,2.99,monthly,Reader'
    const result = parsePatreonCsv(`${header}\n${short}\n`)
    expect(result.rejected).toEqual([])
    expect(result.rows[0]).toMatchObject({ name: 'Ada', pledgeAmount: 299, patronSince: null, currency: null })
  })
})

describe('amounts', () => {
  it.each([
    ['2.99', 299],
    ['10', 1000],
    ['0.5', 50],
    ['0.00', 0],
    ['1234.56', 123456],
    [' 7.10 ', 710],
  ])('"%s" is %i minor units', (text, minor) => {
    expect(parsePatreonCsv(exportOf([{ 'Pledge Amount': text }])).rows[0]?.pledgeAmount).toBe(minor)
  })

  it.each([
    ['1,000.00', 'The Pledge Amount "1,000.00" is not an amount Masthead can read: write the amount with a dot'],
    ['-5.00', 'The Pledge Amount "-5.00" is negative.'],
    ['2.999', 'The Pledge Amount "2.999" is not an amount Masthead can read: use at most two decimal places'],
    ['abc', 'The Pledge Amount "abc" is not an amount Masthead can read: enter the amount as a number'],
    ['$2.99', 'The Pledge Amount "$2.99" is not an amount Masthead can read: enter the amount as a number'],
  ])('"%s" is refused', (text, reason) => {
    expect(rejectionOf({ 'Pledge Amount': text })).toContain(reason)
  })

  it('names the column the bad amount is in', () => {
    expect(rejectionOf({ 'Lifetime Amount': '12.345' })).toMatch(/^The Lifetime Amount "12.345" /)
  })
})

describe('rejected rows', () => {
  it.each(['bob@', '@example.com', 'bob smith@example.com', 'a@b@example.com', 'bob@localhost', 'bob@example.'])(
    'include the e-mail "%s", which is not an address, without repeating it',
    (email) => {
      expect(rejectionOf({ Email: email })).toBe('The e-mail address is not valid.')
    },
  )

  it('include an e-mail longer than 254 characters', () => {
    const email = `${'a'.repeat(243)}@example.com`
    expect(rejectionOf({ Email: email })).toBe('The e-mail address is not valid.')
  })

  it('include a row with no e-mail', () => {
    expect(rejectionOf({ Email: '  ' })).toBe('The row has no e-mail address.')
  })

  it.each([
    ['Last Charge Date', '10/08/2026'],
    ['Patronage Since Date', '2026-02-30 10:00:00'],
    ['Next Charge Date', '2026-08-10 25:00:00'],
    ['Last Updated', 'yesterday'],
    ['Access Expiration', '2026-08-10T13:37:12Z'],
  ])('name the column and value of a date that cannot be read (%s "%s")', (column, value) => {
    expect(rejectionOf({ [column]: value })).toBe(`The ${column} "${value}" is not a date like 2026-08-10 13:37:12.`)
  })

  it('accept a date with no time, as midnight UTC', () => {
    const row = parsePatreonCsv(exportOf([{ 'Last Charge Date': '2026-08-10' }])).rows[0]
    expect(row?.lastChargeDate).toEqual(new Date('2026-08-10T00:00:00Z'))
  })

  it('include an unknown Patron Status', () => {
    expect(rejectionOf({ 'Patron Status': 'Paused patron' })).toBe(
      'The Patron Status "Paused patron" is not one Patreon uses (Active patron, Declined patron, Former patron, or empty).',
    )
  })

  it('include a currency that is not a three-letter code', () => {
    expect(rejectionOf({ Currency: 'US Dollar' })).toBe('The Currency "US Dollar" is not a three-letter code like USD.')
  })

  it('include a Free Member value other than Yes or No', () => {
    expect(rejectionOf({ 'Free Member': 'Maybe' })).toBe('The Free Member value "Maybe" should be Yes or No.')
  })

  it('give every problem of a row in one reason', () => {
    expect(rejectionOf({ Email: 'bob@', Currency: 'dollars' })).toBe(
      'The e-mail address is not valid. The Currency "dollars" is not a three-letter code like USD.',
    )
  })

  it('include the second and later rows with an e-mail already seen, naming the first line but not the address', () => {
    const result = parsePatreonCsv(
      exportOf([
        { Email: 'ada@example.com' },
        { Email: 'grace@example.com' },
        { Email: 'ADA@Example.com' },
        { Email: ' ada@example.com' },
      ]),
    )
    expect(result.rows.map((row) => [row.line, row.email])).toEqual([
      [2, 'ada@example.com'],
      [3, 'grace@example.com'],
    ])
    expect(result.rejected).toEqual([
      { line: 4, reason: 'The e-mail address already appears on line 2.' },
      { line: 5, reason: 'The e-mail address already appears on line 2.' },
    ])
  })

  it('leave out rows with every field empty, silently, keeping later line numbers right', () => {
    const [header, first, second] = exportOf([{}, { Email: 'bob@' }]).split('\n')
    const csv = [header, '', first, ',,,,', '  ,  ', second, '', '', ''].join('\n')
    const result = parsePatreonCsv(csv)
    expect(result.rows.map((row) => row.line)).toEqual([3])
    expect(result.rejected).toEqual([{ line: 6, reason: 'The e-mail address is not valid.' }])
  })
})

describe('a file that cannot be imported', () => {
  it.each([
    ['no bytes', ''],
    ['only whitespace', '  \n\r\n\t'],
    ['only a byte order mark', '\uFEFF'],
  ])('is refused when it has %s', (_, text) => {
    expect(fileError(text)).toBe('The file is empty.')
    expect(fileError(new TextEncoder().encode(text))).toBe('The file is empty.')
  })

  it('is refused when it has a header and no rows', () => {
    const header = PATREON_HEADERS.current.join(',')
    expect(fileError(`${header}\n`)).toBe('The file has a header but no rows.')
    expect(fileError(`${header}\r\n,,,\r\n\r\n`)).toBe('The file has a header but no rows.')
  })

  it('is refused when it is not a Patreon export, naming the missing columns', () => {
    expect(fileError('Foo,Bar\n1,2\n')).toBe(
      'This is not a Patreon members export: the columns Name, Email, Patron Status, Lifetime Amount, ' +
        'Pledge Amount, Tier, Patronage Since Date, User ID, Currency are missing.',
    )
    const header = PATREON_HEADERS.current.filter((name) => name !== 'Email')
    expect(fileError(exportOf([{}], header))).toBe('This is not a Patreon members export: the column Email is missing.')
  })

  it('is refused when it is not UTF-8, with advice', () => {
    const latin1 = Buffer.from(exportOf([{ Name: 'Zoë Ménard' }]), 'latin1')
    expect(fileError(latin1)).toMatch(/^The file is not UTF-8 text.*Export it again from Patreon/)
  })

  it('is refused when it is over the size limit, as text or bytes', () => {
    const small = { maxBytes: 100, maxRows: 10 }
    expect(fileError(fixture('current'), small)).toBe('The file is too big: one import can take at most 100 bytes.')
    expect(fileError(Buffer.from(fixture('current')), small)).toBe(
      'The file is too big: one import can take at most 100 bytes.',
    )
    // 60 characters, 120 bytes: the limit is on bytes.
    expect(fileError('é'.repeat(60), small)).toBe('The file is too big: one import can take at most 100 bytes.')
    expect(fileError('x'.repeat(PATREON_IMPORT_LIMITS.maxBytes + 1))).toBe(
      'The file is too big: one import can take at most 20 MB.',
    )
  })

  it('is refused when it has more rows than the limit', () => {
    const limits = { maxBytes: PATREON_IMPORT_LIMITS.maxBytes, maxRows: 6 }
    expect(fileError(fixture('current'), limits)).toBe('The file has 7 rows, more than the 6 one import can take.')
    expect(parsePatreonCsv(fixture('current'), { ...limits, maxRows: 7 }).rows).toHaveLength(7)
  })

  it('is refused when a quote is never closed, naming the line the row starts on', () => {
    const broken = fixture('multiline') + 'Zed,"zed@example.com,Active patron\nZed,2.99\n'
    const message = 'The file is not valid CSV: a quoted field in the row starting on line 9 is never closed.'
    expect(fileError(broken)).toMatch(new RegExp(`^${message}`))
    expect(fileError(withBomAndCrlf(broken))).toMatch(new RegExp(`^${message}`))
  })

  it('is refused when a quote sits in the middle of a field, naming the line', () => {
    const broken = fixture('multiline') + 'Ze"d,zed@example.com,Active patron\n'
    expect(fileError(broken)).toMatch(
      /^The file is not valid CSV: the row starting on line 9 has a quote \("\) in the middle of a field\./,
    )
  })
})

describe('patreonCsvFixture', () => {
  it('makes the same export for the same seed', () => {
    expect(patreonCsvFixture(50, { seed: 3 })).toBe(patreonCsvFixture(50, { seed: 3 }))
    expect(patreonCsvFixture(50, { seed: 3 })).not.toBe(patreonCsvFixture(50, { seed: 4 }))
  })

  it('makes 50,000 rows that all parse, with a realistic mix of statuses', () => {
    const result = parsePatreonCsv(patreonCsvFixture(50_000))
    expect(result.variant).toBe('current')
    expect(result.rejected).toEqual([])
    expect(result.rows).toHaveLength(50_000)
    const share = (status: string) => result.rows.filter((row) => row.status === status).length / 50_000
    expect(share('active')).toBeCloseTo(0.7, 1)
    expect(share('declined')).toBeCloseTo(0.1, 1)
    expect(share('former')).toBeCloseTo(0.15, 1)
    expect(share('none')).toBeCloseTo(0.05, 1)
    expect(new Set(result.rows.map((row) => row.tier))).toEqual(new Set(['Reader', 'Supporter', 'Patron', null]))
  })

  it('makes older exports too', () => {
    const result = parsePatreonCsv(patreonCsvFixture(1_000, { variant: 'older', seed: 9 }))
    expect(result.variant).toBe('older')
    expect(result.rejected).toEqual([])
    expect(result.rows).toHaveLength(1_000)
  })
})

/** Cut points (any byte offsets) as the sizes of the pieces between them. */
function piecesAt(length: number, cuts: number[]): number[] {
  const points = [...new Set(cuts.map((cut) => cut % (length + 1)))].sort((a, b) => a - b)
  return [...points, length].map((point, i) => point - (points[i - 1] ?? 0))
}

/** What the incremental reader makes of `bytes` fed in pieces of the given sizes. */
function readInPieces(bytes: Uint8Array, sizes: number[], limits?: PatreonImportLimits): PatreonParseResult {
  const reader = createPatreonReader(limits)
  const rows: PatreonRow[] = []
  const rejected: RejectedRow[] = []
  let offset = 0
  for (const size of sizes) {
    const read = reader.push(bytes.subarray(offset, offset + size))
    rows.push(...read.rows)
    rejected.push(...read.rejected)
    offset += size
  }
  const last = reader.end()
  expect(last.total).toBe(rows.length + last.rows.length + rejected.length + last.rejected.length)
  return { variant: last.variant, rows: [...rows, ...last.rows], rejected: [...rejected, ...last.rejected] }
}

/** A stream giving `bytes` in chunks of `size`, counting the chunks read from it. */
function streamOf(bytes: Uint8Array, size: number) {
  let offset = 0
  let cancelled: unknown = null
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (offset >= bytes.length) return controller.close()
        controller.enqueue(bytes.slice(offset, offset + size))
        offset += size
      },
      cancel(reason) {
        cancelled = reason
      },
    },
    { highWaterMark: 0 },
  )
  return { stream, read: () => Math.min(offset, bytes.length), cancelled: () => cancelled }
}

describe('the incremental reader', () => {
  const bytesOf = (text: string) => new TextEncoder().encode(text)
  const files: Record<string, Uint8Array> = {
    ...Object.fromEntries(
      ['current', 'older', 'multiline', 'rejected'].flatMap((name) => [
        [name, bytesOf(fixture(name))],
        [`${name} with a BOM and CRLF`, bytesOf(withBomAndCrlf(fixture(name)))],
      ]),
    ),
    'generated current': bytesOf(patreonCsvFixture(300, { seed: 5 })),
    'generated older with CRLF': bytesOf(
      patreonCsvFixture(300, { variant: 'older', seed: 6 }).replaceAll('\n', '\r\n'),
    ),
  }

  it.each(Object.keys(files))('reads the %s file as parsePatreonCsv does, in pieces of any size', (name) => {
    const bytes = files[name]!
    const whole = parsePatreonCsv(bytes)
    expect(whole.rows.length + whole.rejected.length).toBeGreaterThan(3)
    for (const size of [...Array.from({ length: 40 }, (_, i) => i + 1), 64, 100, 1000, 65_536]) {
      const pieces = Array<number>(Math.ceil(bytes.length / size)).fill(size)
      expect(readInPieces(bytes, pieces), `pieces of ${size}`).toEqual(whole)
    }
  })

  it('reads the same cut in two at every byte, inside a character, a CRLF or a quoted line break', () => {
    const text = withBomAndCrlf(fixture('multiline')) + 'Zoë 😀 Ünal,zoe@example.com,,Active patron\r\n'
    const bytes = bytesOf(text)
    const whole = parsePatreonCsv(bytes)
    expect(whole.rows.at(-1)).toMatchObject({ name: 'Zoë 😀 Ünal', line: 9 })
    for (let cut = 0; cut <= bytes.length; cut++)
      expect(readInPieces(bytes, piecesAt(bytes.length, [cut]))).toEqual(whole)
  })

  it('reads the same however the bytes are split (random splits)', () => {
    const names = Object.keys(files)
    fc.assert(
      fc.property(fc.constantFrom(...names), fc.array(fc.nat(), { maxLength: 60 }), (name, cuts) => {
        const bytes = files[name]!
        expect(readInPieces(bytes, piecesAt(bytes.length, cuts))).toEqual(parsePatreonCsv(bytes))
      }),
      { numRuns: 300 },
    )
  })

  it('reads quoted cells holding commas, quotes and line breaks, with the lines they start on', () => {
    const lineFeeds = (text: string) => text.split('\n').length - 1
    const text = fc.array(fc.constantFrom('a', 'é', ' ', ',', '"', '""', '\n', '\r\n', '\r', '😀'), { maxLength: 8 })
    const member = fc.record({ Name: text, 'Additional Details': text })
    fc.assert(
      fc.property(
        fc.array(member, { minLength: 1, maxLength: 8 }),
        fc.boolean(),
        fc.array(fc.nat()),
        (cells, crlf, cuts) => {
          const options = { columns: PATREON_HEADERS.current, record_delimiter: crlf ? 'windows' : 'unix' } as const
          const members = cells.map((cell, i) => ({
            ...VALID_MEMBER,
            Name: cell.Name.join(''),
            'Additional Details': cell['Additional Details'].join(''),
            Email: `m${i}@example.com`,
          }))
          const header = stringify([PATREON_HEADERS.current], { record_delimiter: options.record_delimiter })
          const records = members.map((member) => stringify([member], options))
          // Each record starts on the line after the line feeds of everything before it.
          const lines = records.map((_, i) => 1 + lineFeeds(header + records.slice(0, i).join('')))
          const bytes = new TextEncoder().encode(header + records.join(''))
          const result = readInPieces(bytes, piecesAt(bytes.length, cuts))

          expect([...result.rows, ...result.rejected].map((row) => row.line).sort((a, b) => a - b)).toEqual(lines)
          for (const row of result.rows) expect(row.name).toBe(members[lines.indexOf(row.line)]!.Name.trim() || null)
          // A name with a line break inside it is refused; the others are read.
          expect(result.rejected.map((row) => row.line)).toEqual(
            lines.filter((_, i) => /[\r\n]/.test(members[i]!.Name.trim())),
          )
        },
      ),
      { numRuns: 300 },
    )
  })

  const header = PATREON_HEADERS.current.join(',')
  const row = (email: string) => exportOf([{ Email: email }]).split('\n')[1]
  const refusals: { file: string; from: 'push' | 'end'; bytes: Uint8Array; message: RegExp }[] = [
    {
      file: 'bytes that are not UTF-8',
      from: 'push',
      bytes: Buffer.from(exportOf([{ Name: 'Zoë' }]), 'latin1'),
      message: /^The file is not UTF-8 text/,
    },
    {
      file: 'a character cut off at the end',
      from: 'end',
      bytes: new Uint8Array([...bytesOf(`${header}\n${row('a@example.com')}\nZo`), 0xc3]),
      message: /^The file is not UTF-8 text/,
    },
    { file: 'nothing', from: 'end', bytes: bytesOf(''), message: /^The file is empty\.$/ },
    {
      file: 'only whitespace and a BOM',
      from: 'end',
      bytes: bytesOf('\uFEFF \r\n\t\n'),
      message: /^The file is empty\.$/,
    },
    {
      file: 'a header but no rows',
      from: 'end',
      bytes: bytesOf(`${header}\r\n,,,\r\n`),
      message: /^The file has a header but no rows\.$/,
    },
    {
      file: 'missing columns',
      from: 'push',
      bytes: bytesOf(`Foo,Bar\n${'1,2\n'.repeat(50)}`),
      message: /^This is not a Patreon members export: the columns Name, /,
    },
    {
      file: 'a blank line for a header',
      from: 'push',
      bytes: bytesOf(`\n${header}\n${row('a@example.com')}\n`),
      message: /^This is not a Patreon members export/,
    },
    {
      file: 'a quote never closed',
      from: 'end',
      bytes: bytesOf(`${header}\n${row('a@example.com')}\nZed,"zed@example.com\n\n`),
      message: /^The file is not valid CSV: a quoted field in the row starting on line 3 is never closed\./,
    },
    {
      file: 'a quote in the middle of a field',
      from: 'push',
      bytes: bytesOf(`${header}\n${row('a@example.com')}\nZe"d,zed@example.com\n${row('b@example.com')}\n`),
      message: /^The file is not valid CSV: the row starting on line 3 has a quote/,
    },
    {
      file: 'text after a closing quote',
      from: 'push',
      bytes: bytesOf(`${header}\n"Ze"d,zed@example.com\n${row('b@example.com')}\n`),
      message: /^The file is not valid CSV: the row starting on line 2 has a quote/,
    },
  ]
  it.each(refusals)('refuses a file with $file from $from()', ({ bytes, from, message }) => {
    for (const size of [1, 7, bytes.length]) {
      const reader = createPatreonReader()
      let thrown: unknown = null
      let where = 'nowhere'
      try {
        for (let offset = 0; offset < bytes.length; offset += size) {
          where = 'push'
          reader.push(bytes.subarray(offset, offset + size))
        }
        where = 'end'
        reader.end()
      } catch (error) {
        thrown = error
      }
      expect(thrown, `pieces of ${size}`).toBeInstanceOf(PatreonCsvError)
      expect((thrown as Error).message).toMatch(message)
      expect(where, `pieces of ${size}`).toBe(from)
      expect(() => reader.end(), 'and again').toThrow(thrown as Error)
    }
  })

  it('refuses a file over the size limit as soon as the byte over it arrives', () => {
    const reader = createPatreonReader({ maxBytes: 100, maxRows: 10 })
    const bytes = bytesOf(fixture('current'))
    for (let offset = 0; offset < 100; offset += 10) reader.push(bytes.subarray(offset, offset + 10))
    expect(() => reader.push(bytes.subarray(100, 101))).toThrow(
      'The file is too big: one import can take at most 100 bytes.',
    )
  })

  it('refuses a file with a row too many as soon as that row is read, not counting the rest', () => {
    const reader = createPatreonReader({ maxBytes: PATREON_IMPORT_LIMITS.maxBytes, maxRows: 3 })
    const lines = fixture('current').split('\n')
    expect(reader.push(bytesOf(lines.slice(0, 4).join('\n') + '\n')).rows).toHaveLength(3)
    expect(() => reader.push(bytesOf(lines[4] + '\n'))).toThrow(
      'The file has more than 3 rows, the most one import can take.',
    )
  })
})

describe('readPatreonStream', () => {
  const csv = new TextEncoder().encode(patreonCsvFixture(5_000, { seed: 11 }))

  it('hands on every row in batches of about a thousand, reading on only once a batch is done', async () => {
    const source = streamOf(csv, 64 * 1024)
    const batches: number[] = []
    const lines: number[] = []
    const result = await readPatreonStream(source.stream, async (rows, rejected) => {
      const readBefore = source.read()
      batches.push(rows.length + rejected.length)
      lines.push(...rows.map((row) => row.line), ...rejected.map((row) => row.line))
      await new Promise((resolve) => setTimeout(resolve, 1))
      expect(source.read()).toBe(readBefore)
    })
    const whole = parsePatreonCsv(csv)
    expect(result).toEqual({
      variant: 'current',
      total: 5_000,
      rows: whole.rows.length,
      rejected: whole.rejected.length,
    })
    expect(lines).toEqual([...whole.rows, ...whole.rejected].map((row) => row.line).sort((a, b) => a - b))
    expect(batches.slice(0, -1).every((size) => size >= 1000 && size < 1500)).toBe(true)
    expect(batches.length).toBeGreaterThan(3)
  })

  it('splits a large chunk so that batches stay near their size', async () => {
    const batches: number[] = []
    await readPatreonStream(streamOf(csv, csv.length).stream, async (rows) => {
      batches.push(rows.length)
    })
    expect(Math.max(...batches)).toBeLessThan(1500)
  })

  it('cancels the stream and throws on a file error, and on an error of onRows', async () => {
    const broken = new Uint8Array([...csv.subarray(0, 100_000), 0xff, ...csv.subarray(100_000)])
    const first = streamOf(broken, 1024)
    const error = await readPatreonStream(first.stream, async () => {}).catch((error: unknown) => error)
    expect(error).toBeInstanceOf(PatreonCsvError)
    expect(first.cancelled()).toBe(error)
    expect(first.read()).toBeLessThan(110_000)

    const second = streamOf(csv, 1024)
    const refusal = new Error('database gone')
    await expect(readPatreonStream(second.stream, () => Promise.reject(refusal))).rejects.toBe(refusal)
    expect(second.cancelled()).toBe(refusal)
  })
})
