/**
 * Duplicate detection for usage events, before a row reaches ClickHouse (the rollup views
 * would count a second copy). Two checks, both per tenant:
 *
 * 1. Redis: one key per (tenant, event id) set with SET NX for the dedup window, holding the
 *    WAL record's uid (`walId:segment:offset`). A key already holding the *same* uid is this
 *    very record replayed after a crash (kept: it may or may not have landed, see 2); a key
 *    holding another uid is a retry of an event already billed (dropped).
 * 2. ClickHouse: the batch's event ids are looked up in `usage_events_v1` for the batch's
 *    tenants over [first event - lookback, last event]. This closes the window between the
 *    Redis mark and the insert, and covers a Redis that lost its keys.
 */
import type { Redis } from '../shared/index.js';
import { join, literal, sql, type ClickHouse, type Sql } from '../clickhouse/index.js';
import { USAGE_TABLE } from './rows.js';

export interface Candidate {
  tenantId: string;
  eventId: string;
  ts: number;
  uid: string;
}

export const MARK_NEW = 1;
export const MARK_REPLAY = 2;
export const MARK_DUPLICATE = 0;

// KEYS: dedup keys; ARGV[1]: ttl seconds; ARGV[i+1]: the uid for KEYS[i]. SET NX GET (Redis >= 7)
// sets the key when absent and returns its previous value: nil = new, our uid = replay, else duplicate.
const MARK_SCRIPT = `
local ttl = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  local uid = ARGV[i + 1]
  local old = redis.call('SET', key, uid, 'NX', 'GET', 'EX', ttl)
  if not old then
    out[i] = 1
  elseif old == uid then
    out[i] = 2
  else
    out[i] = 0
  end
end
return out
`;

const REDIS_CHUNK = 1000;
const CH_CHUNK = 10_000;

/** Marks each candidate in Redis; returns MARK_NEW / MARK_REPLAY / MARK_DUPLICATE per candidate (same order). */
export async function markInRedis(redis: Redis, keyOf: (c: Candidate) => string, candidates: readonly Candidate[], ttlSeconds: number): Promise<number[]> {
  const chunks: Promise<number[]>[] = [];
  for (let i = 0; i < candidates.length; i += REDIS_CHUNK) {
    const chunk = candidates.slice(i, i + REDIS_CHUNK);
    // Sent together (pipelined on the one connection); each script runs atomically in Redis.
    chunks.push(redis.eval(MARK_SCRIPT, chunk.length, ...chunk.map(keyOf), String(ttlSeconds), ...chunk.map((c) => c.uid)) as Promise<number[]>);
  }
  return (await Promise.all(chunks)).flat();
}

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
