/**
 * The Grafana loop's provisioning, checked statically against Grafana's documented file format
 * (Grafana cannot run here): a webhook contact point to POST /webhooks/grafana with bearer
 * credentials from the environment, and a notification policy that routes to it, grouped by tenant.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const file = path.resolve(import.meta.dirname, '../../grafana/provisioning/alerting/tollgate-contact-points.yaml');

describe('grafana contact point and notification policy provisioning', () => {
  const doc = parse(readFileSync(file, 'utf8')) as Record<string, unknown>;

  it('has the documented shape: apiVersion 1, contactPoints with webhook receivers, policies', () => {
    expect(doc.apiVersion).toBe(1);
    expect(Object.keys(doc).sort()).toEqual(['apiVersion', 'contactPoints', 'policies']);
    const [cp] = doc.contactPoints as Array<{ orgId: number; name: string; receivers: Array<{ uid: string; type: string; settings: Record<string, unknown>; disableResolveMessage: boolean }> }>;
    expect(cp).toMatchObject({ orgId: 1, name: 'tollgate-api' });
    const [r] = cp!.receivers;
    expect(r!.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/); // Grafana's uid rule
    expect(r).toMatchObject({ type: 'webhook', disableResolveMessage: false });
    expect(r!.settings).toMatchObject({ httpMethod: 'POST', authorization_scheme: 'Bearer', authorization_credentials: '$GRAFANA_WEBHOOK_TOKEN' });
    expect(new URL(String(r!.settings.url)).pathname).toBe('/webhooks/grafana');
  });

  it('routes every alert to the contact point, grouped so each tenant is its own notification', () => {
    const [policy] = doc.policies as Array<{ orgId: number; receiver: string; group_by: string[]; group_wait: string; group_interval: string; repeat_interval: string }>;
    const names = (doc.contactPoints as Array<{ name: string }>).map((c) => c.name);
    expect(names).toContain(policy!.receiver);
    expect(policy!.group_by).toContain('tenant_id');
    for (const d of [policy!.group_wait, policy!.group_interval, policy!.repeat_interval]) expect(d).toMatch(/^\d+[smh]$/);
  });
});
