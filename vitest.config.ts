import { defineConfig } from 'vitest/config';
import { engineMatrix } from './test/setup/engine-matrix.js';

// Two projects: every test file against the ClickHouse 18.16 server, and the files that use
// ClickHouse (derived: test/setup/engine-matrix.ts) once more against the embedded current
// ClickHouse (chDB 26.7). A failure on either fails the run. TOLLGATE_TEST_ENGINES=server runs
// only the first (machines where the optional chdb package cannot be installed).
const matrix = engineMatrix(import.meta.dirname);
const engines = (process.env.TOLLGATE_TEST_ENGINES ?? 'server,chdb').split(',');

export default defineConfig({
  test: {
    globalSetup: ['test/setup/global-setup.ts'],
    pool: 'forks',
    testTimeout: 180_000,
    hookTimeout: 240_000,
    teardownTimeout: 60_000,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: { name: 'server', include: ['test/**/*.test.ts'], setupFiles: ['test/setup/per-file.ts', 'test/setup/clickhouse-guard.ts'] },
      },
      ...(engines.includes('chdb')
        ? [{ extends: true, test: { name: 'chdb', include: matrix.both, setupFiles: ['test/setup/per-file.ts', 'test/setup/chdb-engine.ts'] } }]
        : []),
    ],
  },
});
