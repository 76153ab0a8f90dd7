/**
 * Applies clickhouse/migrations/NNN_name.sql in order and records each in `schema_migrations`
 * (version, name, checksum, applied_at). Files carry no database name: statements run with the
 * client's database set to CLICKHOUSE_DATABASE. Every statement is idempotent (IF NOT EXISTS),
 * so re-running after a crash mid-file is safe. An applied file whose checksum changed is
 * refused: change a schema by adding a new numbered file.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { Config } from '../config/index.js';
import { createClickHouse, createMigrationExecutor } from './client.js';
import { rewriteMigration, splitStatements } from './migration-text.js';
import { ident, sql } from './sql.js';
import { packageRoot } from '../shared/index.js';

export interface MigrateClickHouseOptions {
  config: Config;
  /** Cluster name; defaults to config.CLICKHOUSE_CLUSTER. When set: ON CLUSTER + Replicated* engines. */
  cluster?: string;
  log?: (message: string) => void;
  /** Migrations folder (tests); default: <package root>/clickhouse/migrations. */
  dir?: string;
}

export interface MigrationFile {
  version: number;
  name: string;
  file: string;
  checksum: string;
  text: string;
}

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
}

const FILE_RE = /^(\d{3})_([a-z0-9_]+)\.sql$/;

export { packageRoot };

export function defaultMigrationsDir(): string {
  return path.join(packageRoot(), 'clickhouse', 'migrations');
}

/** Reads and orders the migration files of a folder. */
export async function readMigrations(dir: string): Promise<MigrationFile[]> {
  const files: MigrationFile[] = [];
  const seen = new Map<number, string>();
  for (const entry of (await readdir(dir)).sort()) {
    if (!entry.endsWith('.sql')) continue;
    const m = FILE_RE.exec(entry);
    if (!m) throw new MigrationError(`migration file name must look like NNN_name.sql: ${entry}`);
    const version = Number(m[1]);
    const other = seen.get(version);
    if (other) throw new MigrationError(`two migrations share version ${m[1]}: ${other} and ${entry}`);
    seen.set(version, entry);
    const text = await readFile(path.join(dir, entry), 'utf8');
    const checksum = createHash('sha256').update(text).digest('hex');
    files.push({ version, name: m[2]!, file: entry, checksum, text });
  }
  return files.sort((a, b) => a.version - b.version);
}

const appliedRow = z.object({ version: z.coerce.number().int(), name: z.string(), checksum: z.string() });

function schemaMigrationsDdl(onCluster: string): string {
  return rewriteMigration(
    `CREATE TABLE IF NOT EXISTS schema_migrations {{ON_CLUSTER}}
(
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime('UTC') DEFAULT now()
)
ENGINE = {{ENGINE:MergeTree}}
ORDER BY version`,
    onCluster ? { cluster: onCluster } : {},
  );
}

export async function migrateClickHouse(opts: MigrateClickHouseOptions): Promise<{ applied: string[] }> {
  const { config } = opts;
  const log = opts.log ?? (() => {});
  const cluster = opts.cluster ?? config.CLICKHOUSE_CLUSTER;
  const database = config.CLICKHOUSE_DATABASE;
  const files = await readMigrations(opts.dir ?? defaultMigrationsDir());

  // The database may not exist yet, so this statement runs against `default`.
  const admin = createMigrationExecutor(config, 'default');
  try {
    const db = ident(database, [database]).text;
    const onCluster = cluster ? sql`ON CLUSTER ${ident(cluster, [cluster])}`.text : '';
    await admin.run(`CREATE DATABASE IF NOT EXISTS ${db} ${onCluster}`.trim());
  } finally {
    await admin.close();
  }

  const exec = createMigrationExecutor(config, database);
  const ch = createClickHouse(config);
  const applied: string[] = [];
  try {
    await exec.run(schemaMigrationsDdl(cluster ?? ''));
    const rows = await ch.query(sql`SELECT version, name, checksum FROM schema_migrations ORDER BY version`, { schema: appliedRow });
    const done = new Map(rows.map((r) => [r.version, r]));
    const known = new Set(files.map((f) => f.version));
    for (const r of done.values()) {
      if (!known.has(r.version)) log(`clickhouse: applied migration ${r.version} (${r.name}) has no file here (newer code?)`);
    }
    for (const f of files) {
      const prior = done.get(f.version);
      if (prior) {
        if (prior.checksum !== f.checksum) {
          throw new MigrationError(
            `clickhouse migration ${f.file} was changed after it was applied (checksum ${prior.checksum.slice(0, 12)} -> ${f.checksum.slice(0, 12)}); add a new numbered migration instead`,
          );
        }
        continue;
      }
      const statements = splitStatements(rewriteMigration(f.text, cluster ? { cluster } : {}));
      log(`clickhouse: applying ${f.file} (${statements.length} statements)`);
      for (const [i, statement] of statements.entries()) {
        try {
          await exec.run(statement);
        } catch (err) {
          throw new MigrationError(`clickhouse migration ${f.file} statement ${i + 1} failed: ${(err as Error).message}`, { cause: err });
        }
      }
      await ch.insert(
        'schema_migrations',
        [{ version: f.version, name: f.name, checksum: f.checksum, applied_at: Math.floor(Date.now() / 1000) }],
        { format: 'JSONEachRow', columns: ['version', 'name', 'checksum', 'applied_at'] },
      );
      applied.push(f.file);
    }
  } finally {
    await Promise.all([exec.close(), ch.close()]);
  }
  return { applied };
}
