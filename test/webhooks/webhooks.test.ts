/**
 * Tenant webhooks against a real HTTP receiver on loopback (allowed by the operator setting
 * only): Standard Webhooks signatures verified with the reference `standardwebhooks` package,
 * a detector alert delivered once, retries on the schedule, 410 disables with an alert,
 * redirects not followed, rotation signing with both secrets, and SSRF targets refused —
 * at creation and again at send time.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { runAnomalyScan, BUCKET_MS } from '../../src/anomaly-scan/index.js';
import { createClickHouse, type ClickHouse } from '../../src/clickhouse/index.js';
import { withPlatform, withTenant } from '../../src/db/index.js';
import { importUsage } from '../../src/usage/index.js';
import {
  attemptDelivery,
  checkWebhookTarget,
  createEndpoint,
  disableEndpoint,
  isForbiddenAddress,
  listDeliveries,
  publishAlertTransitions,
  publishWebhookEvent,
  rotateEndpointSecret,
  webhookHeaders,
  type DeliveryDeps,
} from '../../src/webhooks/index.js';
import { closeFactories, createTenant, factoryDeps, testActor } from '../factories.js';
import { HOUR, hourlyUsage } from '../anomaly-scan/usage-history.js';

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  path: string;
}

let ch: ClickHouse;
let server: http.Server;
let base = '';
const received: Received[] = [];
/** Per path: the statuses to answer in turn (then 200). */
const script = new Map<string, number[]>();

beforeAll(async () => {
  ch = createClickHouse(factoryDeps().config);
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      received.push({ headers: req.headers, body, path: req.url ?? '' });
      const next = script.get(req.url ?? '')?.shift() ?? 200;
      if (next === 302) res.writeHead(302, { location: `${base}/redirected` }).end();
      else res.writeHead(next).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  await ch?.close();
  await closeFactories();
});

const enqueued: Array<{ id: string; delayMs: number }> = [];
function deps(opts: { allowPrivate?: boolean; now?: () => number } = {}): DeliveryDeps {
  return {
    pools: factoryDeps().pools,
    settings: { allowPrivateTargets: opts.allowPrivate ?? true, timeoutMs: 5_000, maxResponseBytes: 4096 },
    enqueue: async (id, delayMs) => {
      enqueued.push({ id, delayMs });
    },
    ...(opts.now ? { now: opts.now } : {}),
  };
}

async function endpoint(tenantId: string, path: string, events = ['alert.opened', 'alert.resolved']): Promise<{ id: string; secret: string }> {
  const r = await withTenant(factoryDeps().pools.app, { tenantId }, (c) => createEndpoint(c, { tenantId, url: `${base}${path}`, events, actor: testActor }));
  return { id: r.endpoint.id, secret: r.secret };
}

const headersOf = (r: Received) => ({ 'webhook-id': String(r.headers['webhook-id']), 'webhook-timestamp': String(r.headers['webhook-timestamp']), 'webhook-signature': String(r.headers['webhook-signature']) });

describe('Standard Webhooks signing', () => {
  it('the reference implementation verifies our signature, and refuses a forged one', () => {
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const body = '{"type":"alert.opened"}';
    const ts = Math.floor(Date.now() / 1000);
    const headers = webhookHeaders({ msgId: 'msg_1', timestampSeconds: ts, body, secrets: [secret] });
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(new Webhook(secret).verify(body, headers)).toEqual({ type: 'alert.opened' });
    // the reference's own signature equals ours
    expect(new Webhook(secret).sign('msg_1', new Date(ts * 1000), body)).toBe(headers['webhook-signature']);
    expect(() => new Webhook(secret).verify(body.replace('opened', 'closed'), headers)).toThrow();
    expect(() => new Webhook('whsec_' + Buffer.from('another key of 24 bytes!').toString('base64')).verify(body, headers)).toThrow();
  });
});

describe('SSRF protection', () => {
  it('classifies addresses', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', '::', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1', '::ffff:169.254.169.254', 'not-an-ip']) {
      expect([a, isForbiddenAddress(a)]).toEqual([a, true]);
    }
    for (const a of ['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111']) expect([a, isForbiddenAddress(a)]).toEqual([a, false]);
  });

  it('refuses non-http(s), credentials, and private targets after resolution unless the operator allows them', async () => {
    const refuse = async (url: string, pattern: RegExp) => {
      await expect(checkWebhookTarget(url, { allowPrivate: false })).rejects.toMatchObject({ code: 'BAD_USER_INPUT', message: expect.stringMatching(pattern) });
    };
    await refuse('ftp://example.com/x', /only http and https/);
    await refuse('file:///etc/passwd', /only http and https/);
    await refuse('http://user:pw@example.com/', /credentials/);
    await refuse('not a url', /valid absolute URL/);
    await refuse('http://127.0.0.1:9/hook', /127\.0\.0\.1.*refused/);
    await refuse('http://localhost:9/hook', /resolves to (127\.0\.0\.1|::1).*refused/);
    await refuse('http://169.254.169.254/latest/meta-data', /169\.254\.169\.254/);
    await refuse('http://10.0.0.7/', /10\.0\.0\.7/);
    await refuse('http://[::1]:9/', /::1/);
    await refuse('http://[::ffff:127.0.0.1]/', /refused/);
    expect((await checkWebhookTarget(`${base}/x`, { allowPrivate: true })).address).toBe('127.0.0.1');
  });

  it('refuses a private target again at send time: nothing is sent, the attempt is logged', async () => {
    const t = await createTenant();
    const ep = await endpoint(t.id, '/ssrf');
    const [id] = await publishWebhookEvent(deps(), { tenantId: t.id, type: 'alert.opened', key: 'ssrf-1', data: {} });
    expect(await attemptDelivery(deps({ allowPrivate: false }), id!)).toBe('retry');
    expect(received.filter((r) => r.path === '/ssrf')).toEqual([]);
    const [d] = await withTenant(factoryDeps().pools.app, { tenantId: t.id }, (c) => listDeliveries(c, { tenantId: t.id, endpointId: ep.id, limit: 5 }));
    expect(d).toMatchObject({ status: 'pending', attempts: 1, lastError: expect.stringMatching(/refused/) });
  });
});

describe('delivery', () => {
  it("a detector alert is delivered once, signed, to the tenant's subscribed endpoints only", async () => {
    const t = await createTenant({ plan: 'starter' });
    await withPlatform(factoryDeps().pools.app, (c) => c.query(`UPDATE tenant_plans SET effective_from = now() - interval '20 days' WHERE tenant_id = $1`, [t.id]));
    const ep = await endpoint(t.id, '/alerts');
    await endpoint(t.id, '/quota-only', ['quota.threshold']);
    const other = await createTenant();
    await endpoint(other.id, '/other');

    const H = Math.floor(Date.now() / HOUR) * HOUR;
    const burstStart = H - 4 * HOUR;
    const lines = [...hourlyUsage(H - 15 * 24 * HOUR, burstStart, { prefix: 'h' }), ...hourlyUsage(burstStart, burstStart + 2 * HOUR, { errors: 20, prefix: 'b' })];
    expect((await importUsage({ clickhouse: ch, pools: factoryDeps().pools }, { tenantId: t.id, lines, knownModels: new Set(['mlp-demo']) })).rejected).toEqual([]);
    const scan = await runAnomalyScan({ clickhouse: ch, pools: factoryDeps().pools }, { tenantId: t.id, until: new Date(burstStart + 2 * HOUR) });
    expect(scan.opened).toHaveLength(1);

    enqueued.length = 0;
    expect(await publishAlertTransitions(deps(), scan, { maxAgeMs: 6 * HOUR, bucketMs: BUCKET_MS })).toBe(1);
    // a second publication of the same transition (a retried job) delivers nothing new
    expect(await publishAlertTransitions(deps(), scan, { maxAgeMs: 6 * HOUR, bucketMs: BUCKET_MS })).toBe(0);
    // history older than the notification age is not sent
    expect(await publishAlertTransitions(deps(), scan, { maxAgeMs: 1, bucketMs: BUCKET_MS })).toBe(0);
    expect(enqueued).toHaveLength(1);
    expect(await attemptDelivery(deps(), enqueued[0]!.id)).toBe('succeeded');
    expect(await attemptDelivery(deps(), enqueued[0]!.id)).toBe('not-due');

    const got = received.filter((r) => r.path === '/alerts');
    expect(got).toHaveLength(1);
    const event = new Webhook(ep.secret).verify(got[0]!.body, headersOf(got[0]!)) as { type: string; data: { alert: Record<string, unknown> } };
    expect(event.type).toBe('alert.opened');
    expect(event.data.alert).toMatchObject({ id: scan.opened[0]!.alertId, kind: 'anomaly', metric: 'error_ratio', explanation: scan.opened[0]!.explanation });
    expect(received.filter((r) => r.path === '/quota-only' || r.path === '/other')).toEqual([]);
    const [d] = await withTenant(factoryDeps().pools.app, { tenantId: t.id }, (c) => listDeliveries(c, { tenantId: t.id, endpointId: ep.id, limit: 5 }));
    expect(d).toMatchObject({ status: 'succeeded', attempts: 1, lastStatusCode: 200, eventType: 'alert.opened', log: [{ attempt: 1, statusCode: 200, error: null }] });
  });

  it('retries non-2xx answers on the schedule, does not follow redirects, and succeeds later', async () => {
    const t = await createTenant();
    const ep = await endpoint(t.id, '/flaky');
    script.set('/flaky', [500, 302]);
    enqueued.length = 0;
    const [id] = await publishWebhookEvent(deps(), { tenantId: t.id, type: 'alert.opened', key: 'flaky-1', data: { n: 1 } });
    let now = Date.now();
    const clock = () => now;
    expect(await attemptDelivery(deps({ now: clock }), id!)).toBe('retry');
    expect(enqueued.at(-1)).toEqual({ id, delayMs: 5_000 });
    expect(await attemptDelivery(deps({ now: clock }), id!)).toBe('not-due');
    now += 5_000;
    expect(await attemptDelivery(deps({ now: clock }), id!)).toBe('retry'); // 302: not followed
    expect(enqueued.at(-1)).toEqual({ id, delayMs: 5 * 60_000 });
    expect(received.filter((r) => r.path === '/redirected')).toEqual([]);
    now += 5 * 60_000;
    expect(await attemptDelivery(deps({ now: clock }), id!)).toBe('succeeded');
    const got = received.filter((r) => r.path === '/flaky');
    expect(got).toHaveLength(3);
    // the same message id and body each time
    expect(new Set(got.map((r) => r.headers['webhook-id'])).size).toBe(1);
    expect(new Webhook(ep.secret).verify(got[0]!.body, headersOf(got[0]!))).toEqual({ type: 'alert.opened', timestamp: expect.any(String), data: { n: 1 } });
    // later attempts carry the (test clock's) later timestamp, which the reference's tolerance refuses: check their signatures with its signer
    for (const r of got) {
      expect(r.body).toBe(got[0]!.body);
      expect(r.headers['webhook-signature']).toBe(new Webhook(ep.secret).sign(String(r.headers['webhook-id']), new Date(Number(r.headers['webhook-timestamp']) * 1000), r.body));
    }
    const [d] = await withTenant(factoryDeps().pools.app, { tenantId: t.id }, (c) => listDeliveries(c, { tenantId: t.id, endpointId: ep.id, limit: 5 }));
    expect(d!.log.map((a) => a.statusCode)).toEqual([500, 302, 200]);
    expect(d!.log[1]!.error).toMatch(/redirects are not followed/);
  });

  it('410 Gone disables the endpoint with an alert; later events are not delivered to it', async () => {
    const t = await createTenant();
    const ep = await endpoint(t.id, '/gone');
    script.set('/gone', [410]);
    const [id] = await publishWebhookEvent(deps(), { tenantId: t.id, type: 'alert.opened', key: 'gone-1', data: {} });
    expect(await attemptDelivery(deps(), id!)).toBe('failed');
    const { rows } = await withPlatform(factoryDeps().pools.app, (c) => c.query(`SELECT active, disabled_reason FROM webhook_endpoints WHERE id = $1`, [ep.id]));
    expect(rows[0]).toEqual({ active: false, disabled_reason: 'the receiver answered 410 Gone' });
    const alerts = await withPlatform(factoryDeps().pools.app, (c) => c.query(`SELECT kind, metric, status FROM alerts WHERE tenant_id = $1`, [t.id]));
    expect(alerts.rows).toEqual([{ kind: 'webhook', metric: 'endpoint_disabled', status: 'open' }]);
    expect(await publishWebhookEvent(deps(), { tenantId: t.id, type: 'alert.opened', key: 'gone-2', data: {} })).toEqual([]);
  });

  it('after rotation both the new and the old secret sign until the overlap ends; a disabled endpoint gets nothing', async () => {
    const t = await createTenant();
    const ep = await endpoint(t.id, '/rotate');
    const rotated = await withTenant(factoryDeps().pools.app, { tenantId: t.id }, (c) => rotateEndpointSecret(c, { tenantId: t.id, id: ep.id, actor: testActor }));
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(ep.secret);
    const [id] = await publishWebhookEvent(deps(), { tenantId: t.id, type: 'alert.resolved', key: 'rot-1', data: {} });
    expect(await attemptDelivery(deps(), id!)).toBe('succeeded');
    const r = received.filter((x) => x.path === '/rotate')[0]!;
    expect(String(r.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(new Webhook(rotated.secret).verify(r.body, headersOf(r))).toMatchObject({ type: 'alert.resolved' });
    expect(new Webhook(ep.secret).verify(r.body, headersOf(r))).toMatchObject({ type: 'alert.resolved' });

    // past the overlap only the new secret signs
    const [id2] = await publishWebhookEvent(deps(), { tenantId: t.id, type: 'alert.resolved', key: 'rot-2', data: {} });
    expect(await attemptDelivery(deps({ now: () => Date.now() + 25 * HOUR }), id2!)).toBe('succeeded');
    const r2 = received.filter((x) => x.path === '/rotate')[1]!;
    expect(String(r2.headers['webhook-signature']).split(' ')).toHaveLength(1);

    await withTenant(factoryDeps().pools.app, { tenantId: t.id }, (c) => disableEndpoint(c, { tenantId: t.id, id: ep.id, reason: 'disabled by an admin', actor: testActor }));
    expect(await publishWebhookEvent(deps(), { tenantId: t.id, type: 'alert.resolved', key: 'rot-3', data: {} })).toEqual([]);
  });

  it('refuses unknown event types and an empty list', async () => {
    const t = await createTenant();
    await expect(endpoint(t.id, '/x', ['invoice.nope'])).rejects.toMatchObject({ code: 'BAD_USER_INPUT', message: expect.stringMatching(/unknown event type/) });
    await expect(endpoint(t.id, '/x', [])).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
  });
});
