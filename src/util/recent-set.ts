/**
 * The last `capacity` keys added, oldest dropped first: a bounded memory of what a process has
 * seen lately (the Stripe events it stored), held in one insertion-ordered Set.
 */
export interface RecentSet<K> {
  has(key: K): boolean
  add(key: K): void
}

export function recentSet<K>(capacity: number): RecentSet<K> {
  const keys = new Set<K>()
  return {
    has: (key) => keys.has(key),
    add(key) {
      keys.delete(key) // added again: the newest
      keys.add(key)
      if (keys.size > capacity) keys.delete(keys.values().next().value as K)
    },
  }
}
