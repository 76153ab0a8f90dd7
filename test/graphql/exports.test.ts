/**
 * GET /exports/usage.csv: the caller's own tenant's raw usage as streamed RFC 4180 CSV, behind
 * the API's gate (roles, tenant scope, bad input), one export per tenant at a time, and a
 * million rows streamed in bounded memory.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../src/clickhouse/index.js';
import { USAGE_EXPORT_COLUMNS } from '../../src/usage/index.js';
import { closeFactories, createTenant, createUser } from '../factories.js';
import { parseCsv } from '../helpers/csv.js';
import { insertEvents } from './data.js';
import { mintJwt, startHarness, type Harness } from './harness.js';

const HOUR = 3_600_000;
let h: Harness;
let base = '';

beforeAll(async () => {
  h = await startHarness();
  base = h.url.replace(/\/graphql$/, '');
});
afterAll(async () => {
  await h?.close();
  await closeFactories();
});

async function tokenFor(tenantId: string | null, role: 'admin' | 'finance' | 'member' | 'platform'): Promise<string> {
  const u = await createUser(tenantId ? { tenantId, role } : {});
  return mintJwt(h.config, { sub: u.id, tid: tenantId, role });
}

function exportUrl(params: Record<string, string>): string {
  return `${base}/exports/usage.csv?${new URLSearchParams(params)}`;
}

const H0 = Math.floor(Date.now() / HOUR) * HOUR - 6 * HOUR;
const range = { from: new Date(H0).toISOString(), to: new Date(H0 + 2 * HOUR).toISOString() };

describe('GET /exports/usage.csv', () => {
  let a = '';
  let b = '';
  beforeAll(async () => {
    a = (await createTenant()).id;
    b = (await createTenant()).id;
    await insertEvents(h.clickhouse, [
      { tenantId: a, model: 'm1', ts: new Date(H0 + 1000), items: 3, tags: { team: '\t=1+1' }, requestId: 'r-1' },
      { tenantId: a, model: 'm2', ts: new Date(H0 + HOUR + 5), items: 2, status: 'error', computeUs: 777, requestId: 'r-2' },
      { tenantId: a, model: 'm1', ts: new Date(H0 + 2 * HOUR), requestId: 'r-outside' }, // `to` is exclusive
      { tenantId: b, model: 'm1', ts: new Date(H0 + 2000), requestId: 'r-b' },
    ]);
  });

  it("finance gets its own tenant's rows in time order with the documented columns", async () => {
    const res = await fetch(exportUrl(range), { headers: { authorization: `Bearer ${await tokenFor(a, 'finance')}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="usage-.*\.csv"$/);
    const rows = parseCsv(await res.text());
    expect(rows[0]).toEqual([...USAGE_EXPORT_COLUMNS]);
    const col = (name: string) => USAGE_EXPORT_COLUMNS.indexOf(name as (typeof USAGE_EXPORT_COLUMNS)[number]);
    const body = rows.slice(1);
    expect(body.map((r) => r[col('request_id')])).toEqual(['r-1', 'r-2']);
    expect(body.every((r) => r[col('tenant_id')] === a)).toBe(true);
    expect(body[0]![col('ts')]).toBe(new Date(H0 + 1000).toISOString());
    expect(body[0]![col('items')]).toBe('3');
    expect(JSON.parse(body[0]![col('tags')]!)).toEqual({ team: '\t=1+1' });
    expect(body[1]).toEqual(expect.arrayContaining(['m2', 'error', '500', '777']));
  });

  it('platform exports one tenant or all; admins too; members, no credentials and other tenants are refused', async () => {
    const platform = await tokenFor(null, 'platform');
    const all = parseCsv(await (await fetch(exportUrl(range), { headers: { authorization: `Bearer ${platform}` } })).text());
    const ids = new Set(all.slice(1).map((r) => r[1]));
    expect(ids.has('r-1') && ids.has('r-b')).toBe(true);
    const onlyB = parseCsv(await (await fetch(exportUrl({ ...range, tenantId: b }), { headers: { authorization: `Bearer ${platform}` } })).text());
    expect(onlyB.slice(1).map((r) => r[1])).toEqual(['r-b']);
    expect((await fetch(exportUrl(range), { headers: { authorization: `Bearer ${await tokenFor(a, 'admin')}` } })).status).toBe(200);

    const member = await fetch(exportUrl(range), { headers: { authorization: `Bearer ${await tokenFor(a, 'member')}` } });
    expect(member.status).toBe(403);
    expect(await member.json()).toMatchObject({ error: { code: 'FORBIDDEN' } });
    expect((await fetch(exportUrl(range))).status).toBe(401);
    expect((await fetch(exportUrl(range), { headers: { authorization: 'Bearer tg_not-a-key' } })).status).toBe(401);
    const other = await fetch(exportUrl({ ...range, tenantId: b }), { headers: { authorization: `Bearer ${await tokenFor(a, 'finance')}` } });
    expect(other.status).toBe(404);
  });

  it('bad ranges are 400 with a clear message', async () => {
    const auth = { authorization: `Bearer ${await tokenFor(a, 'finance')}` };
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ to: range.to }, /from must be an ISO-8601/],
      [{ from: '2026-11-01', to: range.to }, /from must be an ISO-8601 date-time with a time zone/],
      [{ from: range.to, to: range.from }, /to must be after from/],
      [{ from: '2020-01-01T00:00:00Z', to: '2026-01-01T00:00:00Z' }, /more than 366 days/],
    ];
    for (const [params, message] of cases) {
      const res = await fetch(exportUrl(params), { headers: auth });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('BAD_USER_INPUT');
      expect(body.error.message).toMatch(message);
    }
  });

  it('streams a million rows in bounded memory, and one export per tenant runs at a time', async () => {
    const big = (await createTenant()).id;
    const n = 1_000_000;
    const t0 = H0 + 10 * 60_000;
    await h.clickhouse.exec(sql`
      INSERT INTO usage_events_v1 (event_id, batch_id, tenant_id, api_key_id, request_id, model, model_version, ts, ts_ms, status, http_status, items,
                                   input_bytes, output_bytes, queue_us, compute_us, billed_compute_us, batch_size, device, tag_keys, tag_values, trace_id)
      SELECT concat('e-', toString(number)), 'bulk', ${big}, '', concat('q-', toString(number)), 'm1', '1',
             toDateTime(intDiv(${t0} + number, 1000)), ${t0} + number, 'ok', 200, 1, 100, 10, 5, 1000, 1000, 1, 'cpu', [], [], ''
      FROM numbers(${n})`);
    const auth = { authorization: `Bearer ${await tokenFor(big, 'finance')}` };
    const res = await fetch(exportUrl(range), { headers: auth });
    expect(res.status).toBe(200);
    // While this one streams, a second export of the same tenant is refused.
    const second = await fetch(exportUrl(range), { headers: auth });
    expect(second.status).toBe(429);
    expect(second.headers.get('retry-after')).toBe('5');
    await second.arrayBuffer();

    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;
    let lines = 0;
    let bytes = 0;
    const decoder = new TextDecoder();
    let tail = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      bytes += chunk.length;
      const text = tail + decoder.decode(chunk, { stream: true });
      const last = text.lastIndexOf('\n');
      for (let i = text.indexOf('\n'); i !== -1 && i <= last; i = text.indexOf('\n', i + 1)) lines++;
      tail = text.slice(last + 1);
      if ((lines & 0xffff) < 64) peak = Math.max(peak, process.memoryUsage().rss);
    }
    expect(lines).toBe(n + 1); // header + one line per row
    expect(bytes).toBeGreaterThan(100 * n); // the whole export passed through ...
    // ... while the process (server and client in one) grew by less than the export's size: buffering
    // it would hold the whole text plus a row object per line (well over 1 GB here). The margin is
    // the garbage collector's lag, not data held.
    expect(peak - rssBefore).toBeLessThan(Math.min(bytes * 0.8, 256 * 1024 * 1024));
    // Finished: the tenant may export again.
    const again = await fetch(exportUrl({ from: range.from, to: new Date(H0 + 60_000).toISOString() }), { headers: auth });
    expect(again.status).toBe(200);
    await again.arrayBuffer();
  }, 400_000);
});
