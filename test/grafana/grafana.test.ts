/**
 * Grafana provisioning is only useful if its SQL runs on the ClickHouse we ship for. This
 * expands the plugin's macros the way Grafana does and runs every dashboard panel, template
 * variable and alert-rule query against the real server, over usage rows we insert.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { createClient } from '@clickhouse/client';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { createClickHouse, createEmbeddedConnection, isEmbeddedUrl } from '../../src/clickhouse/index.js';

const root = path.resolve(import.meta.dirname, '../..');
const grafana = path.join(root, 'grafana');
const DATASOURCE_UID = 'tollgate-clickhouse';

interface Query { where: string; rawSql: string }

function dashboards(): Array<{ file: string; json: any }> {
  const dir = path.join(grafana, 'dashboards');
  return readdirSync(dir).filter((f) => f.endsWith('.json')).map((file) => ({ file, json: JSON.parse(readFileSync(path.join(dir, file), 'utf8')) }));
}

function alertRules(): any[] {
  const doc = parse(readFileSync(path.join(grafana, 'provisioning/alerting/tollgate-rules.yaml'), 'utf8'));
  return doc.groups.flatMap((g: any) => g.rules);
}

function allQueries(): Query[] {
  const out: Query[] = [];
  for (const { file, json } of dashboards()) {
    for (const p of json.panels) for (const t of p.targets) out.push({ where: `${file}: ${p.title}`, rawSql: t.rawSql });
    for (const v of json.templating.list) if (v.type === 'query') out.push({ where: `${file}: variable ${v.name}`, rawSql: v.query });
  }
  for (const rule of alertRules()) for (const d of rule.data) if (d.datasourceUid === DATASOURCE_UID) out.push({ where: `alert ${rule.uid}`, rawSql: d.model.rawSql });
  return out;
}

/** What the ClickHouse plugin does with its macros and a text variable, for a [from, to] range in seconds. */
function expand(rawSql: string, vars: { from: number; to: number; tenant: string }): string {
  return rawSql
    .replace(/\$__timeFilter\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (_, col) => `${col} >= toDateTime(${vars.from}) AND ${col} <= toDateTime(${vars.to})`)
    .replaceAll('$__fromTime', `toDateTime(${vars.from})`)
    .replaceAll('$__toTime', `toDateTime(${vars.to})`)
    .replaceAll('${tenant}', vars.tenant);
}

const config = loadConfig();
const ch = createClickHouse(config);
// The panels' SQL as Grafana sends it (text, not Sql fragments): to the server, or to the embedded current engine.
const raw = isEmbeddedUrl(config.CLICKHOUSE_URL)
  ? createClient({ connection: createEmbeddedConnection(config.CLICKHOUSE_URL, config.CLICKHOUSE_DATABASE), clickhouse_settings: { output_format_json_quote_64bit_integers: 1 } })
  : createClient({ url: config.CLICKHOUSE_URL, database: config.CLICKHOUSE_DATABASE, username: config.CLICKHOUSE_USER, password: config.CLICKHOUSE_PASSWORD });
const tenant = randomUUID();
const now = Math.floor(Date.now() / 1000);
const range = { from: now - 3600, to: now + 60, tenant };
const events = Array.from({ length: 40 }, (_, i) => ({
  event_id: randomUUID(), batch_id: 'grafana-test', tenant_id: tenant, api_key_id: randomUUID(), request_id: `r${i}`,
  model: i % 2 ? 'mlp-demo' : 'ocr-cls', model_version: '1', ts: now - 600 + i, ts_ms: (now - 600 + i) * 1000,
  status: i % 10 === 0 ? 'error' : 'ok', http_status: i % 10 === 0 ? 500 : 200, items: 2, input_bytes: 100, output_bytes: 40,
  queue_us: 100, compute_us: 1000 + i, billed_compute_us: 1000 + i, batch_size: 2, device: 'cpu', tag_keys: [], tag_values: [], trace_id: '',
  inserted_at: now,
}));

async function run(sqlText: string): Promise<Record<string, unknown>[]> {
  const rs = await raw.query({ query: sqlText, format: 'JSONEachRow' });
  return rs.json<Record<string, unknown>>();
}

beforeAll(async () => {
  await ch.insert('usage_events_v1', events);
});
afterAll(async () => {
  await Promise.all([ch.close(), raw.close()]);
});

describe('grafana provisioning', () => {
  it('every panel, variable and alert rule uses the provisioned ClickHouse datasource', () => {
    const ds = parse(readFileSync(path.join(grafana, 'provisioning/datasources/clickhouse.yaml'), 'utf8'));
    expect(ds.datasources.map((d: any) => d.uid)).toContain(DATASOURCE_UID);
    for (const { json } of dashboards()) {
      for (const p of json.panels) {
        expect(p.datasource.uid, p.title).toBe(DATASOURCE_UID);
        for (const t of p.targets) expect(t.datasource.uid, p.title).toBe(DATASOURCE_UID);
      }
    }
    for (const rule of alertRules()) {
      const refs = new Set(rule.data.map((d: any) => d.refId));
      expect(refs.has(rule.condition), rule.uid).toBe(true);
    }
    expect(allQueries().length).toBeGreaterThanOrEqual(12);
  });

  it('every query runs on this ClickHouse after macro expansion', async () => {
    for (const q of allQueries()) {
      const text = expand(q.rawSql, range);
      expect(text, q.where).not.toMatch(/\$__|\$\{/);
      await expect(run(text), q.where).resolves.toBeInstanceOf(Array);
    }
  });

  it('the tenant dashboard counts exactly the requests we inserted', async () => {
    const tenantDash = dashboards().find((d) => d.json.uid === 'tollgate-tenant')!.json;
    const rps = tenantDash.panels.find((p: any) => p.title === 'Requests/s by model').targets[0].rawSql;
    const rows = await run(expand(rps, range));
    const total = rows.reduce((n, r) => n + Number(r.rps) * 60, 0);
    expect(Math.round(total)).toBe(events.length);
    const outcome = tenantDash.panels.find((p: any) => p.title === 'Requests by outcome').targets[0].rawSql;
    const byOutcome = await run(expand(outcome, range));
    expect(byOutcome.reduce((n, r) => n + Number(r.ok), 0)).toBe(events.filter((e) => e.status === 'ok').length);
    expect(byOutcome.reduce((n, r) => n + Number(r.server_error), 0)).toBe(events.filter((e) => e.status === 'error').length);
  });

  it('the error-ratio alert fires for a tenant whose errors exceed 5%', async () => {
    const rule = alertRules().find((r) => r.uid === 'tollgate-tenant-error-ratio');
    const rows = await run(expand(rule.data[0].model.rawSql, range));
    const mine = rows.find((r) => r.tenant_id === tenant);
    expect(Number(mine?.error_ratio)).toBeCloseTo(4 / 40, 6);
    const threshold = rule.data[1].model.conditions[0].evaluator.params[0];
    expect(Number(mine?.error_ratio)).toBeGreaterThan(threshold);
  });
});
