// TEMPORARY: runs test/clickhouse without the global setup until scripts/services.mjs lands.
// npx vitest run --config test/clickhouse/vitest.local.config.ts
import path from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: path.resolve(import.meta.dirname, '../..'),
  test: {
    include: ['test/clickhouse/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
