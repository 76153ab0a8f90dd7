/**
 * `tollgate simulate`: multi-tenant traffic through the real inference API, so the console,
 * Grafana, alerts and invoices have something to show. Creates N tenants (plans in rotation)
 * with an admin key each, then for the duration sends requests whose rate follows a daily and a
 * weekly curve of the wall clock (busy afternoons, quiet nights, lighter weekends), each tenant
 * with its own weight, spread over the demo models and a `team` tag. With `anomalies`, the
 * first tenant's traffic jumps fivefold in the middle third of the run and a third of its
 * requests there are malformed (errors), which the anomaly job can flag.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Config } from '../src/config/index.js';
import { createPgPools } from '../src/db/index.js';
import { createTenant } from '../src/tenants/index.js';
import { createApiKey } from '../src/keys/index.js';
import { prng } from '../src/shared/index.js';
import type { Actor } from '../src/audit/index.js';

export interface SimulateOptions {
  config: Config;
  tenants: number;
  durationMs: number;
  /** Peak requests per second per tenant (before its weight). */
  peakRps: number;
  anomalies: boolean;
  inferenceUrl: string;
  models: string[];
  actor: Actor;
  /** History before now through the platform usage import (tenants are backdated to its start). */
  backfill?: { spanMs: number; peakPerHour: number; import: BackfillImport } | null;
  /** Called about once a second with progress (the CLI draws a bar on a TTY). */
  onTick?: (p: { elapsedMs: number; sent: number; ok: number; failed: number }) => void;
  now?: () => number;
}

export interface SimulatedTenant {
  id: string;
  name: string;
  plan: string;
  key: string;
  sent: number;
  ok: number;
  failed: number;
}

/** Imports one tenant's generated history (the CLI passes src/usage importUsage with its deps). */
export type BackfillImport = (q: { tenantId: string; lines: Iterable<string>; knownModels: ReadonlySet<string> }) => Promise<{ imported: number; duplicates: number; rejected: Array<{ line: number; error: string }> }>;

export interface SimulateReport {
  durationMs: number;
  backfill: { from: string; to: string; imported: number } | null;
  sent: number;
  ok: number;
  /** Non-200 answers by status code. */
  byStatus: Record<string, number>;
  anomalies: { tenant: string; fromMs: number; toMs: number } | null;
  tenants: SimulatedTenant[];
}

const PLANS = ['starter', 'pro', 'enterprise', 'free'];
const TEAMS = ['search', 'ads', 'support', 'research'];

/** Relative load at a moment: daily curve (peak ~15:00 UTC, trough ~03:00) × weekday factor. */
export function seasonality(t: number): number {
  const d = new Date(t);
  const hour = d.getUTCHours() + d.getUTCMinutes() / 60;
  const daily = 0.3 + 0.7 * (0.5 + 0.5 * Math.cos(((hour - 15) / 24) * 2 * Math.PI));
  const weekly = d.getUTCDay() === 0 || d.getUTCDay() === 6 ? 0.55 : 1;
  return daily * weekly;
}

/** Poisson sample (Knuth; small means only). */
function poisson(mean: number, rnd: () => number): number {
  const limit = Math.exp(-Math.min(mean, 50));
  let k = 0;
  let p = 1;
  do {
    k++;
    p *= rnd();
  } while (p > limit);
  return k - 1;
}

/** A request for the demo models' [n, 64] FP32 input; a malformed one has 63 columns (400 bad input). */
function body(good: boolean, items: number, team: string): string {
  const shape = good ? [items, 64] : [items, 63];
  const data = Array.from({ length: shape[0]! * shape[1]! }, () => Math.random() * 2 - 1);
  return JSON.stringify({ inputs: [{ name: 'input', shape, datatype: 'FP32', data }], parameters: { 'tag.team': team } });
}

export async function createSimTenants(config: Config, n: number, actor: Actor, billingStart?: Date): Promise<SimulatedTenant[]> {
  const pools = createPgPools(config, { applicationName: 'tollgate-simulate' });
  const run = randomBytes(3).toString('hex');
  try {
    const out: SimulatedTenant[] = [];
    for (let i = 0; i < n; i++) {
      const plan = PLANS[i % PLANS.length]!;
      const t = await createTenant({ pools }, { name: `sim-${run}-${i + 1}`, displayName: `Simulated tenant ${i + 1}`, plan, actor, billingStart: billingStart?.toISOString() });
      const k = await createApiKey({ pools, config }, { tenantId: t.id, name: 'simulate', role: 'admin', actor });
      out.push({ id: t.id, name: t.name, plan, key: k.secret, sent: 0, ok: 0, failed: 0 });
    }
    return out;
  } finally {
    await pools.close();
  }
}

export async function simulate(opts: SimulateOptions): Promise<SimulateReport> {
  const now = opts.now ?? Date.now;
  const hour = 3_600_000;
  const backfillTo = Math.floor(now() / hour) * hour;
  const backfillFrom = opts.backfill ? Math.floor((backfillTo - opts.backfill.spanMs) / 86_400_000) * 86_400_000 : null;
  const tenants = await createSimTenants(opts.config, opts.tenants, opts.actor, backfillFrom === null ? undefined : new Date(backfillFrom));
  const weights = tenants.map((_, i) => 1 / (1 + i * 0.6)); // a few big tenants, a long tail
  let backfill: SimulateReport['backfill'] = null;
  if (opts.backfill && backfillFrom !== null) {
    let imported = 0;
    for (const [i, t] of tenants.entries()) {
      // The anomaly in history: the first tenant, three hours two days ago (if the span reaches back so far).
      const spike = opts.anomalies && i === 0 && backfillTo - 2 * 86_400_000 >= backfillFrom ? { from: backfillTo - 2 * 86_400_000, to: backfillTo - 2 * 86_400_000 + 3 * hour } : null;
      const lines = [...historyLines({ tenant: t.name, fromMs: backfillFrom, toMs: backfillTo, peakPerHour: opts.backfill.peakPerHour * weights[i]!, models: opts.models, spike })];
      const r = await opts.backfill.import({ tenantId: t.id, lines, knownModels: new Set(opts.models) });
      if (r.rejected.length) throw new Error(`usage import refused the generated history of ${t.name}: line ${r.rejected[0]!.line}: ${r.rejected[0]!.error}`);
      imported += r.imported;
    }
    backfill = { from: new Date(backfillFrom).toISOString(), to: new Date(backfillTo).toISOString(), imported };
  }
  const byStatus: Record<string, number> = {};
  const started = now();
  const anomaly = opts.anomalies && tenants[0] ? { tenant: tenants[0].name, fromMs: Math.floor(opts.durationMs / 3), toMs: Math.floor((2 * opts.durationMs) / 3) } : null;
  const inflight = new Set<Promise<void>>();
  let sent = 0;
  let ok = 0;
  const send = (t: SimulatedTenant, good: boolean) => {
    const model = opts.models[Math.floor(Math.random() * opts.models.length)]!;
    const items = 1 + Math.floor(Math.random() * 4);
    const team = TEAMS[Math.floor(Math.random() * TEAMS.length)]!;
    const url = `${opts.inferenceUrl}/v2/models/${encodeURIComponent(model)}/infer`;
    sent++;
    t.sent++;
    const p = fetch(url, { method: 'POST', headers: { authorization: `Bearer ${t.key}`, 'content-type': 'application/json' }, body: body(good, items, team), signal: AbortSignal.timeout(30_000) })
      .then(async (res) => {
        await res.arrayBuffer();
        if (res.status === 200) {
          ok++;
          t.ok++;
        } else {
          t.failed++;
          byStatus[res.status] = (byStatus[res.status] ?? 0) + 1;
        }
      })
      .catch(() => {
        t.failed++;
        byStatus.network = (byStatus.network ?? 0) + 1;
      })
      .finally(() => inflight.delete(p));
    inflight.add(p);
  };
  const tickMs = 250;
  while (now() - started < opts.durationMs) {
    const elapsed = now() - started;
    const season = seasonality(now());
    tenants.forEach((t, i) => {
      const inAnomaly = anomaly !== null && i === 0 && elapsed >= anomaly.fromMs && elapsed < anomaly.toMs;
      const mean = opts.peakRps * weights[i]! * season * (inAnomaly ? 5 : 1) * (tickMs / 1000);
      const count = poisson(mean, Math.random);
      for (let k = 0; k < count && inflight.size < 256; k++) send(t, !(inAnomaly && Math.random() < 0.33));
    });
    opts.onTick?.({ elapsedMs: elapsed, sent, ok, failed: sent - ok - inflight.size });
    await new Promise((r) => setTimeout(r, tickMs));
  }
  await Promise.all([...inflight]);
  opts.onTick?.({ elapsedMs: opts.durationMs, sent, ok, failed: sent - ok });
  return { durationMs: now() - started, backfill, sent, ok, byStatus, anomalies: anomaly, tenants };
}

/** A standard normal sample (Box-Muller). */
function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/**
 * One tenant's history as usage-import lines (one request a line): per hour a count around
 * peakPerHour × seasonality, served requests with items and compute time, ~1 % errors; inside
 * `spike` five times the traffic with a third of it failing. With a `seed`, an hour's lines
 * depend only on the seed and the hour, so importing them again adds nothing (duplicate ids).
 */
export function* historyLines(q: {
  tenant: string;
  fromMs: number;
  toMs: number;
  peakPerHour: number;
  models: string[];
  spike: { from: number; to: number } | null;
  /** Seeds each hour's generator (prng(seed, hour)); without it, Math.random. */
  seed?: number;
}): Generator<string> {
  for (let h = q.fromMs; h < q.toMs; h += 3_600_000) {
    const random = q.seed === undefined ? Math.random : prng((q.seed ^ Math.floor(h / 3_600_000)) >>> 0);
    const inSpike = q.spike !== null && h >= q.spike.from && h < q.spike.to;
    const mean = q.peakPerHour * seasonality(h) * (inSpike ? 5 : 1);
    const n = Math.max(0, Math.round(mean + Math.sqrt(mean) * gaussian(random)));
    for (let k = 0; k < n; k++) {
      const failed = random() < (inSpike ? 0.33 : 0.01);
      const items = 1 + Math.floor(random() * 4);
      yield JSON.stringify({
        id: `sim:${q.tenant}:${h}:${k}`,
        ts: new Date(h + Math.floor(random() * 3_600_000)).toISOString(),
        model: q.models[k % q.models.length],
        items,
        computeMs: failed ? 0 : Math.round((1 + items * (1.5 + random())) * 100) / 100,
        status: failed ? 'client_error' : 'ok',
        tags: { team: TEAMS[k % TEAMS.length] },
      });
    }
  }
}

export interface SeedHistoryReport {
  from: string;
  to: string;
  imported: number;
  duplicates: number;
  /** When the history was cut short by the tenant's first plan (usage before it cannot be billed). */
  clampedToFirstPlan: boolean;
  anomaly: { from: string; to: string } | null;
}

/**
 * Imports generated history (historyLines) for an existing tenant: whole hours from `spanMs`
 * back (but not before its first plan) up to the last full hour. Seeded by the tenant id, so
 * running it again imports nothing new for hours already seeded. With `anomaly`, three hours
 * two days back carry five times the traffic with a third of it failing.
 */
export async function seedHistory(q: {
  tenantId: string;
  firstPlanMs: number;
  nowMs: number;
  spanMs: number;
  peakPerHour: number;
  models: string[];
  anomaly: boolean;
  import: BackfillImport;
}): Promise<SeedHistoryReport> {
  const hour = 3_600_000;
  const to = Math.floor(q.nowMs / hour) * hour;
  const wanted = to - Math.ceil(q.spanMs / hour) * hour;
  const from = Math.max(wanted, Math.ceil(q.firstPlanMs / hour) * hour);
  const spikeFrom = to - 2 * 86_400_000;
  const spike = q.anomaly && spikeFrom >= from ? { from: spikeFrom, to: spikeFrom + 3 * hour } : null;
  const seed = createHash('sha256').update(q.tenantId).digest().readUInt32LE(0);
  const r = from >= to ? { imported: 0, duplicates: 0, rejected: [] } : await q.import({ tenantId: q.tenantId, lines: historyLines({ tenant: q.tenantId, fromMs: from, toMs: to, peakPerHour: q.peakPerHour, models: q.models, spike, seed }), knownModels: new Set(q.models) });
  if (r.rejected.length) throw new Error(`usage import refused the generated history: line ${r.rejected[0]!.line}: ${r.rejected[0]!.error}`);
  return {
    from: new Date(from).toISOString(),
    to: new Date(Math.max(from, to)).toISOString(),
    imported: r.imported,
    duplicates: r.duplicates,
    clampedToFirstPlan: from > wanted,
    anomaly: spike && { from: new Date(spike.from).toISOString(), to: new Date(spike.to).toISOString() },
  };
}

/** "90s", "5m", "2h", "1d" → milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) throw new Error(`not a duration: ${JSON.stringify(text)} (use e.g. 30s, 5m, 2h, 1d)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms'];
  return Math.round(Number(m[1]) * unit);
}
