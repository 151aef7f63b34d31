/**
 * `npm run db:routines`: prints the SQL that installs the current functions, trigger functions and
 * views (src/db/routines.ts); `npm run db:routines -- drizzle/NNNN_name.sql` writes it into that file,
 * the custom migration `npx drizzle-kit generate --custom --name name` has just created.
 */
import { existsSync, writeFileSync } from 'node:fs'
import { routinesSql } from '../db/routines'

const [file, ...rest] = process.argv.slice(2)
if (rest.length > 0 || file?.startsWith('-')) {
  console.error('Usage: npm run db:routines [-- drizzle/NNNN_name.sql]')
  process.exit(2)
}
if (!file) {
  process.stdout.write(routinesSql())
} else if (!existsSync(file)) {
  console.error(`${file} does not exist: create it first with \`npx drizzle-kit generate --custom --name <name>\`.`)
  process.exit(1)
} else {
  writeFileSync(file, routinesSql())
  console.log(`Wrote the routines into ${file}.`)
}
