/**
 * `npm install` runs this (package.json, "postinstall"): it makes the pristine PGlite data
 * directory that new embedded databases start from (src/db/pglite.ts), once per PGlite version.
 * It never fails the install: without the template, the first start on the embedded database runs initdb and the migrations itself.
 */
import { makePgliteTemplate, pgliteTemplateDir } from '../db/pglite'

try {
  const started = performance.now()
  if (await makePgliteTemplate()) {
    const seconds = ((performance.now() - started) / 1000).toFixed(1)
    console.log(`Masthead: made the embedded database's template in ${seconds} s (${pgliteTemplateDir()}).`)
  }
} catch (error) {
  console.warn(
    `Masthead: could not make the embedded database's template (${error instanceof Error ? error.message : String(error)}); ` +
      'a first start on the embedded database will take a few seconds longer.',
  )
}
