import { defineConfig } from 'drizzle-kit'

// `npm run db:generate` writes SQL migrations to drizzle/ from src/db/schema.ts.
// They are reviewed and committed; Masthead never uses `drizzle-kit push`.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './drizzle',
})
