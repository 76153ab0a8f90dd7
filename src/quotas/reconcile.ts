/**
 * Reconciliation: ClickHouse is the source of truth for use. For each tenant, recompute this
 * billing period's billable use (requests and items of status 'ok', compute of every run — failed
 * runs too, issue 17.3 — each event id once) up to a settled cutoff and
 * replace the Redis counters' use before that cutoff with it (per-minute use after the cutoff
 * is kept: those events may still be in the metering pipeline). This repairs counters after a
 * Redis restart or eviction, crashed processes, duplicates that reached two processes, and
 * fail-open periods. Idempotent; safe to run from several workers.
 */
import { sql, type ClickHouse } from '../clickhouse/index.js';
import type { Config } from '../config/index.js';
import type { PgPools } from '../db/index.js';
import { listQuotaOverrides } from '../plans/index.js';
import type { Logger, Redis } from '../shared/index.js';
import { listTenants } from '../tenants/index.js';
import { keyScope, quotaKeys, tenantScope } from './keys.js';
import { postgresLimits, type LoadLimits } from './limits.js';
import { billingPeriod } from './period.js';
import { quotaReconcile, runScript } from './scripts.js';
import { isMeter, meterSumsOverEvents } from '../metering/index.js';
import { meters, type Clock, type Meter } from './types.js';

/** Billable use per API key in [from, to), each event id counted once, in counted units (compute in µs). */
export interface KeyUsage {
  apiKeyId: string;
  units: Record<Meter, number>;
}

export async function billableUsage(clickhouse: ClickHouse, q: { tenantId: string; from: Date; to: Date }): Promise<KeyUsage[]> {
  const fromS = Math.floor(q.from.getTime() / 1000);
  const toS = Math.ceil(q.to.getTime() / 1000);
  const rows = await clickhouse.query<Record<string, string | number>>(sql`
    SELECT api_key_id, ${meterSumsOverEvents()}
    FROM (
      SELECT event_id, any(api_key_id) AS api_key_id, any(items) AS items, any(billed_compute_us) AS c, any(device) AS d, any(status = 'ok') AS ok
      FROM usage_events_v1
      WHERE tenant_id = ${q.tenantId} AND ts >= toDateTime(${fromS}) AND ts <= toDateTime(${toS})
        AND ts_ms >= ${q.from.getTime()} AND ts_ms < ${q.to.getTime()}
      GROUP BY event_id
    )
    GROUP BY api_key_id`);
  return rows.map((r) => ({
    apiKeyId: String(r.api_key_id),
    units: Object.fromEntries(meters.map((m) => [m, Number(r[m])])) as Record<Meter, number>,
  }));
}

export function usageOf(rows: readonly KeyUsage[], meter: Meter): number {
  let n = 0;
  for (const r of rows) n += r.units[meter];
  return n;
}

export interface ReconcileDeps {
  config: Pick<Config, 'REDIS_PREFIX' | 'QUOTA_RECONCILE_SETTLE_MS'>;
  redis: Redis;
  clickhouse: ClickHouse;
  pools: Pick<PgPools, 'app'>;
  logger?: Logger;
  clock?: Clock;
  loadLimits?: LoadLimits;
}

export interface Correction {
  tenantId: string;
  apiKeyId: string | null;
  meter: Meter;
  /** Units in Redis before and after (compute meters in µs). */
  before: number;
  after: number;
}

export interface ReconcileResult {
  tenants: number;
  /** Counters whose value changed. */
  corrections: Correction[];
  failed: Array<{ tenantId: string; error: string }>;
}

/**
 * Recomputes the current period's counters of the given tenants (default: every active tenant)
 * from ClickHouse. Schedule it every QUOTA_RECONCILE_INTERVAL_MS.
 */
export async function reconcileQuotas(deps: ReconcileDeps, opts: { tenantIds?: string[]; at?: Date } = {}): Promise<ReconcileResult> {
  const clock = deps.clock ?? Date.now;
  const result: ReconcileResult = { tenants: 0, corrections: [], failed: [] };
  const ids = opts.tenantIds ?? (await activeTenantIds(deps));
  for (const tenantId of ids) {
    try {
      result.corrections.push(...(await reconcileTenant(deps, tenantId, opts.at?.getTime() ?? clock())));
      result.tenants++;
    } catch (err) {
      result.failed.push({ tenantId, error: (err as Error).message });
      deps.logger?.warn({ err: (err as Error).message, tenantId }, 'quota reconciliation failed for tenant');
    }
  }
  if (result.corrections.length) deps.logger?.info({ corrections: result.corrections.length, tenants: result.tenants }, 'quota counters reconciled with ClickHouse');
  return result;
}

async function activeTenantIds(deps: ReconcileDeps): Promise<string[]> {
  const ids: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await listTenants({ pools: deps.pools }, { status: 'active', limit: 1000, ...(after ? { after } : {}) });
    ids.push(...page.map((t) => t.id));
    if (page.length < 1000) return ids;
    after = page[page.length - 1]!.id;
  }
}

async function reconcileTenant(deps: ReconcileDeps, tenantId: string, now: number): Promise<Correction[]> {
  const load = deps.loadLimits ?? postgresLimits(deps);
  const limits = await load({ tenantId, at: new Date(now) });
  if (!limits) return [];
  const period = billingPeriod({ at: now, anchorDay: limits.billingAnchorDay, timeZone: limits.timeZone });
  const startMinute = Math.ceil(period.start.getTime() / 60_000);
  const cutoffMinute = Math.max(startMinute, Math.floor((now - deps.config.QUOTA_RECONCILE_SETTLE_MS) / 60_000));
  const usage = cutoffMinute > startMinute ? await billableUsage(deps.clickhouse, { tenantId, from: period.start, to: new Date(cutoffMinute * 60_000) }) : [];

  // Key scopes with their own quota caps are counted separately.
  const keyMeters = new Map<string, Set<Meter>>();
  for (const o of await listQuotaOverrides({ pools: deps.pools }, { tenantId })) {
    if (!o.apiKeyId || !isMeter(o.meter)) continue;
    let set = keyMeters.get(o.apiKeyId);
    if (!set) keyMeters.set(o.apiKeyId, (set = new Set()));
    set.add(o.meter);
  }
  const targets: Array<{ scope: string; apiKeyId: string | null; meter: Meter; base: number }> = meters.map((meter) => ({ scope: tenantScope(tenantId), apiKeyId: null, meter, base: usageOf(usage, meter) }));
  for (const [apiKeyId, set] of keyMeters) {
    const rows = usage.filter((u) => u.apiKeyId === apiKeyId);
    for (const meter of set) targets.push({ scope: keyScope(tenantId, apiKeyId), apiKeyId, meter, base: usageOf(rows, meter) });
  }

  const keys = quotaKeys(deps.config.REDIS_PREFIX);
  const ttl = period.end.getTime() - now + 35 * 86_400_000;
  const out: Correction[] = [];
  for (const t of targets) {
    const [before, after] = ((await runScript(deps.redis, quotaReconcile, [keys.used(t.scope, t.meter, period.key)], [cutoffMinute, t.base, ttl])) as number[]).map(Number) as [number, number];
    if (before !== after) out.push({ tenantId, apiKeyId: t.apiKeyId, meter: t.meter, before, after });
  }
  return out;
}
