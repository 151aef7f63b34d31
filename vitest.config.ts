import { existsSync } from 'node:fs'
import { defineConfig } from 'vitest/config'

// The browser journeys need Debian's chromium; say so plainly when it is missing.
if (!existsSync(process.env.CHROMIUM_PATH ?? '/usr/bin/chromium')) {
  console.warn(
    '\n*** Skipping the browser journeys (tests/browser): /usr/bin/chromium is not installed. ' +
      'Install it with `apt-get install chromium` (.ci/run does). ***\n',
  )
}

// Two suites, both run by `npm test`:
// - node:   the app through app.request() against a real database
//           (TEST_DATABASE_URL, or embedded PGlite when it is unset);
// - browser: journeys in Debian's chromium against the Node server as npm start runs it;
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
          exclude: ['tests/worker/**', 'tests/browser/**'],
          testTimeout: 20_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'browser',
          include: ['tests/browser/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
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
