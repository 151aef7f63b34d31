import { defineConfig } from 'vitest/config'

// Two suites, both run by `npm test`:
// - node:   the app through app.request() against a real database
//           (TEST_DATABASE_URL, or embedded PGlite when it is unset);
// - worker: the built Worker running inside workerd, reaching the database
//           through a local Hyperdrive binding.
export default defineConfig({
  test: {
    // Logs of passing tests are noise; a failing test shows its own.
    silent: 'passed-only',
    projects: [
      {
        test: {
          name: 'node',
          include: ['tests/**/*.test.{ts,tsx}'],
          exclude: ['tests/worker/**'],
          testTimeout: 20_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'worker',
          include: ['tests/worker/**/*.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
})
