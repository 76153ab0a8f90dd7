/**
 * The shared connections every role needs, built once at start-up and handed down.
 * Domain services (authenticator, usage sink, admission, ...) are built from these by the
 * roles that need them; per-request state never lives here.
 */
import type { Config } from '../src/config/index.js';
import { createPgPools, type PgPools } from '../src/db/index.js';
import { createClickHouse, type ClickHouse } from '../src/clickhouse/index.js';
import { createRedis, type Redis, createLogger, resolveLogFormat, type Logger } from '../src/shared/index.js';
import { createApiKeyAuthenticator, type ApiKeyAuthenticator } from '../src/keys/index.js';
import { createFailedAuthLimiter, type FailedAuthLimiter } from '../src/identity/index.js';

export interface Infra {
  readonly config: Config;
  readonly logger: Logger;
  readonly pools: PgPools;
  readonly clickhouse: ClickHouse;
  readonly redis: Redis;
  /** API-key lookups with a cache and cross-replica revocation; shared by every role that takes keys. */
  readonly authenticator: ApiKeyAuthenticator;
  /** Failed credentials per source address and service-wide, before the lookup reaches Postgres (issue 17.10). */
  readonly failedAuth: FailedAuthLimiter;
  close(): Promise<void>;
}

export function createInfra(config: Config, opts: { logger?: Logger; name?: string } = {}): Infra {
  const format = resolveLogFormat(config.LOG_FORMAT, { isTTY: process.stdout.isTTY === true, production: config.NODE_ENV === 'production' });
  const logger = opts.logger ?? createLogger({ level: config.LOG_LEVEL, name: opts.name ?? 'tollgate', format });
  const pools = createPgPools(config, { applicationName: opts.name ?? 'tollgate' });
  const clickhouse = createClickHouse(config);
  const redis = createRedis(config);
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  const authenticator = createApiKeyAuthenticator({ pools, redis, config, log: logger });
  const failedAuth = createFailedAuthLimiter({ redis, config, log: logger });
  let closing: Promise<void> | undefined;
  return {
    config,
    logger,
    pools,
    clickhouse,
    redis,
    authenticator,
    failedAuth,
    close() {
      closing ??= (async () => {
        await authenticator.close();
        await Promise.allSettled([pools.close(), clickhouse.close(), redis.quit()]);
      })();
      return closing;
    },
  };
}
