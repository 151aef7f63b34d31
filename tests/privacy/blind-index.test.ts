import { describe, expect, it } from 'vitest'
import {
  addressIndex,
  addressIndexes,
  foldForSearch,
  indexWords,
  normalizeAddress,
  queryTokens,
  queryWords,
  searchPrefixes,
  searchTokens,
  searchTokensOfMany,
} from '../../src/privacy/blind-index'
import { createKeyring, generateDataKey } from '../../src/privacy/keys'

const k1 = generateDataKey('k1')
const k2 = generateDataKey('k2')

/** Does a row with these tokens match the query, as `search_tokens @> set` for any of the sets? */
const matches = (row: string[], sets: string[][]) => sets.some((set) => set.every((t) => row.includes(t)))

describe('the address index', () => {
  it('is the same for an address in another case, with spaces, or composed another way', async () => {
    const keyring = await createKeyring(k1)
    const index = await addressIndex(keyring, 'jörg@bücher.example')
    expect(index).toMatch(/^[A-Za-z0-9_-]{43}$/)
    for (const same of ['  JÖRG@Bücher.Example ', 'jo\u0308rg@bu\u0308cher.example', 'Jörg@BÜCHER.EXAMPLE\n']) {
      expect(await addressIndex(keyring, same)).toBe(index)
    }
    expect(normalizeAddress(' Ana.Lopez+News@Example.ORG ')).toBe('ana.lopez+news@example.org')
  })

  it('differs between different addresses, however alike, and between keys', async () => {
    const keyring = await createKeyring(k1)
    const addresses = [
      'ana@example.org',
      'ana@example.com',
      'ana.lopez@example.org',
      'analopez@example.org',
      'ana+news@example.org',
    ]
    const indexes = await Promise.all(addresses.map((a) => addressIndex(keyring, a)))
    expect(new Set(indexes).size).toBe(addresses.length)
    const other = await createKeyring(k2)
    expect(await addressIndex(other, 'ana@example.org')).not.toBe(indexes[0])
  })

  it('is given under every key during a rotation, the current key’s first', async () => {
    const before = await createKeyring(k1)
    const during = await createKeyring(k2, [k1])
    const all = await addressIndexes(during, 'Ana@Example.org')
    expect(all).toEqual([await addressIndex(during, 'ana@example.org'), await addressIndex(before, 'ana@example.org')])
  })
})

describe('search words and prefixes', () => {
  it('folds names: NFKD, diacritics removed, lower-cased, letters without a decomposition spelled out', () => {
    expect(foldForSearch('Ana Álvarez-Núñez')).toBe('ana alvarez-nunez')
    expect(foldForSearch('Łukasz Straße Øster Æbelø İpek')).toBe('lukasz strasse oster aebelo ipek')
    expect(foldForSearch('Ｆｕｌｌｗｉｄｔｈ')).toBe('fullwidth')
  })

  it('splits names into words, and keeps a word with an apostrophe whole and in parts', () => {
    expect(indexWords('  Mary-Jane  van der Berg ')).toEqual(['mary', 'jane', 'van', 'der', 'berg'])
    expect(indexWords('Seán O’Brien')).toEqual(['sean', 'obrien', 'o', 'brien'])
    expect(queryWords("o'brien SEÁN")).toEqual(['obrien', 'sean'])
  })

  it('splits an address into the parts of its local part and its domain labels', () => {
    expect(indexWords(normalizeAddress('Ana.Lopez_2+news-letter@mail.bücher.example'))).toEqual([
      'ana',
      'lopez',
      '2',
      'news',
      'letter',
      'mail',
      'bucher',
      'example',
    ])
  })

  it('indexes prefixes of 3 to 12 characters of every word of the name and the address, once each', () => {
    const prefixes = searchPrefixes({ name: 'Ana Álvarez', email: 'ana.alvarez@correo.es' })
    expect(prefixes.sort()).toEqual(
      ['ana', 'alv', 'alva', 'alvar', 'alvare', 'alvarez', 'cor', 'corr', 'corre', 'correo'].sort(),
    )
    const long = searchPrefixes({ name: 'Wolfeschlegelsteinhausen', email: 'w@x.yz' })
    expect(long).toHaveLength(10)
    expect(long.at(-1)).toBe('wolfeschlege')
    // Characters are code points, not UTF-16 units.
    expect(searchPrefixes({ name: '𝒜𝒷𝒸𝒹', email: 'a@b.cd' })).toEqual(['abc', 'abcd'])
    expect(searchPrefixes({ name: null, email: 'jo@ox.io' })).toEqual([])
  })
})

describe('search tokens', () => {
  it('are sorted, distinct blind indexes of the prefixes, 16 characters each', async () => {
    const keyring = await createKeyring(k1)
    const tokens = await searchTokens(keyring, { name: 'Ana Álvarez', email: 'ana.alvarez@correo.es' })
    expect(tokens).toHaveLength(10)
    expect(new Set(tokens).size).toBe(10)
    expect([...tokens].sort()).toEqual(tokens)
    for (const t of tokens) expect(t).toMatch(/^[A-Za-z0-9_-]{16}$/)
    // Keyed: the same under the same key, nothing in common under another.
    expect(await searchTokens(keyring, { name: 'ana alvarez', email: 'Ana.Alvarez@correo.es' })).toEqual(tokens)
    const other = await searchTokens(await createKeyring(k2), { name: 'Ana Álvarez', email: 'ana.alvarez@correo.es' })
    expect(other.filter((t) => tokens.includes(t))).toEqual([])
  })

  it('find people by any word of their name, with or without accents, and by the parts of their address', async () => {
    const keyring = await createKeyring(k1)
    const people = [
      { name: 'José Núñez García', email: 'jng@correo.es' },
      { name: 'Seán O’Brien', email: 'sean.obrien+news@mail.example.ie' },
      { name: null, email: 'zoe.quinn@bücher.example' },
      { name: 'Joseph Nuland', email: 'joseph@example.org' },
    ]
    const rows = await searchTokensOfMany(keyring, people)
    expect(rows[0]).toEqual(await searchTokens(keyring, people[0]!))
    const found = async (q: string) => {
      const sets = await queryTokens(keyring, q)
      return people.filter((_, i) => matches(rows[i]!, sets)).map((p) => p.email)
    }
    expect(await found('nunez')).toEqual(['jng@correo.es'])
    expect(await found('NÚÑ')).toEqual(['jng@correo.es'])
    expect(await found('jos')).toEqual(['jng@correo.es', 'joseph@example.org'])
    expect(await found('jose garc')).toEqual(['jng@correo.es'])
    expect(await found("o'brien")).toEqual(['sean.obrien+news@mail.example.ie'])
    expect(await found('brien')).toEqual(['sean.obrien+news@mail.example.ie'])
    expect(await found('sean.obrien@mail.example.ie')).toEqual(['sean.obrien+news@mail.example.ie'])
    expect(await found('bucher')).toEqual(['zoe.quinn@bücher.example'])
    expect(await found('quinn')).toEqual(['zoe.quinn@bücher.example'])
    expect(await found('correo')).toEqual(['jng@correo.es'])
    // Word prefixes, not substrings: the middle of a word finds nothing.
    expect(await found('unez')).toEqual([])
  })

  it('search by each word of the query as one prefix, ignoring words under 3 characters and cutting at 12', async () => {
    const keyring = await createKeyring(k1)
    expect(await queryTokens(keyring, 'jo a  ')).toEqual([])
    const [ana] = await queryTokens(keyring, 'ana')
    const [anaJo] = await queryTokens(keyring, 'Ana jo')
    expect(anaJo).toEqual(ana)
    const row = await searchTokens(keyring, { name: 'Wolfeschlegelsteinhausen', email: 'w@x.yz' })
    expect(matches(row, await queryTokens(keyring, 'wolfeschlegelsteinhausenbergerdorff'))).toBe(true)
  })

  it('match rows a rotation has not reached yet, through the old key’s set', async () => {
    const before = await createKeyring(k1)
    const during = await createKeyring(k2, [k1])
    const person = { name: 'Ana Álvarez', email: 'ana@example.org' }
    const notYet = await searchTokens(before, person)
    const rotated = await searchTokens(during, person)
    expect(rotated).not.toEqual(notYet)
    const sets = await queryTokens(during, 'alvarez')
    expect(sets).toHaveLength(2)
    expect(matches(notYet, sets)).toBe(true)
    expect(matches(rotated, sets)).toBe(true)
    expect(matches(notYet, [sets[0]!])).toBe(false)
  })
})
