/**
 * Two connection pools per process:
 * - `owner`: DATABASE_URL (table owner / superuser) for migrations and operator tooling.
 * - `app`:   the NOSUPERUSER NOBYPASSRLS role every request runs as, so row-level security
 *            is a second wall behind the `tenantId` every repository function takes.
 */
import pg from 'pg';
import type { Config } from '../config/index.js';

export type PgPool = pg.Pool;
export type PgClient = pg.PoolClient;

export interface PgPools {
  app: pg.Pool;
  owner: pg.Pool;
  close(): Promise<void>;
}

type PoolConfig = Pick<Config, 'DATABASE_URL' | 'DATABASE_APP_ROLE' | 'DATABASE_POOL_SIZE'> & { DATABASE_APP_URL?: string | undefined };

// int8 (bigint) and numeric stay strings: money and counters must not pass through floats.

/** The URL the app role connects with: DATABASE_APP_URL when given, else DATABASE_URL with the role as user and no password. */
export function appDatabaseUrl(config: PoolConfig): string {
  if (config.DATABASE_APP_URL) return config.DATABASE_APP_URL;
  const url = new URL(config.DATABASE_URL);
  url.username = config.DATABASE_APP_ROLE;
  url.password = '';
  return url.toString();
}

export function createPgPools(config: PoolConfig, opts: { ownerPoolSize?: number; applicationName?: string } = {}): PgPools {
  const name = opts.applicationName ?? 'tollgate';
  const app = new pg.Pool({ connectionString: appDatabaseUrl(config), max: config.DATABASE_POOL_SIZE, application_name: name });
  const owner = new pg.Pool({ connectionString: config.DATABASE_URL, max: opts.ownerPoolSize ?? 2, application_name: `${name}-owner` });
  // An idle client that loses its server connection emits 'error' on the pool; without a listener it would crash the process.
  app.on('error', () => {});
  owner.on('error', () => {});
  let closed: Promise<void> | undefined;
  return {
    app,
    owner,
    close() {
      closed ??= Promise.all([app.end(), owner.end()]).then(() => undefined);
      return closed;
    },
  };
}
