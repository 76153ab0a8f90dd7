/**
 * Two connection pools per process:
 * - `owner`: DATABASE_URL (table owner / superuser) for migrations and operator tooling.
 * - `app`:   the NOSUPERUSER NOBYPASSRLS role every request runs as, so row-level security
 *            is a second wall behind the `tenantId` every repository function takes.
 */
import pg from 'pg';
import { ConfigError, type Config } from '../config/index.js';

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

/** A ConfigError: the CLI prints it as one line and `serve` exits. */
export class UnsafeAppRoleError extends ConfigError {}

/**
 * Row-level security is the second wall behind every repository's `tenantId`, and Postgres skips
 * it for superusers and BYPASSRLS roles. Serving with such a role (a DATABASE_APP_URL pointing at
 * `postgres`, say) would silently leave one wall, so start-up refuses it, naming the role.
 */
export async function assertRestrictedAppRole(app: pg.Pool): Promise<void> {
  const { rows } = await app.query<{ role: string; rolsuper: boolean; rolbypassrls: boolean }>(
    'SELECT rolname AS role, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user',
  );
  const me = rows[0];
  if (!me) throw new UnsafeAppRoleError('the app database role could not be read from pg_roles');
  const powers = [me.rolsuper && 'SUPERUSER', me.rolbypassrls && 'BYPASSRLS'].filter(Boolean).join(' and ');
  if (powers) {
    throw new UnsafeAppRoleError(
      `the app database role "${me.role}" has ${powers}: row-level security would not apply to it. ` +
        `Connect DATABASE_APP_URL (or DATABASE_APP_ROLE) as a NOSUPERUSER NOBYPASSRLS role (\`tollgate migrate\` creates one: tollgate_app by default).`,
    );
  }
}
