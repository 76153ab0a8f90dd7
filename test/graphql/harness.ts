/**
 * Shared harness for GraphQL tests: a real API server on 127.0.0.1:0 against the run's Postgres,
 * ClickHouse and Redis; JWT minting (HS256 with the test secret); a `gql` client over HTTP.
 */
import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { loadConfig, type Config } from '../../src/config/index.js';
import { createPgPools, type PgPools } from '../../src/db/index.js';
import { createClickHouse, type ClickHouse } from '../../src/clickhouse/index.js';
import { createRedis, type Redis, createLogger } from '../../src/shared/index.js';
import { createApiKeyAuthenticator, type ApiKeyAuthenticator } from '../../src/keys/index.js';
import { makePlatformOperator } from '../factories.js';
import { createApiServer, type ApiServer, type ApiServerDeps, type ApiServerOptions } from '../../graphql/src/index.js';

export const JWT_SECRET = `test-secret-${randomBytes(24).toString('hex')}`;

export interface Harness {
  config: Config;
  pools: PgPools;
  clickhouse: ClickHouse;
  redis: Redis;
  server: ApiServer;
  url: string;
  authenticator: ApiKeyAuthenticator;
  close(): Promise<void>;
}

export async function startHarness(
  opts: { env?: Record<string, string>; server?: ApiServerOptions; wrapPools?: (p: PgPools) => PgPools; deps?: Partial<ApiServerDeps> } = {},
): Promise<Harness> {
  const config = loadConfig({ ...process.env, JWT_SECRET, JWT_ALGORITHMS: 'HS256', GRAPHQL_RATE_LIMIT_PER_SECOND: '1000', GRAPHQL_RATE_LIMIT_BURST: '1000', ...opts.env });
  const basePools = createPgPools(config, { applicationName: 'tollgate-test-graphql' });
  const pools = opts.wrapPools ? opts.wrapPools(basePools) : basePools;
  const clickhouse = createClickHouse(config);
  const redis = createRedis(config);
  const logger = createLogger({ level: 'silent' });
  const authenticator = createApiKeyAuthenticator({ pools, redis, config });
  await authenticator.ready;
  const server = await createApiServer(
    { config, logger, pools, clickhouse, redis, authenticate: (s, o) => authenticator.authenticate(s, o), ...opts.deps },
    opts.server,
  );
  const url = await server.listen(0, '127.0.0.1');
  return {
    config,
    pools,
    clickhouse,
    redis,
    server,
    url,
    authenticator,
    async close() {
      await server.close();
      await authenticator.close();
      await clickhouse.close();
      redis.disconnect();
      await basePools.close();
    },
  };
}

export interface GqlError {
  message: string;
  path?: (string | number)[];
  extensions: { code: string; requestId?: string };
}

export interface GqlResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  data: T | null | undefined;
  errors: GqlError[] | undefined;
}

export async function gql<T = any>(url: string, query: string, opts: { variables?: Record<string, unknown>; token?: string; headers?: Record<string, string>; body?: unknown } = {}): Promise<GqlResponse<T>> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(opts.body ?? { query, variables: opts.variables }) });
  const json = (await res.json()) as { data?: T; errors?: GqlError[] };
  return { status: res.status, headers: res.headers, data: json.data, errors: json.errors };
}

export type RoleName = 'member' | 'admin' | 'finance' | 'platform';

/**
 * A signed HS256 token for (user, tenant, role); `over` tweaks claims/header for negative tests.
 * The role is what the database grants, not what the token says (issue 17.11): a `platform`
 * token's user is put on the operator list here, unless `register: false` (escalation tests).
 */
export async function mintJwt(
  config: Config,
  claims: { sub: string; tid?: string | null; role?: RoleName },
  over: { secret?: string; issuer?: string; audience?: string; expiresIn?: string | number; alg?: string; iat?: number | null; jti?: string; register?: boolean } = {},
): Promise<string> {
  if (claims.role === 'platform' && over.register !== false) await makePlatformOperator(claims.sub);
  const payload: Record<string, unknown> = {};
  if (claims.role) payload.role = claims.role;
  if (claims.tid) payload.tid = claims.tid;
  if (over.jti) payload.jti = over.jti;
  const jwt = new SignJWT(payload)
    .setProtectedHeader({ alg: over.alg ?? 'HS256', typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuer(over.issuer ?? config.JWT_ISSUER)
    .setAudience(over.audience ?? config.JWT_AUDIENCE)
    .setExpirationTime(over.expiresIn ?? '10m');
  if (over.iat !== null) jwt.setIssuedAt(over.iat);
  return jwt.sign(new TextEncoder().encode(over.secret ?? JWT_SECRET));
}

export function codes(r: GqlResponse): string[] {
  return (r.errors ?? []).map((e) => e.extensions.code);
}
