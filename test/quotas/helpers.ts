/** Helpers for the quotas tests: config, a capturing logger, a cuttable TCP proxy, overrides, admission. */
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { loadConfig, type Config } from '../../src/config/index.js';
import { createLogger, createRedis, type Logger, type Redis } from '../../src/shared/index.js';
import { getPlan, setQuotaOverride, type OverrideKind } from '../../src/plans/index.js';
import { createAdmission, type AdmissionDeps, type AdmissionService } from '../../src/quotas/index.js';
import type { AdmissionDecision, AdmissionRequest } from '../../src/quotas/contract.js';
import { factoryDeps, testActor } from '../factories.js';

export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({ ...process.env, ...overrides });
}

export function captureLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { logger: createLogger({ level: 'warn', destination }), lines };
}

export async function override(q: { tenantId: string; apiKeyId?: string; meter: OverrideKind; limit: number; hard?: boolean }): Promise<void> {
  // Admission in these tests loads the override fresh (new processes or the cache's TTL): no announcement needed.
  await setQuotaOverride({ pools: factoryDeps().pools, announceLimits: async () => {} }, { ...q, reason: 'test', actor: testActor });
}

/** A plan's burst and concurrency cap, and the largest burst of simultaneous requests both allow. */
export async function planBounds(code: string): Promise<{ burst: number; concurrency: number; max: number }> {
  const plan = await getPlan({ pools: factoryDeps().pools }, { code });
  if (!plan) throw new Error(`no plan ${code}`);
  return { burst: plan.burst, concurrency: plan.maxConcurrency, max: Math.min(plan.burst, plan.maxConcurrency) };
}

export function request(tenantId: string, apiKeyId: string, extra: Partial<AdmissionRequest> = {}): AdmissionRequest {
  return { tenantId, apiKeyId, model: 'mlp-demo', items: 1, eventId: randomUUID(), ...extra };
}

/** Admits and, when allowed, releases at once (ok, no compute). */
export async function admitAndRelease(a: AdmissionService, req: AdmissionRequest, outcome: { computeUs?: number; ok?: boolean } = {}): Promise<AdmissionDecision> {
  const d = await a.admit(req);
  if (d.allowed) d.ticket.release({ computeUs: outcome.computeUs ?? 0, items: req.items, ok: outcome.ok ?? true });
  return d;
}

export interface Harness {
  redis: Redis;
  admission(opts?: Partial<AdmissionDeps> & { env?: Record<string, string> }): AdmissionService;
  close(): Promise<void>;
}

/** Admission services against the per-run Redis and Postgres; all closed by close(). */
export function harness(): Harness {
  const config = testConfig();
  const redis = createRedis(config);
  const made: Array<{ a: AdmissionService; r?: Redis }> = [];
  return {
    redis,
    admission(opts = {}) {
      const cfg = testConfig(opts.env ?? {});
      const a = createAdmission({ config: cfg, redis: opts.redis ?? redis, pools: factoryDeps().pools, logger: opts.logger ?? createLogger({ level: 'silent' }), ...opts });
      made.push({ a });
      return a;
    },
    async close() {
      await Promise.all(made.map((m) => m.a.close()));
      redis.disconnect();
    },
  };
}

export { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
