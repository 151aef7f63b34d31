/**
 * PostgreSQL's error codes that Masthead acts on. Drivers differ in where they
 * put the code: postgres.js on the error, PGlite and drizzle on its `cause`.
 */
export const PG_ERRORS = {
  foreignKeyViolation: '23503',
  uniqueViolation: '23505',
  /** A table the code expects is missing: the migrations have not run (`npm run db:migrate`). */
  undefinedTable: '42P01',
  /** A column the code expects is missing: the migrations of this version have not run. */
  undefinedColumn: '42703',
  /** Raised by masthead_snapshot_tie (src/db/routines.ts): two subscription snapshots from one second. */
  snapshotTie: 'MH001',
} as const

export type PgErrorName = keyof typeof PG_ERRORS

/** Whether `error` (or the error it wraps) is PostgreSQL's error `name`. */
export function isPgError(error: unknown, name: PgErrorName): boolean {
  const e = error as { code?: unknown; cause?: { code?: unknown } } | null
  const code = PG_ERRORS[name]
  return e?.code === code || e?.cause?.code === code
}
