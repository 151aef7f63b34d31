// ESLint with typescript-eslint's type-checked rules, chosen for this code (`npm run lint`, part of `npm test`).
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.wrangler/', 'drizzle/', 'tests/browser/screenshots/'] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // A promise nobody awaits outlives its request on Workers, and its failure is lost.
      '@typescript-eslint/no-floating-promises': 'error',
      // Only AppError and real Errors are thrown, so onError can tell what happened.
      '@typescript-eslint/only-throw-error': 'error',
      // Membership statuses, benefits and audiences are unions: a new member must be handled everywhere.
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Numbers in messages are fine; objects and nullish values in a template are a bug.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // Handlers are async for Hono's types even when this one awaits nothing.
      '@typescript-eslint/require-await': 'off',
      // Masthead's objects are closures, not classes (services, handles, the clock): passing their
      // functions around is how the code is written, and none of them reads `this`.
      '@typescript-eslint/unbound-method': 'off',
      // A variable a closure reads before its one assignment must stay `let`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      eqeqeq: ['error', 'smart'],
      // Personal data must not reach the logs: request code logs through log() (src/http/log.ts), which redacts.
      'no-console': 'error',
      // Cookies are set only through sendCookie (src/http/cookies.ts), which the frame writes on the
      // answer and which makes it private: the page-view cookie's and the session cookie's.
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'hono/cookie',
              importNames: ['setCookie', 'deleteCookie', 'setSignedCookie'],
              message: 'Set cookies through sendCookie (src/http/cookies.ts).',
            },
          ],
        },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.property.name='header'][arguments.0.value=/^set-cookie$/i]",
          message: 'Set cookies through sendCookie (src/http/cookies.ts).',
        },
        {
          // zod's `z` object holds the whole library (its locales too): the Worker bundle took 580 KB more.
          selector: "ImportDeclaration[source.value='zod'] > ImportSpecifier[imported.name='z']",
          message: "Import zod as `import * as z from 'zod'`, which bundles only what is used.",
        },
      ],
    },
  },
  {
    // Tests set what they test.
    files: ['tests/**'],
    rules: { 'no-restricted-imports': 'off', 'no-restricted-syntax': 'off' },
  },
  {
    // Command-line tools, development tools, the Node entry and the logger itself talk to a terminal.
    files: ['src/cli/**', 'src/dev/**', 'src/node.ts', 'src/http/log.ts', 'bench/**', 'tests/**', '*.config.ts'],
    rules: { 'no-console': 'off' },
  },
  {
    // Tests read JSON responses (any) and parsed fixtures and reach into results; type-safety there
    // comes from the assertions, and a cast says what a fixture holds.
    files: ['tests/**', 'bench/**'],
    rules: {
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      '@typescript-eslint/no-base-to-string': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  { files: ['**/*.js', '**/*.mjs'], extends: [tseslint.configs.disableTypeChecked] },
)
