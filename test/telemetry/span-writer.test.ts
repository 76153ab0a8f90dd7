/**
 * The span writer against the real ClickHouse (review finding 3): a row ClickHouse refuses for
 * its content (a lone surrogate reaching the writer past the converter) is isolated by splitting
 * the batch and dropped, counted in stats; the other rows of the batch and later rows land.
 * A transport failure (ClickHouse unreachable through a cut proxy; on the embedded engine a cut client) is retried, nothing dropped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes, randomUUID } from 'node:crypto';
import { createClickHouse, sql, type ClickHouse } from '../../src/clickhouse/index.js';
import { createLogger } from '../../src/shared/index.js';
import { loadConfig } from '../../src/config/index.js';
import { createSpanWriter, type OtelSpanRow, type SpanWriter } from '../../src/telemetry/index.js';
import { spansToRows } from '../../otlp/src/index.js';
import { startCuttableClickHouse } from '../usage/helpers.js';

const logger = createLogger({ level: 'silent' });
let ch: ClickHouse;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(() => {
  ch = createClickHouse(loadConfig());
  cleanups.push(() => ch.close());
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

function rows(tenantId: string, names: string[]): OtelSpanRow[] {
  const now = BigInt(Date.now()) * 1_000_000n;
  const spans = names.map((name) => ({
    traceId: randomBytes(16).toString('hex'),
    spanId: randomBytes(8).toString('hex'),
    name,
    kind: 1,
    startTimeUnixNano: String(now),
    endTimeUnixNano: String(now + 1000n),
  }));
  const result = spansToRows(
    { resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ scope: { name: 't' }, spans }] }] },
    { kind: 'tenant', tenantId, keyId: randomUUID() },
    { maxAttributes: 128 },
  );
  expect(result.rejected).toBe(0);
  return result.rows;
}

function writer(clickhouse: ClickHouse): SpanWriter {
  const w = createSpanWriter({ clickhouse, logger, config: { OTLP_MAX_BUFFERED_SPANS: 10_000, OTLP_FLUSH_INTERVAL_MS: 50, OTLP_FLUSH_MAX_ROWS: 1_000 } });
  cleanups.push(() => w.close());
  return w;
}

async function names(tenantId: string): Promise<string[]> {
  const r = await ch.query<{ SpanName: string }>(
    sql`SELECT SpanName FROM otel_traces_v1 WHERE TenantId = ${tenantId} AND Timestamp >= now() - 3600 AND Timestamp <= now() + 3600 ORDER BY SpanName`,
  );
  return r.map((x) => x.SpanName);
}

describe('span writer', () => {
  it('drops only the rows ClickHouse rejects for their content, and keeps writing', async () => {
    const tenantId = randomUUID();
    const w = writer(ch);
    const batch = rows(tenantId, Array.from({ length: 20 }, (_, i) => `good-${String(i).padStart(2, '0')}`));
    const poisoned = { ...batch[7]!, SpanName: 'bad-\ud800', SpanId: randomBytes(8).toString('hex') }; // bypasses the converter
    expect(w.offer([...batch.slice(0, 7), poisoned, ...batch.slice(7)])).toBe(true);
    await w.flush();
    expect(w.stats().droppedRows).toBe(1);
    expect(w.stats().buffered).toBe(0);
    expect(w.offer(rows(tenantId, ['later']))).toBe(true);
    await w.flush();
    const expected = [...batch.map((r) => r.SpanName), 'later'].sort();
    expect(await names(tenantId)).toEqual(expected);
    expect(w.stats().droppedRows).toBe(1);
  });

  it('retries a transport failure until ClickHouse is back, dropping nothing', async () => {
    const tenantId = randomUUID();
    const config = loadConfig();
    const proxy = await startCuttableClickHouse(config);
    cleanups.push(() => proxy.close());
    const viaProxy = proxy.client(config);
    cleanups.push(() => viaProxy.close());
    const w = writer(viaProxy);
    proxy.setMode('down');
    expect(w.offer(rows(tenantId, ['a', 'b', 'c']))).toBe(true);
    const flushed = w.flush();
    const end = Date.now() + 20_000;
    while (w.stats().failedInserts < 2) {
      if (Date.now() > end) throw new Error('no failed insert seen');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(w.stats().droppedRows).toBe(0);
    proxy.setMode('pass');
    await flushed;
    expect(await names(tenantId)).toEqual(['a', 'b', 'c']);
    expect(w.stats().droppedRows).toBe(0);
  });
});
