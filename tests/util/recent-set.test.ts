import { describe, expect, it } from 'vitest'
import { recentSet } from '../../src/util/recent-set'

describe('a recent set', () => {
  it('keeps the last keys added, dropping the oldest, and a key added again counts as new', () => {
    const recent = recentSet<string>(3)
    for (const key of ['a', 'b', 'c']) recent.add(key)
    recent.add('a') // now the newest
    recent.add('d') // drops b, the oldest
    expect(['a', 'b', 'c', 'd'].map((key) => recent.has(key))).toEqual([true, false, true, true])
    recent.add('e') // drops c
    expect(['a', 'c', 'd', 'e'].map((key) => recent.has(key))).toEqual([true, false, true, true])
  })
})
