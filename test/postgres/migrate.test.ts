import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { defaultMigrationsDir, migratePostgres, MigrationError, readMigrations, scramSha256Verifier } from '../../src/db/index.js';

const config = loadConfig();

// A separate, throw-away database (named like the global setup's, so a crashed run's leftover is swept).
function tempDbUrl(): string {
  const url = new URL(config.DATABASE_URL);
  url.pathname = `/tollgate_test_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  return url.toString();
}

const created: string[] = [];
const dirs: string[] = [];

async function query(url: string, text: string, values: unknown[] = []) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(text, values);
  } finally {
    await c.end();
  }
}

function tempDir(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'tollgate-migrations-'));
  dirs.push(dir);
  for (const [name, sql] of Object.entries(files)) writeFileSync(path.join(dir, name), sql);
  return dir;
}

function cfg(url: string) {
  created.push(url);
  return { ...config, DATABASE_URL: url };
}

afterAll(async () => {
  for (const url of created) {
    const name = new URL(url).pathname.slice(1);
    const admin = new URL(url);
    admin.pathname = '/postgres';
    await query(admin.toString(), `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('migratePostgres', () => {
  it('finds the real migrations from the package root and the per-run database is fully migrated (a second run is a no-op)', async () => {
    const dir = defaultMigrationsDir();
    expect(existsSync(path.join(dir, '001_core.sql'))).toBe(true);
    const files = readMigrations(dir);
    expect(files.map((f) => f.version)).toEqual([...files.map((f) => f.version)].sort((a, b) => a - b));
    const again = await migratePostgres({ config });
    expect(again.applied).toEqual([]);
    const { rows } = await query(config.DATABASE_URL, 'SELECT version, checksum FROM schema_migrations ORDER BY version');
    expect(rows.map((r) => r.version)).toEqual(files.map((f) => f.version));
    expect(rows.map((r) => r.checksum)).toEqual(files.map((f) => f.checksum));
  });

  describe('on a temporary database', () => {
    let url: string;
    let dir: string;
    beforeAll(() => {
      url = tempDbUrl();
      dir = tempDir({
        '001_first.sql': 'CREATE TABLE widgets (id serial PRIMARY KEY, tenant_id uuid NOT NULL);',
        '002_second.sql': "INSERT INTO widgets (tenant_id) VALUES ('00000000-0000-0000-0000-000000000001');",
      });
    });

    it('creates the database, applies in order, records versions, and is idempotent', async () => {
      const first = await migratePostgres({ config: cfg(url), dir });
      expect(first.applied).toEqual(['001_first', '002_second']);
      const second = await migratePostgres({ config: cfg(url), dir });
      expect(second.applied).toEqual([]);
      const { rows } = await query(url, 'SELECT count(*)::int AS n FROM widgets');
      expect(rows[0].n).toBe(1); // 002 ran once
      const versions = await query(url, 'SELECT version, name FROM schema_migrations ORDER BY version');
      expect(versions.rows).toEqual([
        { version: 1, name: 'first' },
        { version: 2, name: 'second' },
      ]);
    });

    it('applies only new files later', async () => {
      writeFileSync(path.join(dir, '003_third.sql'), 'ALTER TABLE widgets ADD COLUMN label text;');
      expect((await migratePostgres({ config: cfg(url), dir })).applied).toEqual(['003_third']);
    });

    it('refuses a changed already-applied file with a clear error', async () => {
      writeFileSync(path.join(dir, '001_first.sql'), 'CREATE TABLE widgets (id bigserial PRIMARY KEY);');
      const err = await migratePostgres({ config: cfg(url), dir }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MigrationError);
      expect((err as Error).message).toMatch(/001_first\.sql was changed after it was applied/);
    });

    it('rolls back a failing migration entirely and does not record it', async () => {
      const d = tempDir({
        '001_ok.sql': 'CREATE TABLE a (x int);',
        '002_bad.sql': 'CREATE TABLE b (x int); SELECT * FROM no_such_table;',
      });
      const u = tempDbUrl();
      await expect(migratePostgres({ config: cfg(u), dir: d })).rejects.toThrow(/002_bad\.sql failed: .*no_such_table/);
      const { rows } = await query(u, "SELECT to_regclass('public.a') IS NOT NULL AS a, to_regclass('public.b') IS NOT NULL AS b, (SELECT array_agg(version) FROM schema_migrations) AS v");
      expect(rows[0]).toEqual({ a: true, b: false, v: [1] });
    });

    it('rejects badly named and duplicate-version files', async () => {
      await expect(migratePostgres({ config: cfg(tempDbUrl()), dir: tempDir({ '1_x.sql': 'SELECT 1;' }) })).rejects.toThrow(/bad migration file name 1_x\.sql/);
      await expect(migratePostgres({ config: cfg(tempDbUrl()), dir: tempDir({ '001_a.sql': 'SELECT 1;', '001_b.sql': 'SELECT 1;' }) })).rejects.toThrow(/share version 001/);
    });

    it('serialises concurrent runners (advisory lock): each file applied exactly once', async () => {
      const u = tempDbUrl();
      const d = tempDir({ '001_t.sql': 'CREATE TABLE t (x int);', '002_row.sql': 'INSERT INTO t VALUES (1);' });
      const results = await Promise.all([1, 2, 3].map(() => migratePostgres({ config: cfg(u), dir: d })));
      expect(results.flatMap((r) => r.applied).sort()).toEqual(['001_t', '002_row']);
      const { rows } = await query(u, 'SELECT count(*)::int AS n FROM t');
      expect(rows[0].n).toBe(1);
    });
  });
});

describe('the app role password (DATABASE_APP_URL with a password, as in docker-compose.yml)', () => {
  const role = `tg_app_${randomBytes(4).toString('hex')}`;
  afterAll(async () => {
    await query(config.DATABASE_URL, `DROP OWNED BY ${role}`).catch(() => undefined);
    await query(config.DATABASE_URL, `DROP ROLE IF EXISTS ${role}`);
  });

  /** What Postgres stored, checked the way a SCRAM login checks it: recompute from the password with the stored salt. */
  async function storedVerifierMatches(password: string): Promise<boolean> {
    const { rows } = await query(config.DATABASE_URL, 'SELECT rolpassword FROM pg_authid WHERE rolname = $1', [role]);
    const stored = String(rows[0]?.rolpassword ?? '');
    expect(stored).not.toContain(password);
    const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(stored);
    expect(m, stored.slice(0, 14)).not.toBeNull();
    return scramSha256Verifier(password, Buffer.from(m![2]!, 'base64'), Number(m![1])) === stored;
  }

  it('migrate sets it as a SCRAM verifier (never the password itself) and follows a rotation', async () => {
    const appUrl = (password: string) => {
      const u = new URL(config.DATABASE_URL);
      u.username = role;
      u.password = password;
      return u.toString();
    };
    const first = randomBytes(32).toString('base64url');
    await migratePostgres({ config: { ...config, DATABASE_APP_ROLE: role, DATABASE_APP_URL: appUrl(first) } });
    expect(await storedVerifierMatches(first)).toBe(true);
    const second = randomBytes(32).toString('base64url');
    await migratePostgres({ config: { ...config, DATABASE_APP_ROLE: role, DATABASE_APP_URL: appUrl(second) } });
    expect(await storedVerifierMatches(second)).toBe(true);
    expect(await storedVerifierMatches(first)).toBe(false);
    // The verifier algorithm agrees with Postgres' own: let the server hash a password, recompute it here.
    const third = randomBytes(32).toString('base64url');
    await query(config.DATABASE_URL, `SET password_encryption = 'scram-sha-256'; ALTER ROLE ${role} PASSWORD '${third}'`);
    expect(await storedVerifierMatches(third)).toBe(true);
  });
});
