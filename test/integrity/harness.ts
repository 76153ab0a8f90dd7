/**
 * The real inference path for the money-integrity attacks (issue 17): the HTTP server with real
 * onnxruntime models, real API keys (Postgres), real admission (Redis), and the real WAL usage
 * sink flushing into ClickHouse. `rows(tenantId)` reads what was billed.
 */
import type { Tracer } from '@opentelemetry/api';
import { pino } from 'pino';
import { createClickHouse, sql, type ClickHouse } from '../../src/clickhouse/index.js';
import { ResponseStore } from '../../src/idempotency/index.js';
import type { Config } from '../../src/config/index.js';
import { createApiKeyAuthenticator, type ApiKeyAuthenticator } from '../../src/keys/index.js';
import { createAdmission, type AdmissionService } from '../../src/quotas/index.js';
import { createRedis, type Redis } from '../../src/shared/index.js';
import { createWalUsageSink, type WalUsageSink } from '../../src/usage/index.js';
import { factoryDeps } from '../factories.js';
import { makeRepo, startServer, type ModelCopy, type Running } from '../inference/helpers.js';
import { tempStateDir, testConfig } from '../usage/helpers.js';

export interface Stack {
  config: Config;
  srv: Running;
  redis: Redis;
  clickhouse: ClickHouse;
  admission: AdmissionService;
  sink: WalUsageSink;
  /** Every usage row of a tenant (after the WAL is flushed). */
  rows(tenantId: string): Promise<UsageRowRead[]>;
  close(): Promise<void>;
}

export interface UsageRowRead {
  event_id: string;
  request_id: string;
  model: string;
  status: string;
  http_status: number;
  items: number;
  compute_us: number;
  billed_compute_us: number;
  batch_size: number;
}

export async function startStack(opts: { models: (string | ModelCopy)[]; env?: Record<string, string>; admissionRedis?: Redis; tracer?: Tracer; replay?: boolean }): Promise<Stack> {
  const repo = makeRepo(opts.models);
  const stateDir = await tempStateDir('integrity');
  const env = { USAGE_WAL_DIR: stateDir, USAGE_FLUSH_INTERVAL_MS: '50', ...opts.env };
  const config = testConfig(env);
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const redis = createRedis(config);
  const clickhouse = createClickHouse(config);
  const admission = createAdmission({ config, redis: opts.admissionRedis ?? redis, pools: factoryDeps().pools, logger, warnIntervalMs: 600_000 });
  const authenticator: ApiKeyAuthenticator = createApiKeyAuthenticator({ pools: factoryDeps().pools, redis, config, log: logger });
  const sink = createWalUsageSink({ config, logger, clickhouse, redis });
  await sink.start();
  const srv = await startServer({ repo: repo.dir, env, authenticate: (s, o) => authenticator.authenticate(s, o), admission, usageSink: sink,
    logger,
    ...(opts.tracer ? { tracer: opts.tracer } : {}),
    ...(opts.replay ? { responses: new ResponseStore({ redis, prefix: config.REDIS_PREFIX, windowSeconds: config.IDEMPOTENCY_WINDOW_SECONDS, maxBytes: config.INFERENCE_REPLAY_MAX_BYTES }) } : {}),
  });
  return {
    config,
    srv,
    redis,
    clickhouse,
    admission,
    sink,
    async rows(tenantId) {
      await sink.flushNow();
      return clickhouse.query<UsageRowRead>(
        sql`SELECT event_id, request_id, model, status, toUInt32(http_status) AS http_status, toUInt32(items) AS items, toUInt64(compute_us) AS compute_us,
                   toUInt64(billed_compute_us) AS billed_compute_us, toUInt32(batch_size) AS batch_size
            FROM usage_events_v1 FINAL WHERE tenant_id = ${tenantId} ORDER BY ts_ms, event_id`,
      );
    },
    async close() {
      await srv.close();
      await sink.stop();
      await admission.close();
      await authenticator.close();
      redis.disconnect();
      await clickhouse.close();
      repo.cleanup();
    },
  };
}

/** ClickHouse returns 64-bit integers as strings: numbers for comparisons. */
export function num(v: unknown): number {
  return Number(v);
}
