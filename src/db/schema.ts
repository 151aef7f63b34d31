/**
 * The Drizzle schema: the single source of truth for Masthead's tables.
 * Change it, then run `npm run db:generate` and commit the SQL it writes to
 * drizzle/. A test fails when this file and the committed migrations disagree.
 *
 * The foundation itself stores nothing; each domain adds its tables here.
 */
export {}
