/**
 * POST /webhooks/grafana on a real API server: Grafana's webhook payload (version "1", as its
 * webhook contact point sends it) authenticated by bearer token or HMAC, mapped into the
 * labelled tenant's feed deduplicated by fingerprint, resolved by a `resolved` notification;
 * unauthenticated, forged and malformed posts are refused with nothing stored.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeFactories, createTenant } from '../factories.js';
import { startHarness, type Harness } from '../graphql/harness.js';

const TOKEN = 'grafana-test-token-0123456789';
const HMAC = 'grafana-hmac-secret-0123456789';
let h: Harness;
let tenantId = '';

beforeAll(async () => {
  h = await startHarness({ env: { GRAFANA_WEBHOOK_TOKEN: TOKEN, GRAFANA_WEBHOOK_HMAC_SECRET: HMAC } });
  tenantId = (await createTenant()).id;
});
afterAll(async () => {
  await h?.close();
  await closeFactories();
});

/** Grafana's webhook notification body (alertmanager-style, version "1"). */
function payload(status: 'firing' | 'resolved', fingerprint: string, labels: Record<string, string>) {
  return {
    receiver: 'tollgate-api',
    status,
    orgId: 1,
    alerts: [
      {
        status,
        labels: { alertname: 'Tenant error ratio above 5%', grafana_folder: 'Tollgate', severity: 'warning', ...labels },
        annotations: { summary: `Tenant ${labels.tenant_id ?? '?'}: more than 5% of requests failed over 10 minutes` },
        startsAt: '2026-12-02T14:00:00Z',
        endsAt: status === 'resolved' ? '2026-12-02T15:00:00Z' : '0001-01-01T00:00:00Z',
        generatorURL: 'http://grafana:3000/alerting/grafana/tollgate-tenant-error-ratio/view',
        fingerprint,
        silenceURL: 'http://grafana:3000/alerting/silence/new',
        dashboardURL: '',
        panelURL: '',
        values: { C: 1 },
        valueString: "[ var='C' labels={tenant_id=x} value=1 ]",
      },
    ],
    groupLabels: { alertname: 'Tenant error ratio above 5%' },
    commonLabels: {},
    commonAnnotations: {},
    externalURL: 'http://grafana:3000/',
    version: '1',
    groupKey: '{}:{alertname="Tenant error ratio above 5%"}',
    truncatedAlerts: 0,
    title: '[FIRING:1] Tenant error ratio above 5% Tollgate',
    state: 'alerting',
    message: '**Firing**',
  };
}

async function post(body: string, headers: Record<string, string>): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${h.url.replace(/\/graphql$/, '')}/webhooks/grafana`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function grafanaAlerts(): Promise<Array<{ status: string; kind: string; source: string; dedup_key: string; title: string }>> {
  const { rows } = await h.pools.owner.query(`SELECT status, kind, source, dedup_key, title FROM alerts WHERE tenant_id = $1 AND source = 'grafana' ORDER BY opened_at`, [tenantId]);
  return rows;
}

describe('POST /webhooks/grafana', () => {
  it('refuses unauthenticated, forged and malformed posts, storing nothing', async () => {
    const body = JSON.stringify(payload('firing', 'f-refused', { tenant_id: tenantId }));
    expect((await post(body, {})).status).toBe(401);
    expect((await post(body, { authorization: 'Bearer wrong-token-0123456789' })).status).toBe(401);
    expect((await post(body, { 'x-grafana-alerting-signature': createHmac('sha256', 'not-the-secret-000000').update(body).digest('hex') })).status).toBe(401);
    // a valid signature of another body
    expect((await post(body, { 'x-grafana-alerting-signature': createHmac('sha256', HMAC).update(`${body} `).digest('hex') })).status).toBe(401);
    const bad = await post('{"version":"1","alerts":[{"status":"maybe"}]}', { authorization: `Bearer ${TOKEN}` });
    expect(bad.status).toBe(400);
    expect(String(bad.json.error)).toMatch(/not a Grafana webhook payload/);
    expect((await post('not json', { authorization: `Bearer ${TOKEN}` })).status).toBe(400);
    expect(await grafanaAlerts()).toEqual([]);
  });

  it("maps a tenant-labelled alert into the tenant's feed, once per fingerprint, and resolves it", async () => {
    const firing = JSON.stringify(payload('firing', 'f-1', { tenant_id: tenantId }));
    expect(await post(firing, { authorization: `Bearer ${TOKEN}` })).toEqual({ status: 200, json: { received: 1, applied: 1, ignored: 0 } });
    // Grafana repeats notifications: the same fingerprint stays one alert (HMAC with timestamp this time)
    const ts = String(Math.floor(Date.now() / 1000));
    const sig = createHmac('sha256', HMAC).update(`${ts}:${firing}`).digest('hex');
    expect((await post(firing, { 'x-grafana-alerting-signature': sig, 'x-grafana-alerting-timestamp': ts })).status).toBe(200);
    expect(await grafanaAlerts()).toEqual([{ status: 'open', kind: 'grafana', source: 'grafana', dedup_key: 'grafana:f-1', title: `Tenant ${tenantId}: more than 5% of requests failed over 10 minutes` }]);

    // alerts for unknown tenants or without a tenant are not stored anywhere
    const other = JSON.stringify(payload('firing', 'f-2', { tenant_id: '00000000-0000-4000-8000-000000000099' }));
    expect((await post(other, { authorization: `Bearer ${TOKEN}` })).json).toEqual({ received: 1, applied: 0, ignored: 1 });
    const { rows } = await h.pools.owner.query(`SELECT count(*)::int AS n FROM alerts WHERE dedup_key = 'grafana:f-2'`);
    expect(rows[0].n).toBe(0);

    const resolved = JSON.stringify(payload('resolved', 'f-1', { tenant_id: tenantId }));
    const sig2 = createHmac('sha256', HMAC).update(resolved).digest('hex');
    expect((await post(resolved, { 'x-grafana-alerting-signature': sig2 })).status).toBe(200);
    expect((await grafanaAlerts()).map((a) => a.status)).toEqual(['resolved']);
  });
});
