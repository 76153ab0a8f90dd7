/**
 * Webhook endpoints through GraphQL: an admin creates one (secret shown once, SSRF targets
 * refused with nothing stored), sends a test event that a receiver verifies with
 * `standardwebhooks`, reads the delivery log, rotates and disables.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { attemptDelivery } from '../../src/webhooks/index.js';
import { closeFactories, createTenant, createUser, factoryDeps } from '../factories.js';
import { codes, gql, mintJwt, startHarness, type Harness } from './harness.js';

let h: Harness;
let strict: Harness;
let server: http.Server;
let base = '';
const received: Array<{ headers: http.IncomingHttpHeaders; body: string }> = [];
let tenantId = '';
let admin = '';

beforeAll(async () => {
  h = await startHarness({ env: { WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true' } });
  strict = await startHarness();
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  tenantId = (await createTenant()).id;
  const u = await createUser({ tenantId, role: 'admin' });
  admin = await mintJwt(h.config, { sub: u.id, tid: tenantId, role: 'admin' });
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  await h?.close();
  await strict?.close();
  await closeFactories();
});

const CREATE = 'mutation($url: String!, $events: [String!]!) { createWebhookEndpoint(input: { url: $url, events: $events }) { secret endpoint { id url events active } } }';

async function endpointCount(): Promise<number> {
  const { rows } = await h.pools.owner.query('SELECT count(*)::int AS n FROM webhook_endpoints WHERE tenant_id = $1', [tenantId]);
  return rows[0].n;
}

describe('webhook endpoints in GraphQL', () => {
  it('refuses SSRF targets and bad input with a clear error, storing nothing', async () => {
    const before = await endpointCount();
    for (const url of [`${base}/hook`, 'http://169.254.169.254/latest/meta-data', 'http://10.0.0.1/', 'ftp://example.com/', 'http://[::1]/']) {
      const r = await gql(strict.url, CREATE, { token: admin, variables: { url, events: ['alert.opened'] } });
      expect([url, codes(r)]).toEqual([url, ['BAD_USER_INPUT']]);
    }
    const bad = await gql(h.url, CREATE, { token: admin, variables: { url: `${base}/hook`, events: ['alert.whatever'] } });
    expect(codes(bad)).toEqual(['BAD_USER_INPUT']);
    expect(await endpointCount()).toBe(before);
  });

  it('creates, tests (verified with standardwebhooks), logs, rotates and disables', async () => {
    const created = await gql(h.url, CREATE, { token: admin, variables: { url: `${base}/hook`, events: ['alert.opened', 'alert.resolved'] } });
    expect(created.errors).toBeUndefined();
    const { secret, endpoint } = created.data.createWebhookEndpoint;
    expect(secret).toMatch(/^whsec_/);
    expect(endpoint).toMatchObject({ url: `${base}/hook`, events: ['alert.opened', 'alert.resolved'], active: true });
    const listed = await gql(h.url, 'query { webhookEndpoints { id active } }', { token: admin });
    expect(listed.data.webhookEndpoints).toContainEqual({ id: endpoint.id, active: true });
    // the secret is never readable again
    expect(JSON.stringify(listed.data)).not.toContain(secret);

    const test = await gql(h.url, 'mutation($id: ID!) { sendTestWebhook(id: $id) }', { token: admin, variables: { id: endpoint.id } });
    expect(test.errors).toBeUndefined();
    // the worker's job does this attempt
    const settings = { allowPrivateTargets: true, timeoutMs: 5_000, maxResponseBytes: 4096 };
    expect(await attemptDelivery({ pools: factoryDeps().pools, settings }, test.data.sendTestWebhook)).toBe('succeeded');
    expect(received).toHaveLength(1);
    const r = received[0]!;
    const headers = { 'webhook-id': String(r.headers['webhook-id']), 'webhook-timestamp': String(r.headers['webhook-timestamp']), 'webhook-signature': String(r.headers['webhook-signature']) };
    expect(new Webhook(secret).verify(r.body, headers)).toMatchObject({ type: 'webhook.test', data: { endpointId: endpoint.id } });

    const log = await gql(h.url, 'query($id: ID!) { webhookDeliveries(endpointId: $id, first: 5) { id eventType status attempts lastStatusCode log { attempt statusCode latencyMs error } } }', { token: admin, variables: { id: endpoint.id } });
    expect(log.errors).toBeUndefined();
    expect(log.data.webhookDeliveries).toEqual([
      { id: test.data.sendTestWebhook, eventType: 'webhook.test', status: 'succeeded', attempts: 1, lastStatusCode: 204, log: [{ attempt: 1, statusCode: 204, latencyMs: expect.any(Number), error: null }] },
    ]);

    const rotated = await gql(h.url, 'mutation($id: ID!) { rotateWebhookEndpointSecret(id: $id) { secret endpoint { rotationOverlapEndsAt } } }', { token: admin, variables: { id: endpoint.id } });
    expect(rotated.errors).toBeUndefined();
    expect(rotated.data.rotateWebhookEndpointSecret.secret).not.toBe(secret);
    expect(Date.parse(rotated.data.rotateWebhookEndpointSecret.endpoint.rotationOverlapEndsAt)).toBeGreaterThan(Date.now());

    const disabled = await gql(h.url, 'mutation($id: ID!) { disableWebhookEndpoint(id: $id) { active disabledReason } }', { token: admin, variables: { id: endpoint.id } });
    expect(disabled.data.disableWebhookEndpoint).toMatchObject({ active: false, disabledReason: expect.stringMatching(/^disabled by /) });
    const again = await gql(h.url, 'mutation($id: ID!) { sendTestWebhook(id: $id) }', { token: admin, variables: { id: endpoint.id } });
    expect(codes(again)).toEqual(['BAD_USER_INPUT']);
    expect(again.errors![0]!.message).toMatch(/disabled/);
  });
});
