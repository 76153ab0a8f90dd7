/**
 * What landed in ClickHouse, for duplicate detection before a row reaches it (the rollup views
 * would count a second copy). Idempotency's delivery marks (src/idempotency) tell retries; these
 * queries tell what is already stored: the batch's event ids are looked up in `usage_events_v1`
 * for the batch's tenants over [first event - lookback, last event] (this closes the window
 * between the Redis mark and the insert, and covers a Redis that lost its keys), and after an
 * ambiguous insert failure the rows carrying the batch id.
 */
import { join, literal, sql, type ClickHouse, type Sql } from '../clickhouse/index.js';
import { USAGE_TABLE } from './rows.js';

export interface Candidate {
  tenantId: string;
  eventId: string;
  ts: number;
  uid: string;
}

const CH_CHUNK = 10_000;

function timeBounds(candidates: readonly Candidate[], lookbackMs: number): { from: number; to: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const c of candidates) {
    if (c.ts < min) min = c.ts;
    if (c.ts > max) max = c.ts;
  }
  return { from: Math.max(0, Math.floor((min - lookbackMs) / 1000)), to: Math.ceil(max / 1000) + 1 };
}

/** `(v1, v2, ...)` for an IN clause (a tuple, which every ClickHouse version accepts with the primary key). */
export function inList(values: readonly string[]): Sql {
  return sql`(${join(values.map((v) => literal(v)))})`;
}

const pairKey = (tenantId: string, eventId: string) => `${tenantId}\u0000${eventId}`;

/** (tenant, event id) pairs among `candidates` already in usage_events_v1. */
export async function existingInClickHouse(clickhouse: ClickHouse, candidates: readonly Candidate[], lookbackMs: number): Promise<Set<string>> {
  const found = new Set<string>();
  if (candidates.length === 0) return found;
  const { from, to } = timeBounds(candidates, lookbackMs);
  const tenants = [...new Set(candidates.map((c) => c.tenantId))];
  for (let i = 0; i < candidates.length; i += CH_CHUNK) {
    const ids = [...new Set(candidates.slice(i, i + CH_CHUNK).map((c) => c.eventId))];
    const rows = await clickhouse.query<{ tenant_id: string; event_id: string }>(
      sql`SELECT tenant_id, event_id FROM usage_events_v1
          WHERE tenant_id IN ${inList(tenants)} AND ts >= toDateTime(${from}) AND ts <= toDateTime(${to}) AND event_id IN ${inList(ids)}`,
      { settings: { max_query_size: '16777216' } },
    );
    for (const r of rows) found.add(pairKey(r.tenant_id, r.event_id));
  }
  return found;
}

/** (tenant, event id) pairs of `candidates` that landed with this batch id. */
export async function landedWithBatch(clickhouse: ClickHouse, batchId: string, candidates: readonly Candidate[]): Promise<Set<string>> {
  const found = new Set<string>();
  if (candidates.length === 0) return found;
  const { from, to } = timeBounds(candidates, 0);
  const tenants = [...new Set(candidates.map((c) => c.tenantId))];
  const rows = await clickhouse.query<{ tenant_id: string; event_id: string }>(
    sql`SELECT tenant_id, event_id FROM usage_events_v1
        WHERE tenant_id IN ${inList(tenants)} AND ts >= toDateTime(${from}) AND ts <= toDateTime(${to}) AND batch_id = ${batchId}`,
  );
  for (const r of rows) found.add(pairKey(r.tenant_id, r.event_id));
  return found;
}

export { pairKey, USAGE_TABLE };
