/**
 * Anomaly alerts and series through the GraphQL API, on data the detector job really scored:
 * an error burst imported as usage, `runAnomalyScan`, then `alerts` (kind, metric, explanation)
 * and `anomalySeries` (value and band per hour) as admin and member; spend amounts stay hidden
 * from members (series refused, alert text without amounts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordAlert } from '../../src/alerts/index.js';
import { runAnomalyScan } from '../../src/anomaly-scan/index.js';
import { withPlatform } from '../../src/db/index.js';
import { importUsage } from '../../src/usage/index.js';
import { closeFactories, createTenant, createUser, factoryDeps } from '../factories.js';
import { HOUR, hourlyUsage } from '../anomaly-scan/usage-history.js';
import { codes, gql, mintJwt, startHarness, type Harness } from './harness.js';

let h: Harness;
let tenantId = '';
const tokens: Record<'member' | 'admin' | 'finance', string> = { member: '', admin: '', finance: '' };
const H = Math.floor(Date.now() / HOUR) * HOUR;
const burstStart = H - 30 * HOUR;
const burstEnd = burstStart + 2 * HOUR;

beforeAll(async () => {
  h = await startHarness();
  const t = await createTenant({ plan: 'starter' });
  tenantId = t.id;
  await withPlatform(factoryDeps().pools.app, (c) => c.query(`UPDATE tenant_plans SET effective_from = now() - interval '20 days' WHERE tenant_id = $1`, [tenantId]));
  const lines = [...hourlyUsage(H - 15 * 24 * HOUR, burstStart, { prefix: 'h' }), ...hourlyUsage(burstStart, burstEnd, { errors: 20, prefix: 'b' })];
  const r = await importUsage({ clickhouse: h.clickhouse, pools: factoryDeps().pools }, { tenantId, lines, knownModels: new Set(['mlp-demo']) });
  expect(r.rejected).toEqual([]);
  const scan = await runAnomalyScan({ clickhouse: h.clickhouse, pools: factoryDeps().pools }, { tenantId, until: new Date(burstEnd) });
  expect(scan.opened.map((o) => o.metric)).toEqual(['error_ratio']);
  for (const role of ['member', 'admin', 'finance'] as const) {
    const u = await createUser({ tenantId, role });
    tokens[role] = await mintJwt(h.config, { sub: u.id, tid: tenantId, role });
  }
});

afterAll(async () => {
  await h?.close();
  await closeFactories();
});

const range = { from: new Date(burstStart - 3 * HOUR).toISOString(), to: new Date(burstEnd).toISOString() };
const SERIES = 'query($m: AnomalyMetric!, $range: TimeRangeInput!) { anomalySeries(metric: $m, range: $range) { metric model points { bucket value expected lower upper score anomalous } } }';
const ALERTS = 'query { alerts(first: 10) { edges { node { kind metric model title explanation detailsJson status } } } }';

describe('anomaly alerts and series in GraphQL', () => {
  it('alerts carry kind, metric and the explanation', async () => {
    for (const token of [tokens.member, tokens.admin]) {
      const r = await gql(h.url, ALERTS, { token });
      expect(r.errors).toBeUndefined();
      const nodes = r.data.alerts.edges.map((e: { node: Record<string, string> }) => e.node);
      expect(nodes).toHaveLength(1);
      expect(nodes[0]).toMatchObject({ kind: 'anomaly', metric: 'error_ratio', model: null, status: 'open' });
      expect(nodes[0].explanation).toMatch(/^errors \d+(\.\d)? % vs expected [\d.]+ % ± [\d.]+ % (for|over) /);
      expect(JSON.parse(nodes[0].detailsJson)).toMatchObject({ explanation: nodes[0].explanation, metric: 'error_ratio' });
    }
  });

  it('anomalySeries gives value and band per scored hour', async () => {
    const r = await gql(h.url, SERIES, { token: tokens.member, variables: { m: 'ERROR_RATIO', range } });
    expect(r.errors).toBeUndefined();
    const s = r.data.anomalySeries;
    expect(s).toMatchObject({ metric: 'error_ratio', model: null });
    expect(s.points.map((p: { bucket: string }) => Date.parse(p.bucket))).toEqual([0, 1, 2, 3, 4].map((i) => burstStart - 3 * HOUR + i * HOUR));
    expect(s.points.map((p: { anomalous: boolean }) => p.anomalous)).toEqual([false, false, false, true, true]);
    for (const p of s.points) {
      expect(p.lower).toBeLessThan(p.expected);
      expect(p.upper).toBeGreaterThan(p.expected);
      expect(p.anomalous ? p.value > p.upper : p.value <= p.upper).toBe(true);
    }
    // the burst hour's value is what was imported: 20 failed of 38..42 requests
    expect(s.points[3].value).toBeCloseTo(20 / (38 + (Math.round(burstStart / HOUR) % 5)), 9);
  });

  it('spend is money: members are refused the series, admin and finance read it', async () => {
    const member = await gql(h.url, SERIES, { token: tokens.member, variables: { m: 'SPEND', range } });
    expect(codes(member)).toEqual(['FORBIDDEN']);
    for (const token of [tokens.admin, tokens.finance]) {
      const r = await gql(h.url, SERIES, { token, variables: { m: 'SPEND', range } });
      expect(r.errors).toBeUndefined();
      expect(r.data.anomalySeries.points).toHaveLength(5);
      expect(r.data.anomalySeries.points[0].value).toBeGreaterThan(0);
    }
  });

  it("a spend alert's amounts are hidden from members", async () => {
    const explanation = 'spend $1.23 vs expected $0.20 ± $0.10 over the last 12 days';
    await recordAlert(factoryDeps(), {
      tenantId,
      kind: 'anomaly',
      metric: 'spend',
      severity: 'warning',
      dedupKey: 'anomaly:spend:',
      title: explanation,
      details: { explanation, metric: 'spend', model: '', value: 1_230_000, expected: 200_000, lower: 100_000, upper: 300_000, score: 0.8 },
    });
    const pick = async (token: string) => {
      const r = await gql(h.url, ALERTS, { token });
      expect(r.errors).toBeUndefined();
      return r.data.alerts.edges.map((e: { node: Record<string, string> }) => e.node).find((n: Record<string, string>) => n.metric === 'spend');
    };
    const admin = await pick(tokens.admin);
    expect(admin).toMatchObject({ title: explanation, explanation });
    expect(JSON.parse(admin.detailsJson)).toMatchObject({ value: 1_230_000 });
    const member = await pick(tokens.member);
    for (const text of [member.title, member.explanation, member.detailsJson]) expect(text).not.toMatch(/\$|1230000|200000/);
    expect(member.explanation).toMatch(/^spend is above its expected band/);
  });

  it('refuses a range over 93 days or reversed', async () => {
    const long = await gql(h.url, SERIES, { token: tokens.admin, variables: { m: 'REQUESTS', range: { from: new Date(H - 100 * 24 * HOUR).toISOString(), to: new Date(H).toISOString() } } });
    expect(codes(long)).toEqual(['BAD_USER_INPUT']);
    const reversed = await gql(h.url, SERIES, { token: tokens.admin, variables: { m: 'REQUESTS', range: { from: range.to, to: range.from } } });
    expect(codes(reversed)).toEqual(['BAD_USER_INPUT']);
  });
});
