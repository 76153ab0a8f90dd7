/**
 * Billable usage from ClickHouse, for cost attribution and invoices alike. Whole hours of a range
 * come from the hourly rollup; the partial hours at its edges (a plan change at 14:23, a period
 * ending at a half-hour time-zone midnight) from the raw events by `ts_ms`, with the same sums the
 * rollups' materialized views compute — so the two always add up to the raw rows. Every query
 * names the tenant and the time range (both lead the sort keys) and binds values only through `sql`.
 */
import { z } from 'zod';
import { sql, type ClickHouse, type Sql } from '../clickhouse/index.js';

/** How usage is sliced: by model, API key, tag value, UTC day, or not at all (one '' slice). */
export type CostGroupBy = 'MODEL' | 'API_KEY' | 'TAG' | 'DAY' | 'NONE';

/** Billable sums of one slice on one device: successful requests and their items, compute as billed. */
export interface CostRow {
  key: string;
  device: string;
  requests: bigint;
  items: bigint;
  compute_us: bigint;
}

/** The most rows one read returns (slices × devices). */
export const MAX_COST_ROWS = 50_000;
const HOUR_MS = 3_600_000;

const u64 = z.union([z.string(), z.number()]).transform((v) => BigInt(v));
const costRowSchema = z.object({ key: z.string(), device: z.string(), requests: u64, items: u64, compute_us: u64 });

const big = (v: unknown) => BigInt(v as string | number);
function costRow(r: Record<string, unknown>): CostRow {
  return { key: r.key as string, device: r.device as string, requests: big(r.requests), items: big(r.items), compute_us: big(r.compute_us) };
}

async function rows(ch: ClickHouse, query: Sql): Promise<CostRow[]> {
  const raw = await ch.query<Record<string, unknown>>(query);
  // Columns and types come from our own SQL: one row proves the contract (per-row zod was costly).
  if (raw.length > 0) costRowSchema.parse(raw[0]);
  return raw.map(costRow);
}

// Rollup sums and the raw-event sums that the views compute for the same columns.
const ROLLUP_SUMS = sql`sum(ok_requests) AS requests, sum(ok_items) AS items, sum(billed_compute_us) AS compute_us`;
const RAW_SUMS = sql`countIf(status = 'ok') AS requests, sum(ok_items) AS items, sum(billed_compute_us) AS compute_us`;

const rollupKey: Record<Exclude<CostGroupBy, 'TAG'>, Sql> = {
  MODEL: sql`model`,
  API_KEY: sql`api_key_id`,
  DAY: sql`toString(toDate(bucket))`,
  NONE: sql`''`,
};
const rawKey: Record<Exclude<CostGroupBy, 'TAG'>, Sql> = {
  MODEL: sql`model`,
  API_KEY: sql`api_key_id`,
  DAY: sql`toString(toDate(ts))`,
  NONE: sql`''`,
};

interface Piece {
  from: Date;
  to: Date;
  /** true: whole hours, read from the hourly rollup; false: read the raw events by ts_ms. */
  hourly: boolean;
}

/** [from, to) as at most three pieces: a raw head, whole hours, a raw tail. */
export function splitAtHours(from: Date, to: Date): Piece[] {
  const a = from.getTime();
  const b = to.getTime();
  if (!(b > a)) return [];
  const firstHour = Math.ceil(a / HOUR_MS) * HOUR_MS;
  const lastHour = Math.floor(b / HOUR_MS) * HOUR_MS;
  if (firstHour >= lastHour) return [{ from, to, hourly: false }];
  const out: Piece[] = [];
  if (a < firstHour) out.push({ from, to: new Date(firstHour), hourly: false });
  out.push({ from: new Date(firstHour), to: new Date(lastHour), hourly: true });
  if (lastHour < b) out.push({ from: new Date(lastHour), to, hourly: false });
  return out;
}

/** The raw-event time filter: `ts` (second, in the sort key) prunes, `ts_ms` decides. */
function rawWhere(p: Piece): Sql {
  const fromSecond = new Date(Math.floor(p.from.getTime() / 1000) * 1000);
  return sql`ts >= ${fromSecond} AND ts <= ${p.to} AND ts_ms >= ${p.from.getTime()} AND ts_ms < ${p.to.getTime()}`;
}

function untaggedQuery(tenant: Sql, p: Piece, groupBy: Exclude<CostGroupBy, 'TAG'>): Sql {
  if (p.hourly) {
    return sql`SELECT ${rollupKey[groupBy]} AS key, device, ${ROLLUP_SUMS} FROM usage_hourly_v1
      WHERE ${tenant} AND bucket >= ${p.from} AND bucket < ${p.to}
      GROUP BY key, device ORDER BY key, device LIMIT ${MAX_COST_ROWS}`;
  }
  return sql`SELECT ${rawKey[groupBy]} AS key, device, ${RAW_SUMS} FROM usage_events_v1
    WHERE ${tenant} AND ${rawWhere(p)}
    GROUP BY key, device ORDER BY key, device LIMIT ${MAX_COST_ROWS}`;
}

function taggedQuery(tenantId: string, p: Piece, tagKey: string): Sql {
  if (p.hourly) {
    return sql`SELECT tag_value AS key, device, ${ROLLUP_SUMS} FROM usage_tags_hourly_v1
      WHERE tenant_id = ${tenantId} AND bucket >= ${p.from} AND bucket < ${p.to} AND tag_key = ${tagKey}
      GROUP BY key, device ORDER BY key, device LIMIT ${MAX_COST_ROWS}`;
  }
  // As the tag view: one row per tag of each event (ARRAY JOIN over the index).
  return sql`SELECT tag_values[tag_index] AS key, device, ${RAW_SUMS} FROM usage_events_v1
    ARRAY JOIN arrayEnumerate(tag_keys) AS tag_index
    WHERE tenant_id = ${tenantId} AND ${rawWhere(p)} AND tag_keys[tag_index] = ${tagKey}
    GROUP BY key, device ORDER BY key, device LIMIT ${MAX_COST_ROWS}`;
}

/** Rows with equal (key, device) summed into one. */
export function mergeCostRows(input: readonly CostRow[]): CostRow[] {
  const out = new Map<string, CostRow>();
  for (const r of input) {
    const id = `${r.key}\u0000${r.device}`;
    const cur = out.get(id);
    if (!cur) out.set(id, { ...r });
    else {
      cur.requests += r.requests;
      cur.items += r.items;
      cur.compute_us += r.compute_us;
    }
  }
  return [...out.values()];
}

function max0(v: bigint): bigint {
  return v > 0n ? v : 0n;
}

/** Billable sums per (slice, device) for one tenant over [from, to), exact at any boundary. */
export async function billableRows(ch: ClickHouse, q: { tenantId: string; from: Date; to: Date; groupBy: CostGroupBy; tagKey?: string | null }): Promise<CostRow[]> {
  const pieces = splitAtHours(q.from, q.to);
  const tenant = sql`tenant_id = ${q.tenantId}`;
  if (q.groupBy !== 'TAG') {
    const parts = await Promise.all(pieces.map((p) => rows(ch, untaggedQuery(tenant, p, q.groupBy as Exclude<CostGroupBy, 'TAG'>))));
    return mergeCostRows(parts.flat());
  }
  const tagKey = q.tagKey ?? '';
  const [tagged, totals] = await Promise.all([
    Promise.all(pieces.map((p) => rows(ch, taggedQuery(q.tenantId, p, tagKey)))).then((r) => mergeCostRows(r.flat())),
    Promise.all(pieces.map((p) => rows(ch, untaggedQuery(tenant, p, 'NONE')))).then((r) => mergeCostRows(r.flat())),
  ]);
  // Events without this tag form the '' slice, so slices still add up to the tenant's total.
  const untagged = new Map(totals.map((t) => [t.device, { ...t }]));
  for (const r of tagged) {
    const rest = untagged.get(r.device);
    if (!rest) continue;
    rest.requests = max0(rest.requests - r.requests);
    rest.items = max0(rest.items - r.items);
    rest.compute_us = max0(rest.compute_us - r.compute_us);
  }
  const remainder = [...untagged.values()].filter((r) => r.requests > 0n || r.items > 0n || r.compute_us > 0n);
  return mergeCostRows([...tagged, ...remainder.map((r) => ({ ...r, key: '' }))]);
}

/** Billable sums per (tenant, device) for many tenants over [from, to); key = tenant id. */
export async function billableRowsByTenant(ch: ClickHouse, q: { tenantIds: readonly string[]; from: Date; to: Date }): Promise<CostRow[]> {
  if (q.tenantIds.length === 0) return [];
  const tenant = sql`tenant_id IN (SELECT arrayJoin(${q.tenantIds}))`;
  const parts = await Promise.all(
    splitAtHours(q.from, q.to).map((p) =>
      rows(
        ch,
        p.hourly
          ? sql`SELECT tenant_id AS key, device, ${ROLLUP_SUMS} FROM usage_hourly_v1 WHERE ${tenant} AND bucket >= ${p.from} AND bucket < ${p.to}
              GROUP BY key, device ORDER BY key, device LIMIT ${MAX_COST_ROWS}`
          : sql`SELECT tenant_id AS key, device, ${RAW_SUMS} FROM usage_events_v1 WHERE ${tenant} AND ${rawWhere(p)}
              GROUP BY key, device ORDER BY key, device LIMIT ${MAX_COST_ROWS}`,
      ),
    ),
  );
  return mergeCostRows(parts.flat());
}
