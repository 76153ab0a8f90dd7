/**
 * Span start times outside [now - 7 d, now + 1 d] are rejected through OTLP partial success
 * (review finding 3): each day is a partition of otel_traces_v1, and a batch touching more than
 * 100 partitions is refused whole by current ClickHouse. A span from 1970 or 2100 is not stored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { sql, type ClickHouse } from '../../src/clickhouse/index.js';
import type { OtlpReceiver } from '../../otlp/src/index.js';
import { createTenantWithKey } from '../factories.js';
import { startTestReceiver, type TestReceiver } from './receiver.js';

let t: TestReceiver;
let receiver: OtlpReceiver;
let url: string;
let ch: ClickHouse;

beforeAll(async () => {
  t = await startTestReceiver();
  ({ receiver, url, ch } = t);
});

afterAll(() => t?.close());

const DAY_NS = 86_400_000_000_000n;

describe('OTLP span start-time window', () => {
  it('rejects spans from 1970, 2100, 8 days ago and 2 days ahead via partial success; stores the others', async () => {
    const { tenant, key } = await createTenantWithKey();
    const now = BigInt(Date.now()) * 1_000_000n;
    const starts: Record<string, bigint> = {
      epoch: 1_000_000_000n, // 1970-01-01T00:00:01Z
      y2100: 4_102_444_800n * 1_000_000_000n,
      old: now - 8n * DAY_NS,
      ahead: now + 2n * DAY_NS,
      sixDaysAgo: now - 6n * DAY_NS,
      recent: now,
      soon: now + DAY_NS / 2n,
    };
    const traceIds = Object.fromEntries(Object.keys(starts).map((k) => [k, randomBytes(16).toString('hex')]));
    const spans = Object.entries(starts).map(([name, start]) => ({
      traceId: traceIds[name],
      spanId: randomBytes(8).toString('hex'),
      name,
      kind: 2,
      startTimeUnixNano: String(start),
      endTimeUnixNano: String(start + 1000n),
    }));
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key.secret}` },
      body: JSON.stringify({ resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ scope: { name: 'w' }, spans }] }] }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { partialSuccess?: { rejectedSpans: string; errorMessage: string } };
    expect(body.partialSuccess?.rejectedSpans).toBe('4');
    expect(body.partialSuccess?.errorMessage).toMatch(/outside the accepted window/);
    await receiver.flush();
    const rows = await ch.query<{ SpanName: string }>(
      sql`SELECT SpanName FROM otel_traces_v1 WHERE TenantId = ${tenant.id} AND Timestamp >= toDateTime(0) AND has(${Object.values(traceIds)}, TraceId) ORDER BY SpanName`,
    );
    expect(rows.map((r) => r.SpanName)).toEqual(['recent', 'sixDaysAgo', 'soon']);
  });
});
