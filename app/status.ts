/**
 * `tollgate status`: what an operator wants to know about a deployment, gathered from outside
 * the running roles — each role reached over HTTP (inference /v2 and /metrics, api /healthz,
 * otlp /v1/traces; the worker through the job queues' consumers in Redis), Postgres, ClickHouse
 * and Redis answered or not (with versions and round-trip times), this host's usage WAL backlog
 * and flusher lag, job and batcher queue depths, loaded models and their device, live alerts.
 * Every probe has a deadline and a failure becomes part of the report, never an exception: the
 * report can always be printed, also when nothing runs.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../src/config/index.js';
import { createPgPools } from '../src/db/index.js';
import { createRedis, packageRoot } from '../src/shared/index.js';
import { createClickHouse, sql } from '../src/clickhouse/index.js';
import { inspectWal, walDir, type WalBacklog } from '../src/usage/index.js';
import { jobQueueStats, type JobQueueStats } from '../src/queue/index.js';
import { liveAlertCounts } from '../src/alerts/index.js';
import type { Role } from './role-names.js';

export interface RoleStatus {
  role: Role;
  /** Where it was looked for (the worker has no HTTP endpoint: "redis"). */
  where: string;
  up: boolean;
  version: string | null;
  detail: string;
}

export interface ServiceStatus {
  name: 'postgres' | 'clickhouse' | 'redis';
  ok: boolean;
  version: string | null;
  latencyMs: number | null;
  error?: string;
}

export interface StatusReport {
  version: string;
  at: string;
  roles: RoleStatus[];
  services: ServiceStatus[];
  /** This host's usage WAL (each replica has its own folder; run status on each host). */
  wal: (WalBacklog & { lastConfirmedAt: string | null }) | { dir: string; missing: true } | { dir: string; error: string };
  jobQueues: JobQueueStats[] | { error: string };
  /** Loaded model versions, their device, instances and requests waiting in their batcher (from the inference role's /metrics). */
  models: Array<{ model: string; version: string; device: string; instances: number; pending: number }> | { error: string };
  alerts: { open: number; acknowledged: number; bySeverity: Record<string, number> } | { error: string };
}

export interface StatusOptions {
  config: Config;
  urls?: Partial<Record<'inference' | 'api' | 'otlp', string>>;
  timeoutMs?: number;
}

const errText = (err: unknown) => (err as Error)?.message || String(err);

function deadline<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export function cliVersion(): string {
  return (JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

export function defaultRoleUrls(config: Pick<Config, 'TOLLGATE_HOST' | 'TOLLGATE_INFERENCE_PORT' | 'TOLLGATE_API_PORT' | 'TOLLGATE_OTLP_PORT'>): Record<'inference' | 'api' | 'otlp', string> {
  const h = ['0.0.0.0', '::', ''].includes(config.TOLLGATE_HOST) ? '127.0.0.1' : config.TOLLGATE_HOST.includes(':') ? `[${config.TOLLGATE_HOST}]` : config.TOLLGATE_HOST;
  return { inference: `http://${h}:${config.TOLLGATE_INFERENCE_PORT}`, api: `http://${h}:${config.TOLLGATE_API_PORT}`, otlp: `http://${h}:${config.TOLLGATE_OTLP_PORT}` };
}

async function get(url: string, ms: number, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(ms), redirect: 'manual' });
  return { status: res.status, text: await res.text() };
}

const causeOf = (err: unknown) => {
  const e = err as { cause?: { code?: string; message?: string }; name?: string };
  if (e?.name === 'TimeoutError') return 'no answer (timeout)';
  return e?.cause?.code ?? e?.cause?.message ?? errText(err);
};

/** Prometheus text → samples of one metric name. */
export function samples(text: string, name: string): Array<{ labels: Record<string, string>; value: number }> {
  const out: Array<{ labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const m = /^[^{\s]+(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[1] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    out.push({ labels, value: Number(m[2]) });
  }
  return out;
}

async function probeInference(url: string, ms: number, metricsToken: string | undefined): Promise<{ role: RoleStatus; metrics: string | null; metricsError?: string }> {
  try {
    const meta = await get(`${url}/v2`, ms);
    const version = meta.status === 200 ? ((JSON.parse(meta.text) as { version?: string }).version ?? null) : null;
    const ready = await get(`${url}/v2/health/ready`, ms);
    let metrics: string | null = null;
    let metricsError: string | undefined;
    const m = await get(`${url}/metrics`, ms, metricsToken ? { authorization: `Bearer ${metricsToken}` } : {});
    if (m.status === 200) metrics = m.text;
    else metricsError = `GET /metrics answered ${m.status}${metricsToken ? '' : ' (set METRICS_TOKEN to read it from another host)'}`;
    return { role: { role: 'inference', where: url, up: true, version, detail: ready.status === 200 ? 'ready' : 'not ready' }, metrics, metricsError };
  } catch (err) {
    return { role: { role: 'inference', where: url, up: false, version: null, detail: causeOf(err) }, metrics: null, metricsError: 'inference role not reachable' };
  }
}

async function probeApi(url: string, ms: number): Promise<RoleStatus> {
  try {
    const r = await get(`${url}/healthz`, ms);
    const body = r.status === 200 ? (JSON.parse(r.text) as { version?: string }) : {};
    return { role: 'api', where: url, up: r.status === 200, version: body.version ?? null, detail: r.status === 200 ? 'healthy' : `GET /healthz answered ${r.status}` };
  } catch (err) {
    return { role: 'api', where: url, up: false, version: null, detail: causeOf(err) };
  }
}

async function probeOtlp(url: string, ms: number): Promise<RoleStatus> {
  try {
    // The receiver has POST /v1/traces only: any HTTP answer means it listens.
    const r = await get(`${url}/v1/traces`, ms);
    return { role: 'otlp', where: url, up: true, version: null, detail: `listening (GET /v1/traces answered ${r.status})` };
  } catch (err) {
    return { role: 'otlp', where: url, up: false, version: null, detail: causeOf(err) };
  }
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await fn();
  return { value, ms: Math.round((performance.now() - t0) * 10) / 10 };
}

async function probePostgres(config: Config, ms: number): Promise<{ status: ServiceStatus; alerts: StatusReport['alerts'] }> {
  const pools = createPgPools(config, { applicationName: 'tollgate-status' });
  try {
    const first = await deadline('postgres', ms, pools.app.query<{ v: string }>(`SELECT current_setting('server_version') AS v`));
    const { ms: latency } = await timed(() => deadline('postgres', ms, pools.app.query('SELECT 1')));
    const value = first;
    const status: ServiceStatus = { name: 'postgres', ok: true, version: value.rows[0]?.v ?? null, latencyMs: latency };
    let alerts: StatusReport['alerts'];
    try {
      const rows = await deadline('alerts', ms, liveAlertCounts({ pools }));
      const bySeverity: Record<string, number> = {};
      for (const r of rows.filter((x) => x.status === 'open')) bySeverity[r.severity] = (bySeverity[r.severity] ?? 0) + r.count;
      const sum = (s: string) => rows.filter((r) => r.status === s).reduce((a, r) => a + r.count, 0);
      alerts = { open: sum('open'), acknowledged: sum('acknowledged'), bySeverity };
    } catch (err) {
      alerts = { error: errText(err) };
    }
    return { status, alerts };
  } catch (err) {
    return { status: { name: 'postgres', ok: false, version: null, latencyMs: null, error: errText(err) }, alerts: { error: 'postgres not reachable' } };
  } finally {
    await pools.close().catch(() => undefined);
  }
}

async function probeClickHouse(config: Config, ms: number): Promise<ServiceStatus> {
  // Connected to `default`: the server's health is told apart from a missing Tollgate database.
  const ch = createClickHouse(config, { database: 'default' });
  try {
    const { value, ms: latency } = await timed(() =>
      deadline('clickhouse', ms, ch.query<{ v: string; db: number | string }>(sql`SELECT version() AS v, (SELECT count() FROM system.databases WHERE name = ${config.CLICKHOUSE_DATABASE}) AS db`)),
    );
    const exists = Number(value[0]?.db ?? 0) > 0;
    return { name: 'clickhouse', ok: exists, version: value[0]?.v ?? null, latencyMs: latency, ...(exists ? {} : { error: `database ${config.CLICKHOUSE_DATABASE} does not exist (run tollgate migrate)` }) };
  } catch (err) {
    return { name: 'clickhouse', ok: false, version: null, latencyMs: null, error: errText(err) };
  } finally {
    await ch.close().catch(() => undefined);
  }
}

async function probeRedis(config: Config, ms: number): Promise<ServiceStatus> {
  const redis = createRedis(config, { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => {}); // reported below
  try {
    await deadline('redis', ms, redis.connect());
    const { ms: latency } = await timed(() => deadline('redis', ms, redis.ping()));
    const info = await deadline('redis', ms, redis.info('server'));
    return { name: 'redis', ok: true, version: /redis_version:(\S+)/.exec(info)?.[1] ?? null, latencyMs: latency };
  } catch (err) {
    return { name: 'redis', ok: false, version: null, latencyMs: null, error: errText(err) };
  } finally {
    redis.disconnect();
  }
}

async function readWal(config: Config): Promise<StatusReport['wal']> {
  const dir = walDir(config);
  try {
    const w = await inspectWal(dir);
    if (!w) return { dir, missing: true };
    return { ...w, lastConfirmedAt: w.lastConfirmedAt?.toISOString() ?? null } as StatusReport['wal'];
  } catch (err) {
    return { dir, error: errText(err) };
  }
}

export async function collectStatus(opts: StatusOptions): Promise<StatusReport> {
  const { config } = opts;
  const ms = opts.timeoutMs ?? 3000;
  const urls = { ...defaultRoleUrls(config), ...opts.urls };
  const [inf, api, otlp, pg, ch, redis, wal, queues] = await Promise.all([
    probeInference(urls.inference, ms, config.METRICS_TOKEN),
    probeApi(urls.api, ms),
    probeOtlp(urls.otlp, ms),
    probePostgres(config, ms),
    probeClickHouse(config, ms),
    probeRedis(config, ms),
    readWal(config),
    jobQueueStats({ redisUrl: config.REDIS_URL, prefix: config.REDIS_PREFIX, timeoutMs: ms }).catch((err: unknown) => ({ error: errText(err) })),
  ]);
  const consumers = Array.isArray(queues) ? Math.max(0, ...queues.map((q) => q.workers)) : null;
  const worker: RoleStatus = {
    role: 'worker',
    where: 'redis (job queue consumers)',
    up: (consumers ?? 0) > 0,
    version: null,
    detail: consumers === null ? `unknown: ${(queues as { error: string }).error}` : consumers > 0 ? `${consumers} process(es) consuming the job queues` : 'no process consumes the job queues',
  };
  let models: StatusReport['models'];
  if (inf.metrics) {
    const pending = new Map(samples(inf.metrics, 'tollgate_inference_pending_requests').map((s) => [`${s.labels.model}@${s.labels.version}`, s.value]));
    models = samples(inf.metrics, 'tollgate_inference_model_instances').map((s) => ({
      model: s.labels.model ?? '',
      version: s.labels.version ?? '',
      device: s.labels.device ?? '',
      instances: s.value,
      pending: pending.get(`${s.labels.model}@${s.labels.version}`) ?? 0,
    }));
  } else models = { error: inf.metricsError ?? 'no metrics' };
  return {
    version: cliVersion(),
    at: new Date().toISOString(),
    roles: [inf.role, api, worker, otlp],
    services: [pg.status, ch, redis],
    wal,
    jobQueues: queues,
    models,
    alerts: pg.alerts,
  };
}
