/**
 * Test helpers: each suite gets its own uniquely named ClickHouse database (migrated or
 * empty), so suites are independent of each other and of the global per-run database.
 */
import { randomBytes } from 'node:crypto';
import { loadConfig, type Config } from '../../src/config/index.js';
import { createClickHouse, ident, sql, type ClickHouse } from '../../src/clickhouse/index.js';
import { migrateClickHouse } from '../../src/clickhouse/migrate.js';

export interface TestDatabase {
  config: Config;
  ch: ClickHouse;
  drop(): Promise<void>;
}

export function uniqueDatabaseName(prefix = 'tollgate_test'): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

/** A fresh database; `migrate: true` applies the repository's migrations to it. */
export async function createTestDatabase(opts: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const name = uniqueDatabaseName();
  const config = { ...loadConfig(), CLICKHOUSE_DATABASE: name };
  if (opts.migrate) await migrateClickHouse({ config });
  else {
    const admin = createClickHouse(config, { database: 'default' });
    await admin.exec(sql`CREATE DATABASE IF NOT EXISTS ${ident(name, [name])}`);
    await admin.close();
  }
  const ch = createClickHouse(config);
  return {
    config,
    ch,
    async drop() {
      await ch.close();
      if (process.env.KEEP_TEST_DATABASES) return;
      const admin = createClickHouse(config, { database: 'default' });
      await admin.exec(sql`DROP DATABASE IF EXISTS ${ident(name, [name])}`);
      await admin.close();
    },
  };
}

export { prng } from '../helpers/prng.js';

/** The seed for this run: TEST_SEED if given, else random; printed so a failure can be replayed. */
export function testSeed(label: string): number {
  const fromEnv = process.env.TEST_SEED;
  const seed = fromEnv ? Number(fromEnv) : Math.floor(Math.random() * 2 ** 31);
  console.log(`[${label}] seed=${seed} (replay with TEST_SEED=${seed})`);
  return seed;
}
