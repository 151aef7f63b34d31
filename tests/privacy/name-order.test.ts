import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  compareSortTexts,
  gapFor,
  ORDER_KEY,
  orderKeyBetween,
  orderKeyFor,
  orderKeysBetween,
  sortTextOf,
  type Placed,
} from '../../src/privacy/name-order'

/** What the database does with the keys: `order by name_order collate "C"`, i.e. code unit order. */
const byKey = (a: Placed, b: Placed) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)

describe('the sort text', () => {
  it('is the name, or the address when there is none, as the list has always sorted', () => {
    expect(sortTextOf({ name: '  Ana Álvarez ', email: 'ana@example.org' })).toBe('Ana Álvarez')
    expect(sortTextOf({ name: null, email: ' Zoe@Example.org' })).toBe('zoe@example.org')
    expect(sortTextOf({ name: '   ', email: 'zoe@example.org' })).toBe('zoe@example.org')
  })

  it('compares as people read names: accents and case only between otherwise equal names', () => {
    const names = ['Zoë', 'de Vries', 'Ávila', 'avila', 'Avila', 'Bjørn', 'Åsa', 'Émile', 'Eve', 'bob', 'Zoe']
    expect([...names].sort(compareSortTexts)).toEqual([
      'Åsa',
      'avila',
      'Avila',
      'Ávila',
      'Bjørn',
      'bob',
      'de Vries',
      'Émile',
      'Eve',
      'Zoe',
      'Zoë',
    ])
    expect(compareSortTexts('a', 'a')).toBe(0)
  })
})

describe('order keys', () => {
  it('lie strictly between their neighbours, with the ends open', () => {
    expect(orderKeyBetween(null, null)).toBe('i')
    expect(orderKeyBetween('1', '2')).toBe('1i')
    expect(orderKeyBetween('1z', '2')).toBe('1zi')
    expect(orderKeyBetween(null, '01')).toBe('00i')
    expect(orderKeyBetween('z', null)).toBe('zi')
    expect(() => orderKeyBetween('b', 'a')).toThrow('No key lies between')
    expect(() => orderKeyBetween('b', 'b')).toThrow('No key lies between')
    expect(() => orderKeyBetween('a0', null)).toThrow('is not an order key')
  })

  it('are valid keys strictly between any two keys (property)', () => {
    const key = fc.stringMatching(/^[0-9a-z]{0,6}[1-9a-z]$/)
    fc.assert(
      fc.property(fc.option(key, { nil: null }), fc.option(key, { nil: null }), (a, b) => {
        fc.pre(a === null || b === null || a < b)
        const k = orderKeyBetween(a, b)
        expect(k).toMatch(ORDER_KEY)
        if (a !== null) expect(k > a).toBe(true)
        if (b !== null) expect(k < b).toBe(true)
      }),
    )
  })

  it('spread evenly and short for a whole table: 100,000 in order, unique, of at most 5 characters', () => {
    const keys = orderKeysBetween(null, null, 100_000)
    expect(keys).toHaveLength(100_000)
    expect(keys.every((k, i) => i === 0 || keys[i - 1]! < k)).toBe(true)
    expect(Math.max(...keys.map((k) => k.length))).toBeLessThanOrEqual(5)
    const between = orderKeysBetween('a', 'b', 3)
    expect(between).toHaveLength(3)
    expect(between.every((k) => k > 'a' && k < 'b')).toBe(true)
    expect(orderKeysBetween('a', 'b', 0)).toEqual([])
  })

  it('grow slowly when placed again and again into one gap', () => {
    let low = 'a'
    let high = 'b'
    for (let i = 0; i < 100; i++) {
      const k = orderKeyBetween(low, high)
      if (i % 2 === 0) low = k
      else high = k
    }
    expect(low.length).toBeLessThan(25)
  })
})

describe('placing accounts', () => {
  it('finds the gap after equal texts, and the bounds outside a window, reading few texts', async () => {
    const placed: Placed[] = [
      { text: 'Ana', key: 'c' },
      { text: 'Bob', key: 'f' },
      { text: 'Bob', key: 'g' },
      { text: 'Eve', key: 'm' },
    ]
    const text = (p: Placed) => p.text
    expect(await gapFor('Aaron', placed, text)).toEqual({ before: null, after: 'c' })
    expect(await gapFor('bob', placed, text)).toEqual({ before: 'c', after: 'f' })
    expect(await gapFor('Bob', placed, text)).toEqual({ before: 'g', after: 'm' })
    expect(await gapFor('Zoe', placed, text)).toEqual({ before: 'm', after: null })
    expect(await gapFor('Zoe', placed, text, { before: 'a', after: 'p' })).toEqual({ before: 'm', after: 'p' })
    expect(await gapFor('Aaron', [], text, { before: 'a', after: 'p' })).toEqual({ before: 'a', after: 'p' })
    // A binary search: among 1,000 placed accounts it reads (decrypts, in the database) at most 11 texts.
    const many: Placed[] = orderKeysBetween(null, null, 1000).map((key, i) => ({
      text: `n${String(i).padStart(4, '0')}`,
      key,
    }))
    let read = 0
    const gap = await gapFor('n0500x', many, async (p) => {
      read += 1
      return Promise.resolve(p.text)
    })
    expect(gap).toEqual({ before: many[500]!.key, after: many[501]!.key })
    expect(read).toBeLessThanOrEqual(11)
  })

  it('keeps the database’s key order equal to the order of names, however accounts arrive (property)', async () => {
    const name = fc.constantFrom(
      'Ana',
      'ana',
      'Ávila',
      'Bjørn',
      'de Vries',
      'Zoë',
      'Zoe',
      'Émile',
      'Eve',
      'bob',
      '李',
      'Ωmega',
    )
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(name, fc.string({ maxLength: 3 })), { maxLength: 60 }), async (arrivals) => {
        const placed: Placed[] = []
        for (const [first, rest] of arrivals) {
          const text = first + rest
          placed.push({ text, key: await orderKeyFor(text, placed, (p) => p.text) })
          placed.sort(byKey)
        }
        const texts = placed.map((p) => p.text)
        expect(texts).toEqual([...texts].sort(compareSortTexts))
        expect(new Set(placed.map((p) => p.key)).size).toBe(placed.length)
      }),
    )
  })

  it('places a batch beside the accounts already there: sorted, then spread through each gap', async () => {
    const placed: Placed[] = orderKeysBetween(null, null, 3).map((key, i) => ({ text: ['Ana', 'Kim', 'Zoe'][i]!, key }))
    const batch = ['Yann', 'Bea', 'Lou', 'Carl'].sort(compareSortTexts)
    const byGap = new Map<string, string[]>()
    for (const text of batch) {
      const gap = JSON.stringify(await gapFor(text, placed, (p) => p.text))
      byGap.set(gap, [...(byGap.get(gap) ?? []), text])
    }
    for (const [gap, texts] of byGap) {
      const { before, after } = JSON.parse(gap) as { before: string | null; after: string | null }
      orderKeysBetween(before, after, texts.length).forEach((key, i) => placed.push({ text: texts[i]!, key }))
    }
    expect(placed.sort(byKey).map((p) => p.text)).toEqual(['Ana', 'Bea', 'Carl', 'Kim', 'Lou', 'Yann', 'Zoe'])
  })
})
