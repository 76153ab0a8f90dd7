/**
 * Postgres migration runner: `src/db/migrations/NNN_name.sql`, applied in order, each in its
 * own transaction, recorded in `schema_migrations` with a sha256 checksum. Safe to run from
 * several processes at once (advisory lock), idempotent, and it refuses to continue when an
 * already-applied file was edited (add a new numbered migration instead).
 *
 * Ranges: 001-099 postgres engineer, 100-199 quotas, 200-299 graphql/billing, 300-399 metering.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { Config } from '../config/index.js';
import { packageRoot } from '../shared/index.js';
import { scramSha256Verifier, scramVerifiable } from './scram.js';

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
}

export interface MigrationFile {
  version: number;
  name: string;
  file: string;
  sql: string;
  checksum: string;
}

type MigrateConfig = Pick<Config, 'DATABASE_URL' | 'DATABASE_APP_ROLE'> & { DATABASE_APP_URL?: string | undefined };

export interface MigrateOptions {
  config: MigrateConfig;
  /** Folder of NNN_name.sql files; default: `<package root>/src/db/migrations`. */
  dir?: string;
  log?: (message: string) => void;
  /** Create the app role and grant it DML (default true). */
  appRole?: boolean;
}

// Arbitrary constant shared by every Tollgate migrator; Postgres advisory locks are per database.
const LOCK_KEY = 7_243_401_118;
const FILE_RE = /^(\d{3})_([a-z0-9_]+)\.sql$/;

export { packageRoot };

export function defaultMigrationsDir(): string {
  return path.join(packageRoot(), 'src/db/migrations');
}

export function readMigrations(dir: string): MigrationFile[] {
  if (!existsSync(dir)) throw new MigrationError(`migrations folder not found: ${dir}`);
  const files: MigrationFile[] = [];
  const seen = new Map<number, string>();
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.sql')) continue;
    const m = FILE_RE.exec(file);
    if (!m) throw new MigrationError(`bad migration file name ${file}: expected NNN_lower_snake_name.sql`);
    const version = Number(m[1]);
    const other = seen.get(version);
    if (other) throw new MigrationError(`two migrations share version ${m[1]}: ${other} and ${file}`);
    seen.set(version, file);
    // Normalise line endings so a checkout with autocrlf does not look like an edit.
    const sql = readFileSync(path.join(dir, file), 'utf8').replace(/\r\n/g, '\n');
    files.push({ version, name: m[2]!, file, sql, checksum: createHash('sha256').update(sql).digest('hex') });
  }
  return files.sort((a, b) => a.version - b.version);
}

function quoteIdent(id: string): string {
  return `"${id.replace(/"/g, '""')}"`;
}

/** Creates the database named in DATABASE_URL when it does not exist (connecting to the `postgres` database). */
export async function ensureDatabase(databaseUrl: string, log: (m: string) => void = () => {}): Promise<void> {
  const url = new URL(databaseUrl);
  const dbName = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!dbName) throw new MigrationError('DATABASE_URL names no database');
  url.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: url.toString() });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [dbName]);
    if (rowCount) return;
    try {
      await admin.query(`CREATE DATABASE ${quoteIdent(dbName)}`);
      log(`created database ${dbName}`);
    } catch (err) {
      // Another migrator won the race: fine.
      const code = (err as { code?: string }).code;
      if (code !== '42P04' && code !== '23505') throw err;
    }
  } finally {
    await admin.end();
  }
}

export async function migratePostgres(opts: MigrateOptions): Promise<{ applied: string[] }> {
  const log = opts.log ?? (() => {});
  const files = readMigrations(opts.dir ?? defaultMigrationsDir());
  await ensureDatabase(opts.config.DATABASE_URL, log);

  const client = new pg.Client({ connectionString: opts.config.DATABASE_URL, application_name: 'tollgate-migrate' });
  await client.connect();
  const applied: string[] = [];
  try {
    await client.query('SET client_min_messages = warning');
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await client.query<{ version: number; name: string; checksum: string }>('SELECT version, name, checksum FROM schema_migrations');
    const done = new Map(rows.map((r) => [r.version, r]));

    // Verify every applied file before applying anything new.
    for (const f of files) {
      const prev = done.get(f.version);
      if (prev && prev.checksum !== f.checksum) {
        throw new MigrationError(
          `migration ${f.file} was changed after it was applied (recorded checksum ${prev.checksum.slice(0, 12)}…, file ${f.checksum.slice(0, 12)}…); ` +
            'never edit an applied migration: revert the edit and add a new numbered migration',
        );
      }
    }
    for (const f of files) {
      if (done.has(f.version)) continue;
      await client.query('BEGIN');
      try {
        // Migrations may touch tenant rows (backfills); FORCE ROW LEVEL SECURITY would hide them from a non-superuser owner.
        await client.query("SELECT set_config('app.platform', 'on', true)");
        await client.query(f.sql);
        await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [f.version, f.name, f.checksum]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw new MigrationError(`migration ${f.file} failed: ${(err as Error).message}`);
      }
      applied.push(`${String(f.version).padStart(3, '0')}_${f.name}`);
      log(`applied ${f.file}`);
    }
    if (opts.appRole !== false) await ensureAppRole(client, opts.config.DATABASE_APP_ROLE, log, appRolePassword(opts.config));
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => {});
    await client.end();
  }
  return { applied };
}

/**
 * The run-time role: LOGIN NOSUPERUSER NOBYPASSRLS, DML on the application tables only (no DDL,
 * no schema_migrations, append-only audit_log). Its name comes from config, so it is handled
 * here rather than in a static SQL file. Roles are cluster-wide; grants are per database.
 */
/** The app role's password when DATABASE_APP_URL carries one for that very role (deployments with password auth, e.g. compose). */
function appRolePassword(config: MigrateConfig): string | undefined {
  if (!config.DATABASE_APP_URL) return undefined;
  const url = new URL(config.DATABASE_APP_URL);
  const password = decodeURIComponent(url.password);
  return decodeURIComponent(url.username) === config.DATABASE_APP_ROLE && password !== '' ? password : undefined;
}

async function ensureAppRole(client: pg.Client, role: string, log: (m: string) => void, password?: string): Promise<void> {
  const { rows: me } = await client.query<{ u: string }>('SELECT current_user AS u');
  if (me[0]?.u === role) throw new MigrationError(`DATABASE_APP_ROLE (${role}) must differ from the DATABASE_URL user: the app role must not own the tables`);
  const r = quoteIdent(role);
  const { rows } = await client.query<{ rolsuper: boolean; rolbypassrls: boolean }>('SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1', [role]);
  if (rows.length === 0) {
    try {
      await client.query(`DO $$ BEGIN
        CREATE ROLE ${r} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
      EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`);
      log(`created role ${role}`);
    } catch (err) {
      throw new MigrationError(`cannot create app role ${role} (${(err as Error).message}); create it yourself: CREATE ROLE ${role} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '...'`);
    }
  } else if (rows[0]!.rolsuper || rows[0]!.rolbypassrls) {
    throw new MigrationError(`app role ${role} has SUPERUSER or BYPASSRLS; row-level security would not apply. ALTER ROLE ${role} NOSUPERUSER NOBYPASSRLS`);
  }
  // Kept in step with DATABASE_APP_URL on every migrate, so rotating it is: change the URL, migrate.
  // A SCRAM verifier goes over the wire (and into any statement log), not the password.
  if (password !== undefined) {
    const secret = scramVerifiable(password) ? scramSha256Verifier(password) : password;
    await client.query(`ALTER ROLE ${r} PASSWORD ${client.escapeLiteral(secret)}`);
  }
  await client.query('BEGIN');
  try {
    await client.query(`GRANT CONNECT ON DATABASE ${quoteIdent(await currentDatabase(client))} TO ${r}`);
    await client.query(`GRANT USAGE ON SCHEMA public TO ${r}`);
    await client.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${r}`);
    await client.query(`GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO ${r}`);
    await client.query(`GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO ${r}`);
    await client.query(`REVOKE ALL ON schema_migrations FROM ${r}`);
    await client.query(`DO $$ BEGIN
      IF to_regclass('public.audit_log') IS NOT NULL THEN REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM ${r}; END IF;
      IF to_regprocedure('public.app_enable_tenant_rls(regclass)') IS NOT NULL THEN
        REVOKE EXECUTE ON FUNCTION app_enable_tenant_rls(regclass) FROM ${r};
      END IF;
    END $$`);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw new MigrationError(`granting privileges to ${role} failed: ${(err as Error).message}`);
  }
}

async function currentDatabase(client: pg.Client): Promise<string> {
  const { rows } = await client.query<{ d: string }>('SELECT current_database() AS d');
  return rows[0]!.d;
}
