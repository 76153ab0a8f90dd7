/**
 * The shared security suite of the GraphQL API, run against every query and mutation:
 * no principal -> UNAUTHENTICATED; tenant A naming tenant B's objects -> NOT_FOUND exactly as a
 * nonexistent id; the role x guarded-field matrix; forged/expired/mis-addressed JWTs, alg none,
 * HS/RS confusion and revoked API keys -> rejected; query bombs -> rejected before execution.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { getMetadataStorage } from 'type-graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalJWKSet, exportJWK, exportSPKI, generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { withPlatform } from '../../src/db/index.js';
import { setTenantStatus } from '../../src/tenants/index.js';
import { closeFactories, createApiKey, createTenant, createUser, createWebhookEndpoint, testActor, uniqueName } from '../factories.js';
import { insertEvents, insertSpan, randomTraceId } from './data.js';
import { codes, gql, mintJwt, startHarness, type GqlResponse, type Harness, type RoleName } from './harness.js';

let h: Harness;
const now = new Date();
const hourAgo = new Date(Math.floor(now.getTime() / 3_600_000) * 3_600_000 - 3_600_000);
const range = { from: new Date(hourAgo.getTime() - 3_600_000).toISOString(), to: new Date(hourAgo.getTime() + 3_600_000).toISOString() };

// Tenant A (the caller's) and tenant B (the victim's), with objects of each kind in B.
const ids = { a: '', b: '', bKey: '', aKey: '', aInvoice: '', bInvoice: '', aAlert: '', bAlert: '', aWebhook: '', bWebhook: '', bTrace: randomTraceId(), bRequest: `req-${randomUUID()}`, aTrace: randomTraceId(), aRequest: `req-${randomUUID()}` };
const tokens: Record<RoleName, string> & { keyMember: string; keyAdmin: string; keyFinance: string } = {} as never;
const users: Record<string, { id: string; email: string }> = {};

beforeAll(async () => {
  h = await startHarness();
  const a = await createTenant();
  const b = await createTenant();
  ids.a = a.id;
  ids.b = b.id;
  for (const role of ['member', 'admin', 'finance'] as const) {
    const u = await createUser({ tenantId: a.id, role });
    users[role] = u;
    tokens[role] = await mintJwt(h.config, { sub: u.id, tid: a.id, role });
  }
  const other = await createUser({ tenantId: a.id, role: 'admin' });
  users.otherAdmin = other;
  const platformUser = await createUser({});
  tokens.platform = await mintJwt(h.config, { sub: platformUser.id, tid: null, role: 'platform' });
  tokens.keyMember = (await createApiKey({ tenantId: a.id, role: 'member' })).secret;
  tokens.keyAdmin = (await createApiKey({ tenantId: a.id, role: 'admin' })).secret;
  tokens.keyFinance = (await createApiKey({ tenantId: a.id, role: 'finance' })).secret;
  ids.bKey = (await createApiKey({ tenantId: b.id, role: 'admin' })).keyId;

  // A key in A created by another admin (through the API), so createdBy resolves to a User who is not the caller.
  const otherToken = await mintJwt(h.config, { sub: other.id, tid: a.id, role: 'admin' });
  const created = await gql(h.url, 'mutation { createApiKey(input: { name: "by-other" }) { apiKey { id } } }', { token: otherToken });
  expect(created.errors).toBeUndefined();
  ids.aKey = created.data.createApiKey.apiKey.id;

  await insertEvents(h.clickhouse, [
    { tenantId: a.id, ts: hourAgo, requestId: ids.aRequest, traceId: ids.aTrace, items: 3, computeUs: 5000, apiKeyId: ids.aKey },
    { tenantId: b.id, ts: hourAgo, requestId: ids.bRequest, traceId: ids.bTrace, items: 2, computeUs: 7000, apiKeyId: ids.bKey },
  ]);
  await insertSpan(h.clickhouse, { tenantId: a.id, traceId: ids.aTrace, at: hourAgo });
  await insertSpan(h.clickhouse, { tenantId: b.id, traceId: ids.bTrace, at: hourAgo });
  ids.aInvoice = await createInvoice(a.id);
  ids.aAlert = await createAlert(a.id);
  ids.bAlert = await createAlert(b.id);
  ids.bInvoice = await createInvoice(b.id);
  ids.aWebhook = (await createWebhookEndpoint({ tenantId: a.id, url: 'https://93.184.216.34/hook', events: ['alert.opened'] })).id;
  ids.bWebhook = (await createWebhookEndpoint({ tenantId: b.id, url: 'https://93.184.216.34/hook', events: ['alert.opened'] })).id;
  await withPlatform(h.pools.app, (c) => c.query(`INSERT INTO stripe_mappings (tenant_id, object_type, local_id, stripe_id) VALUES ($1::uuid, 'customer', $2, $3)`, [a.id, a.id, `cus_${uniqueName('s')}`]));
});

async function createAlert(tenantId: string): Promise<string> {
  const { rows } = await withPlatform(h.pools.app, (c) => c.query(`INSERT INTO alerts (tenant_id, kind, metric, dedup_key, title) VALUES ($1, 'anomaly', 'request_rate', $2, 'spike') RETURNING id`, [tenantId, uniqueName('d')]));
  return rows[0].id;
}

/** A finalized invoice with two lines and a credit note. */
async function createInvoice(tenantId: string): Promise<string> {
  return withPlatform(h.pools.app, async (c) => {
    const { rows } = await c.query(
      `INSERT INTO invoices (tenant_id, period_start, period_end, subtotal_micros, total_micros) VALUES ($1, '2026-01-01T00:00:00Z', '2026-02-01T00:00:00Z', 1500000, 1500000) RETURNING id`,
      [tenantId],
    );
    const id = rows[0].id;
    await c.query(`INSERT INTO invoice_lines (invoice_id, tenant_id, line_no, meter, model, quantity, unit_price_micros, amount_micros) VALUES ($1, $2, 1, 'requests', 'standard', 1000, 1000, 1000000), ($1, $2, 2, 'items', 'standard', 500, 1000, 500000)`, [id, tenantId]);
    await c.query(`UPDATE invoices SET status = 'finalized', number = $2, finalized_at = now() WHERE id = $1`, [id, `INV-${uniqueName('n')}`]);
    await c.query(`INSERT INTO credit_notes (invoice_id, tenant_id, number, amount_micros, reason) VALUES ($1, $2, $3, 200000, 'goodwill')`, [id, tenantId, `CN-${uniqueName('n')}`]);
    // As the Stripe sync leaves it (src/payments).
    await c.query(`INSERT INTO stripe_invoices (invoice_id, tenant_id, stripe_invoice_id, sync_state, hosted_invoice_url) VALUES ($1, $2, $3, 'synced', 'https://invoice.stripe.test/i/1')`, [id, tenantId, `in_${uniqueName('s')}`]);
    return id;
  });
}

afterAll(async () => {
  await h?.close();
  await closeFactories();
});

/** Every operation, with variables naming tenant B's objects (`target`) or any value. */
interface Op {
  name: string;
  doc: string;
  /** Variables aimed at the given tenant id / object ids. */
  vars: (t: { tenantId: string; keyId: string; traceId: string; requestId: string; invoiceId: string; alertId: string; webhookId: string }) => Record<string, unknown>;
  /** Accepts an object of another tenant by id (so A -> B must read NOT_FOUND). */
  crossTenant: boolean;
  /** Who may run it at all. */
  roles: readonly string[];
}

const ALL = ['member', 'admin', 'finance', 'platform'];
const ops: Op[] = [
  { name: 'viewer', doc: 'query { viewer { id } }', vars: () => ({}), crossTenant: false, roles: ALL },
  { name: 'tenant', doc: 'query($tenantId: ID) { tenant(id: $tenantId) { id name } }', vars: (t) => ({ tenantId: t.tenantId }), crossTenant: true, roles: ALL },
  { name: 'tenants', doc: 'query { tenants(first: 5) { edges { node { id } } } }', vars: () => ({}), crossTenant: false, roles: ['platform'] },
  { name: 'quotas', doc: 'query($tenantId: ID) { quotas(tenantId: $tenantId) { meters { meter used } } }', vars: (t) => ({ tenantId: t.tenantId }), crossTenant: true, roles: ALL },
  {
    name: 'usage',
    doc: 'query($tenantId: ID, $range: TimeRangeInput!) { usage(range: $range, granularity: HOUR, tenantId: $tenantId) { series { key } } }',
    vars: (t) => ({ tenantId: t.tenantId, range }),
    crossTenant: true,
    roles: ALL,
  },
  {
    name: 'costAttribution',
    doc: 'query($tenantId: ID, $range: TimeRangeInput!) { costAttribution(range: $range, groupBy: MODEL, tenantId: $tenantId) { slices { key } } }',
    vars: (t) => ({ tenantId: t.tenantId, range }),
    crossTenant: true,
    roles: ALL,
  },
  {
    name: 'costExportCsv',
    doc: 'query($tenantId: ID, $range: TimeRangeInput!) { costExportCsv(range: $range, groupBy: DAY, tenantId: $tenantId) }',
    vars: (t) => ({ tenantId: t.tenantId, range }),
    crossTenant: true,
    roles: ['admin', 'finance', 'platform'],
  },
  { name: 'apiKeys', doc: 'query($tenantId: ID) { apiKeys(first: 10, tenantId: $tenantId) { edges { node { id } } } }', vars: (t) => ({ tenantId: t.tenantId }), crossTenant: true, roles: ALL },
  { name: 'trace', doc: 'query($traceId: String!) { trace(id: $traceId) { traceId spans { spanId } } }', vars: (t) => ({ traceId: t.traceId }), crossTenant: true, roles: ALL },
  { name: 'requestTrace', doc: 'query($requestId: String!) { requestTrace(requestId: $requestId) { traceId } }', vars: (t) => ({ requestId: t.requestId }), crossTenant: true, roles: ALL },
  { name: 'invoices', doc: 'query($tenantId: ID) { invoices(first: 10, tenantId: $tenantId) { edges { node { id } } } }', vars: (t) => ({ tenantId: t.tenantId }), crossTenant: true, roles: ALL },
  { name: 'invoice', doc: 'query($invoiceId: ID!) { invoice(id: $invoiceId) { id status lines { meter } } }', vars: (t) => ({ invoiceId: t.invoiceId }), crossTenant: true, roles: ALL },
  { name: 'alerts', doc: 'query($tenantId: ID) { alerts(first: 10, tenantId: $tenantId) { edges { node { id status } } } }', vars: (t) => ({ tenantId: t.tenantId }), crossTenant: true, roles: ALL },
  {
    name: 'alerts (explanation, model)',
    doc: 'query($tenantId: ID) { alerts(first: 10, tenantId: $tenantId) { edges { node { id kind metric model explanation } } } }',
    vars: (t) => ({ tenantId: t.tenantId }),
    crossTenant: true,
    roles: ALL,
  },
  {
    name: 'anomalySeries',
    doc: 'query($tenantId: ID, $range: TimeRangeInput!) { anomalySeries(metric: ERROR_RATIO, range: $range, tenantId: $tenantId) { metric points { bucket value expected lower upper } } }',
    vars: (t) => ({ tenantId: t.tenantId, range }),
    crossTenant: true,
    roles: ALL,
  },
  {
    name: 'anomalySeries (spend: money)',
    doc: 'query($tenantId: ID, $range: TimeRangeInput!) { anomalySeries(metric: SPEND, range: $range, tenantId: $tenantId) { points { value expected } } }',
    vars: (t) => ({ tenantId: t.tenantId, range }),
    crossTenant: true,
    roles: ['admin', 'finance', 'platform'],
  },
  { name: 'webhookEndpoints', doc: 'query($tenantId: ID) { webhookEndpoints(tenantId: $tenantId) { id url events active } }', vars: (t) => ({ tenantId: t.tenantId }), crossTenant: true, roles: ['admin', 'platform'] },
  {
    name: 'webhookDeliveries',
    doc: 'query($webhookId: ID!) { webhookDeliveries(endpointId: $webhookId, first: 10) { id status attempts log { attempt statusCode } } }',
    vars: (t) => ({ webhookId: t.webhookId }),
    crossTenant: true,
    roles: ['admin', 'platform'],
  },
  {
    name: 'createWebhookEndpoint',
    doc: 'mutation($tenantId: ID) { createWebhookEndpoint(input: { url: "https://93.184.216.34/x", events: ["alert.opened"], tenantId: $tenantId }) { secret endpoint { id } } }',
    vars: (t) => ({ tenantId: t.tenantId }),
    crossTenant: true,
    roles: ['admin', 'platform'],
  },
  { name: 'rotateWebhookEndpointSecret', doc: 'mutation($webhookId: ID!) { rotateWebhookEndpointSecret(id: $webhookId) { secret endpoint { id } } }', vars: (t) => ({ webhookId: t.webhookId }), crossTenant: true, roles: ['admin', 'platform'] },
  { name: 'sendTestWebhook', doc: 'mutation($webhookId: ID!) { sendTestWebhook(id: $webhookId) }', vars: (t) => ({ webhookId: t.webhookId }), crossTenant: true, roles: ['admin', 'platform'] },
  { name: 'disableWebhookEndpoint', doc: 'mutation($webhookId: ID!) { disableWebhookEndpoint(id: $webhookId) { id active } }', vars: (t) => ({ webhookId: t.webhookId }), crossTenant: true, roles: ['admin', 'platform'] },
  { name: 'acknowledgeAlert', doc: 'mutation($alertId: ID!) { acknowledgeAlert(id: $alertId) { id status } }', vars: (t) => ({ alertId: t.alertId }), crossTenant: true, roles: ['admin', 'platform'] },
  { name: 'resolveAlert', doc: 'mutation($alertId: ID!) { resolveAlert(id: $alertId) { id status } }', vars: (t) => ({ alertId: t.alertId }), crossTenant: true, roles: ['admin', 'platform'] },
  {
    name: 'createApiKey',
    doc: 'mutation($tenantId: ID) { createApiKey(input: { name: "x", tenantId: $tenantId }) { secret apiKey { id } } }',
    vars: (t) => ({ tenantId: t.tenantId }),
    crossTenant: true,
    roles: ['admin', 'platform'],
  },
  { name: 'revokeApiKey', doc: 'mutation($keyId: ID!) { revokeApiKey(id: $keyId) { id revokedAt } }', vars: (t) => ({ keyId: t.keyId }), crossTenant: true, roles: ['admin', 'platform'] },
  {
    name: 'createTenant',
    doc: 'mutation($name: String!) { createTenant(input: { name: $name, plan: "free" }) { id } }',
    vars: () => ({ name: uniqueName('sec') }),
    crossTenant: false,
    roles: ['platform'],
  },
  { name: 'setTenantPlan', doc: 'mutation($tenantId: ID!) { setTenantPlan(tenantId: $tenantId, plan: "pro") { id } }', vars: (t) => ({ tenantId: t.tenantId }), crossTenant: false, roles: ['platform'] },
  {
    name: 'tenantMargins',
    doc: 'query($range: TimeRangeInput!) { tenantMargins(range: $range, first: 5) { edges { node { tenant { id } } } } }',
    vars: () => ({ range }),
    crossTenant: false,
    roles: ['platform'],
  },
  {
    name: 'setQuotaOverride',
    doc: 'mutation($tenantId: ID!) { setQuotaOverride(input: { tenantId: $tenantId, meter: "requests", limit: 5 }) { override { id } } }',
    vars: (t) => ({ tenantId: t.tenantId }),
    crossTenant: false,
    roles: ['platform'],
  },
];

const bTarget = () => ({ tenantId: ids.b, keyId: ids.bKey, traceId: ids.bTrace, requestId: ids.bRequest, invoiceId: ids.bInvoice, alertId: ids.bAlert, webhookId: ids.bWebhook });
const missingTarget = () => ({ tenantId: randomUUID(), keyId: randomUUID(), traceId: randomTraceId(), requestId: `req-${randomUUID()}`, invoiceId: randomUUID(), alertId: randomUUID(), webhookId: randomUUID() });
const aTarget = () => ({ tenantId: ids.a, keyId: randomUUID(), traceId: ids.aTrace, requestId: ids.aRequest, invoiceId: ids.aInvoice, alertId: ids.aAlert, webhookId: ids.aWebhook });

function errorShape(r: GqlResponse) {
  return { status: r.status, data: r.data, errors: (r.errors ?? []).map((e) => ({ message: e.message, code: e.extensions.code, path: e.path })) };
}

describe('every operation without a principal', () => {
  it.each(ops.map((o) => [o.name, o] as const))('%s -> UNAUTHENTICATED', async (_name, op) => {
    const r = await gql(h.url, op.doc, { variables: op.vars(bTarget()) });
    expect(r.errors?.length).toBeGreaterThan(0);
    expect(new Set(codes(r))).toEqual(new Set(['UNAUTHENTICATED']));
    expect(r.data).toBeNull();
  });
});

describe("tenant A naming tenant B's objects", () => {
  const cross = ops.filter((o) => o.crossTenant);
  it.each(cross.map((o) => [o.name, o] as const))('%s -> NOT_FOUND, identical to a nonexistent id', async (_name, op) => {
    const token = op.roles.includes('admin') ? tokens.admin : tokens.member;
    const b = await gql(h.url, op.doc, { token, variables: op.vars(bTarget()) });
    const missing = await gql(h.url, op.doc, { token, variables: op.vars(missingTarget()) });
    expect(codes(b)).toEqual(['NOT_FOUND']);
    expect(errorShape(b)).toEqual(errorShape(missing));
  });

  it("tenant B's alert is untouched after A tried to acknowledge and resolve it", async () => {
    const { rows } = await h.pools.owner.query('SELECT status FROM alerts WHERE id = $1', [ids.bAlert]);
    expect(rows[0].status).toBe('open');
  });

  it("tenant B's webhook endpoint is untouched after A tried to rotate, test and disable it", async () => {
    const { rows } = await h.pools.owner.query('SELECT active FROM webhook_endpoints WHERE id = $1', [ids.bWebhook]);
    expect(rows[0].active).toBe(true);
    const { rows: d } = await h.pools.owner.query('SELECT count(*)::int AS n FROM webhook_deliveries WHERE endpoint_id = $1', [ids.bWebhook]);
    expect(d[0].n).toBe(0);
  });

  it("tenant B's key is still live after A tried to revoke it", async () => {
    const r = await gql(h.url, 'query($t: ID) { apiKeys(first: 10, tenantId: $t) { edges { node { id revokedAt } } } }', { token: tokens.platform, variables: { t: ids.b } });
    expect(r.data.apiKeys.edges).toEqual([{ node: { id: ids.bKey, revokedAt: null } }]);
  });

  it('the same operations reach their own objects (so NOT_FOUND above is the tenant wall)', async () => {
    const own = aTarget();
    for (const op of cross.filter((o) => o.name !== 'revokeApiKey')) {
      const token = op.roles.includes('admin') ? tokens.admin : tokens.member;
      const r = await gql(h.url, op.doc, { token, variables: op.vars(own) });
      expect([op.name, r.errors]).toEqual([op.name, undefined]);
    }
  });
});

describe('who may run each operation', () => {
  const principals = ['member', 'admin', 'finance', 'platform'] as const;
  for (const op of ops) {
    it(`${op.name}: allowed for ${op.roles.join(', ')}; FORBIDDEN for the others`, async () => {
      for (const role of principals) {
        const r = await gql(h.url, op.doc, { token: tokens[role], variables: op.vars(aTarget()) });
        const got = codes(r);
        if (op.roles.includes(role)) expect([role, got.filter((c) => c === 'FORBIDDEN' || c === 'UNAUTHENTICATED')]).toEqual([role, []]);
        else expect([role, got]).toEqual([role, ['FORBIDDEN']]);
      }
    });
  }
});

/**
 * The guarded-field matrix: Y = the role reads the field, F = FORBIDDEN on that field only.
 *
 * | field                                   | member | admin | finance | platform |
 * |-----------------------------------------|--------|-------|---------|----------|
 * | CostAttribution.totalMicros   (money)   |   F    |   Y   |    Y    |    Y     |
 * | CostSlice.costMicros          (money)   |   F    |   Y   |    Y    |    Y     |
 * | MeterCost.costMicros          (money)   |   F    |   Y   |    Y    |    Y     |
 * | Plan.priceComponents          (money)   |   F    |   Y   |    Y    |    Y     |
 * | CostAttribution.providerCostMicros      |   F    |   F   |    F    |    Y     |
 * | CostAttribution.marginMicros            |   F    |   F   |    F    |    Y     |
 * | CostSlice.providerCostMicros            |   F    |   F   |    F    |    Y     |
 * | Plan.priorityTier (plan internals)      |   F    |   F   |    F    |    Y     |
 * | Plan.active (plan internals)            |   F    |   F   |    F    |    Y     |
 * | Tenant.stripeCustomerId (Stripe id)     |   F    |   F   |    F    |    Y     |
 * | User.email of another user              |   F    |   Y   |    F    |    Y     |
 * | Invoice.totalMicros           (money)   |   F    |   Y   |    Y    |    Y     |
 * | Invoice.creditAppliedMicros, amountDueMicros (money) | F | Y |  Y    |    Y     |
 * | InvoiceLine.amountMicros      (money)   |   F    |   Y   |    Y    |    Y     |
 * | CreditNote.amountMicros       (money)   |   F    |   Y   |    Y    |    Y     |
 * | Invoice.hostedInvoiceUrl      (money)   |   F    |   Y   |    Y    |    Y     |
 * | Invoice.stripe (ids, sync state, error) |   F    |   F   |    Y    |    Y     |
 * | Invoice.subtotalMicros, taxMicros       |   F    |   Y   |    Y    |    Y     |
 * | InvoiceLine.unitPriceMicros   (money)   |   F    |   Y   |    Y    |    Y     |
 * | TenantMargin.total/providerCost/margin  |   F    |   F   |    F    |    Y     |  (under platform-only tenantMargins)
 * | User.email of oneself                   |   Y    |   Y   |    Y    |    -     |
 * API key secrets: no field exposes them after creation (checked on the schema below).
 */
type Cell = 'Y' | 'F';
/**
 * `forbiddenAt`: the field sits under a platform-only operation, so other roles are refused there;
 * `declares`: the field's own rule when it is wider than what the operation lets through.
 */
const matrix: Array<{ field: string; select: string; path: (string | number)[]; cells: Record<RoleName, Cell>; forbiddenAt?: (string | number)[]; declares?: readonly RoleName[] }> = [
  { field: 'CostAttribution.totalMicros', select: 'cost: costAttribution(range: $range, groupBy: MODEL, tenantId: $t) { totalMicros }', path: ['cost', 'totalMicros'], cells: { member: 'F', admin: 'Y', finance: 'Y', platform: 'Y' } },
  { field: 'CostSlice.costMicros', select: 'cost: costAttribution(range: $range, groupBy: MODEL, tenantId: $t) { slices { costMicros } }', path: ['cost', 'slices', 0, 'costMicros'], cells: { member: 'F', admin: 'Y', finance: 'Y', platform: 'Y' } },
  { field: 'MeterCost.costMicros', select: 'cost: costAttribution(range: $range, groupBy: MODEL, tenantId: $t) { meters { costMicros } }', path: ['cost', 'meters', 0, 'costMicros'], cells: { member: 'F', admin: 'Y', finance: 'Y', platform: 'Y' } },
  { field: 'Plan.priceComponents', select: 'tenant(id: $t) { plan { priceComponents { meter unitPriceMicros } } }', path: ['tenant', 'plan', 'priceComponents'], cells: { member: 'F', admin: 'Y', finance: 'Y', platform: 'Y' } },
  { field: 'CostAttribution.providerCostMicros', select: 'cost: costAttribution(range: $range, groupBy: MODEL, tenantId: $t) { providerCostMicros }', path: ['cost', 'providerCostMicros'], cells: { member: 'F', admin: 'F', finance: 'F', platform: 'Y' } },
  { field: 'CostAttribution.marginMicros', select: 'cost: costAttribution(range: $range, groupBy: MODEL, tenantId: $t) { marginMicros }', path: ['cost', 'marginMicros'], cells: { member: 'F', admin: 'F', finance: 'F', platform: 'Y' } },
  { field: 'CostSlice.providerCostMicros', select: 'cost: costAttribution(range: $range, groupBy: MODEL, tenantId: $t) { slices { providerCostMicros } }', path: ['cost', 'slices', 0, 'providerCostMicros'], cells: { member: 'F', admin: 'F', finance: 'F', platform: 'Y' } },
  { field: 'Plan.priorityTier', select: 'tenant(id: $t) { plan { priorityTier } }', path: ['tenant', 'plan', 'priorityTier'], cells: { member: 'F', admin: 'F', finance: 'F', platform: 'Y' } },
  { field: 'Plan.active', select: 'tenant(id: $t) { plan { active } }', path: ['tenant', 'plan', 'active'], cells: { member: 'F', admin: 'F', finance: 'F', platform: 'Y' } },
  { field: 'Tenant.stripeCustomerId', select: 'tenant(id: $t) { stripeCustomerId }', path: ['tenant', 'stripeCustomerId'], cells: { member: 'F', admin: 'F', finance: 'F', platform: 'Y' } },
  { field: 'Invoice.totalMicros', select: 'invoice(id: $inv, tenantId: $t) { totalMicros }', path: ['invoice', 'totalMicros'], cells: { member: 'F', admin: 'Y', finance: 'Y', platform: 'Y' } },
  { field: 'InvoiceLine.amountMicros', select: 'invoice(id: $inv, tenantId: $t) { lines { amountMicros } }', path: ['invoice', 'lines', 0, 'amountMicros'], cells: { member: 'F', admin: 'Y', finance: 'Y', platform: 'Y' } },
  { field: 'Invoice.subtotalMicros', select: 'invoice(id: $inv, tenantId: $t) { subtotalMicros }', path: ['invoice', 'subtotalMicros'], cells: { member: 'F', admin: 'Y', finance: 'Y', platform: 'Y' } },
  { field: 'Invoice.taxMicros', select: 'invoice(id: $inv, tenantId: $t) { taxMicros }', path: ['invoice', 'taxMicros'], cells: { member: 'F', admin: 'Y', finance: 'Y', platform: 'Y' } },
  { field: 'Invoice.creditAppliedMicros', select: 'invoice(id: $inv, tenantId: $t) { creditAppliedMicros }', path: ['invoice', 'creditAppliedMicros'], cells: { member: 'F', admin: 'Y', finance: 'Y', platform: 'Y' } },
  { field: 'Invoice.amountDueMicros', select: 'invoice(id: $inv, tenantId: $t) { amountDueMicros }', path: ['invoice', 'amountDueMicros'], cells: { member: 'F', admin: 'Y', finance: 'Y', platform: 'Y' } },
  { field: 'InvoiceLine.unitPriceMicros', select: 'invoice(id: $inv, tenantId: $t) { lines { unitPriceMicros } }', path: ['invoice', 'lines', 0, 'unitPriceMicros'], cells: { member: 'F', admin: 'Y', finance: 'Y', platform: 'Y' } },
  ...(['totalMicros', 'providerCostMicros', 'marginMicros'] as const).map((f) => ({
    field: `TenantMargin.${f}`,
    select: `margins: tenantMargins(range: $range, first: 1, tenantIds: [$t]) { edges { node { ${f} } } }`,
    path: ['margins', 'edges', 0, 'node', f],
    cells: { member: 'F', admin: 'F', finance: 'F', platform: 'Y' } as Record<RoleName, Cell>,
    forbiddenAt: ['margins'],
    declares: f === 'totalMicros' ? (['admin', 'finance', 'platform'] as const) : (['platform'] as const),
  })),
  { field: 'CreditNote.amountMicros', select: 'invoice(id: $inv, tenantId: $t) { creditNotes { amountMicros } }', path: ['invoice', 'creditNotes', 0, 'amountMicros'], cells: { member: 'F', admin: 'Y', finance: 'Y', platform: 'Y' } },
  { field: 'Invoice.hostedInvoiceUrl', select: 'invoice(id: $inv, tenantId: $t) { hostedInvoiceUrl }', path: ['invoice', 'hostedInvoiceUrl'], cells: { member: 'F', admin: 'Y', finance: 'Y', platform: 'Y' } },
  { field: 'Invoice.stripe', select: 'invoice(id: $inv, tenantId: $t) { stripe { stripeInvoiceId syncState lastError } }', path: ['invoice', 'stripe'], cells: { member: 'F', admin: 'F', finance: 'Y', platform: 'Y' } },
  {
    field: 'User.email (another user)',
    select: 'apiKeys(first: 100, tenantId: $t) { edges { node { id createdBy { id email } } } }',
    path: ['apiKeys', 'edges', '*', 'node', 'createdBy', 'email'],
    cells: { member: 'F', admin: 'Y', finance: 'F', platform: 'Y' },
  },
];

function getPath(data: unknown, path: (string | number)[]): unknown {
  let cur: unknown = data;
  for (const p of path) {
    if (cur === null || cur === undefined) return cur;
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return cur;
}

describe('role x guarded field matrix', () => {
  for (const row of matrix) {
    for (const role of ['member', 'admin', 'finance', 'platform'] as const) {
      const cell = row.cells[role];
      it(`${row.field} as ${role}: ${cell === 'Y' ? 'readable' : 'FORBIDDEN on that field only'}`, async () => {
        // `viewer { id }` rides along: a denied field must not take the rest of the query down.
        const usesRange = row.select.includes('$range');
        const usesInv = row.select.includes('$inv');
        // A tenant id inside a list argument ([ID!]) must be non-null.
        const doc = `query($t: ID${row.select.includes('[$t]') ? '!' : ''}${usesRange ? ', $range: TimeRangeInput!' : ''}${usesInv ? ', $inv: ID!' : ''}) { viewer { id } ${row.select} }`;
        const variables: Record<string, unknown> = { t: ids.a };
        if (usesRange) variables.range = range;
        if (usesInv) variables.inv = ids.aInvoice;
        const r = await gql(h.url, doc, { token: tokens[role], variables });
        // Under a refused non-null operation the whole answer is null; otherwise the rest survives.
        if (!(cell === 'F' && row.forbiddenAt)) expect(r.data?.viewer?.id).toBeTruthy();
        let path = row.path;
        if (path.includes('*')) {
          // The key created by another admin of tenant A.
          const edges = r.data.apiKeys.edges as Array<{ node: { id: string } }>;
          const i = edges.findIndex((e) => e.node.id === ids.aKey);
          expect(i).toBeGreaterThanOrEqual(0);
          path = path.map((p) => (p === '*' ? i : p));
          expect(r.data.apiKeys.edges[i].node.createdBy.id).toBe(users.otherAdmin!.id);
        }
        if (cell === 'F' && row.forbiddenAt) path = row.forbiddenAt;
        const value = getPath(r.data, path);
        const errorsHere = (r.errors ?? []).filter((e) => JSON.stringify(e.path) === JSON.stringify(path));
        if (cell === 'Y') {
          expect(r.errors).toBeUndefined();
          expect(value).not.toBeNull();
          expect(value).not.toBeUndefined();
        } else {
          expect(value).toBeNull();
          expect(errorsHere.map((e) => e.extensions.code)).toEqual(['FORBIDDEN']);
          expect(codes(r).every((c) => c === 'FORBIDDEN')).toBe(true);
        }
      });
    }
  }

  it.each(['member', 'admin', 'finance'] as const)('User.email of oneself is readable as %s', async (role) => {
    const r = await gql(h.url, '{ viewer { user { id email } } }', { token: tokens[role] });
    expect(r.errors).toBeUndefined();
    expect(r.data.viewer.user).toEqual({ id: users[role]!.id, email: users[role]!.email });
  });

  it('API keys of every role follow the same matrix (money: finance key reads, member key does not)', async () => {
    const doc = 'query($range: TimeRangeInput!) { costAttribution(range: $range, groupBy: MODEL) { totalMicros } }';
    const asFinance = await gql(h.url, doc, { token: tokens.keyFinance, variables: { range } });
    const asMember = await gql(h.url, doc, { token: tokens.keyMember, variables: { range } });
    const asAdmin = await gql(h.url, doc, { token: tokens.keyAdmin, variables: { range } });
    expect(asFinance.errors).toBeUndefined();
    expect(asAdmin.errors).toBeUndefined();
    expect(codes(asMember)).toEqual(['FORBIDDEN']);
  });

  it('no type exposes an API key secret except the createApiKey payload (webhook signing secrets: only creation and rotation)', () => {
    const types = h.server.schema.getTypeMap();
    const withSecret = Object.values(types)
      .filter((t) => 'getFields' in t && !t.name.startsWith('__'))
      .filter((t) => Object.keys((t as { getFields(): Record<string, unknown> }).getFields()).some((f) => /secret|hash/i.test(f)))
      .map((t) => t.name);
    expect(withSecret.sort()).toEqual(['CreateApiKeyPayload', 'Mutation', 'WebhookEndpointWithSecret']);
    const mutations = Object.keys(h.server.schema.getMutationType()!.getFields()).filter((f) => /secret|hash/i.test(f));
    expect(mutations).toEqual(['rotateWebhookEndpointSecret']);
  });
});

describe('credentials that must be rejected', () => {
  const doc = '{ viewer { id } }';
  let userId = '';
  beforeAll(() => {
    userId = users.member!.id;
  });

  it('a valid token is accepted (control)', async () => {
    const r = await gql(h.url, doc, { token: await mintJwt(h.config, { sub: userId, tid: ids.a, role: 'member' }) });
    expect(r.errors).toBeUndefined();
  });

  it.each([
    ['forged (wrong secret)', { secret: 'x'.repeat(48) }],
    ['expired', { expiresIn: Math.floor(Date.now() / 1000) - 60 }],
    ['wrong audience', { audience: 'someone-else' }],
    ['wrong issuer', { issuer: 'evil' }],
    ['HS512 (algorithm not pinned)', { alg: 'HS512' }],
  ] as const)('%s -> UNAUTHENTICATED (401)', async (_label, over) => {
    const token = await mintJwt(h.config, { sub: userId, tid: ids.a, role: 'member' }, over);
    const r = await gql(h.url, doc, { token });
    expect(codes(r)).toEqual(['UNAUTHENTICATED']);
    expect(r.status).toBe(401);
    expect(r.data ?? null).toBeNull();
  });

  it('alg: none -> UNAUTHENTICATED', async () => {
    const token = new UnsecuredJWT({ role: 'admin', tid: ids.a }).setSubject(userId).setIssuer(h.config.JWT_ISSUER).setAudience(h.config.JWT_AUDIENCE).setExpirationTime('10m').encode();
    const r = await gql(h.url, doc, { token });
    expect(codes(r)).toEqual(['UNAUTHENTICATED']);
  });

  it('a tampered payload (role escalated, signature kept) -> UNAUTHENTICATED', async () => {
    const token = await mintJwt(h.config, { sub: userId, tid: ids.a, role: 'member' });
    const [head, , sig] = token.split('.');
    const body = Buffer.from(JSON.stringify({ sub: userId, tid: ids.a, role: 'platform', iss: h.config.JWT_ISSUER, aud: h.config.JWT_AUDIENCE, exp: Math.floor(Date.now() / 1000) + 600 })).toString('base64url');
    const r = await gql(h.url, doc, { token: `${head}.${body}.${sig}` });
    expect(codes(r)).toEqual(['UNAUTHENTICATED']);
  });

  it('claims without a tenant for a tenant role -> UNAUTHENTICATED', async () => {
    const r = await gql(h.url, doc, { token: await mintJwt(h.config, { sub: userId, tid: null, role: 'admin' }) });
    expect(codes(r)).toEqual(['UNAUTHENTICATED']);
  });

  it('garbage and unknown API keys -> UNAUTHENTICATED', async () => {
    for (const token of ['not-a-jwt', 'tg_' + 'a'.repeat(40), 'a.b.c']) {
      const r = await gql(h.url, doc, { token });
      expect([token, codes(r)]).toEqual([token, ['UNAUTHENTICATED']]);
    }
  });

  it('HS/RS confusion: an RS256 server refuses HS256 tokens signed with its public key, and the HS256 server refuses RS256 tokens', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), alg: 'RS256', kid: 'k1' };
    const rs = await startHarness({ env: { JWT_ALGORITHMS: 'RS256' }, server: { jwtKeySet: createLocalJWKSet({ keys: [jwk] }) } });
    try {
      const claims = { role: 'member', tid: ids.a };
      const good = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setSubject(userId).setIssuer(h.config.JWT_ISSUER).setAudience(h.config.JWT_AUDIENCE).setIssuedAt().setExpirationTime('5m').sign(privateKey);
      expect((await gql(rs.url, doc, { token: good })).errors).toBeUndefined();
      const pem = await exportSPKI(publicKey);
      for (const secret of [pem, JSON.stringify(jwk)]) {
        const confused = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).setSubject(userId).setIssuer(h.config.JWT_ISSUER).setAudience(h.config.JWT_AUDIENCE).setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode(secret));
        expect(codes(await gql(rs.url, doc, { token: confused }))).toEqual(['UNAUTHENTICATED']);
      }
      expect(codes(await gql(h.url, doc, { token: good }))).toEqual(['UNAUTHENTICATED']);
    } finally {
      await rs.close();
    }
  });

  it('a revoked API key is rejected', async () => {
    const key = await createApiKey({ tenantId: ids.a, role: 'member' });
    expect((await gql(h.url, doc, { token: key.secret })).errors).toBeUndefined();
    const r = await gql(h.url, 'mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }', { token: tokens.admin, variables: { id: key.keyId } });
    expect(r.data.revokeApiKey.revokedAt).toBeTruthy();
    // Revocation reaches the authenticator's cache through Redis pub/sub: allow it a moment.
    let last: GqlResponse | undefined;
    for (let i = 0; i < 40; i++) {
      last = await gql(h.url, doc, { token: key.secret });
      if (last.errors) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(codes(last!)).toEqual(['UNAUTHENTICATED']);
  });
});

describe('a suspended tenant loses API access', () => {
  const doc = '{ viewer { id } }';

  /** Retries while the key cache learns the status change through Redis pub/sub. */
  async function untilForbidden(token: string): Promise<GqlResponse> {
    let last: GqlResponse | undefined;
    for (let i = 0; i < 40; i++) {
      last = await gql(h.url, doc, { token });
      if (last.errors) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    return last!;
  }

  it('API keys and JWT users of the tenant -> FORBIDDEN "tenant suspended" (403); platform unaffected; reactivation restores access', async () => {
    const s = await createTenant();
    const key = await createApiKey({ tenantId: s.id, role: 'admin' });
    const admin = await createUser({ tenantId: s.id, role: 'admin' });
    const userToken = await mintJwt(h.config, { sub: admin.id, tid: s.id, role: 'admin' });
    const platformUser = await createUser({});
    const platformHome = await mintJwt(h.config, { sub: platformUser.id, tid: s.id, role: 'platform' });
    // Control: all of them work while the tenant is active (and the key is now cached as active).
    for (const token of [key.secret, userToken, platformHome]) expect((await gql(h.url, doc, { token })).errors).toBeUndefined();

    await setTenantStatus({ pools: h.pools, redis: h.redis, config: h.config }, { tenantId: s.id, status: 'suspended', actor: testActor });
    for (const token of [key.secret, userToken]) {
      const r = await untilForbidden(token);
      expect(codes(r)).toEqual(['FORBIDDEN']);
      expect(r.errors![0]!.message).toBe('tenant suspended');
      expect(r.status).toBe(403);
      expect(r.data ?? null).toBeNull();
    }
    // A key sent in X-API-Key is refused the same way; so are mutations.
    const viaHeader = await gql(h.url, doc, { headers: { 'x-api-key': key.secret } });
    expect([viaHeader.status, codes(viaHeader)]).toEqual([403, ['FORBIDDEN']]);
    const mutation = await gql(h.url, 'mutation { createApiKey(input: { name: "while-suspended" }) { apiKey { id } } }', { token: userToken });
    expect([mutation.status, codes(mutation)]).toEqual([403, ['FORBIDDEN']]);
    const { rows } = await withPlatform(h.pools.app, (c) => c.query(`SELECT count(*)::int AS n FROM api_keys WHERE tenant_id = $1 AND name = 'while-suspended'`, [s.id]));
    expect(rows[0].n).toBe(0);

    // Platform operators (with or without that home tenant) still read and manage it.
    for (const token of [tokens.platform, platformHome]) {
      const r = await gql(h.url, 'query($id: ID!) { tenant(id: $id) { id status } }', { token, variables: { id: s.id } });
      expect(r.errors).toBeUndefined();
      expect(r.data.tenant).toEqual({ id: s.id, status: 'suspended' });
    }
    // Another tenant's principals are unaffected.
    expect((await gql(h.url, doc, { token: tokens.keyMember })).errors).toBeUndefined();
    expect((await gql(h.url, doc, { token: tokens.member })).errors).toBeUndefined();

    await setTenantStatus({ pools: h.pools, redis: h.redis, config: h.config }, { tenantId: s.id, status: 'active', actor: testActor });
    let back: GqlResponse | undefined;
    for (let i = 0; i < 40; i++) {
      back = await gql(h.url, doc, { token: key.secret });
      if (!back.errors) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(back!.errors).toBeUndefined();
    expect((await gql(h.url, doc, { token: userToken })).errors).toBeUndefined();
  });
});

describe('query bombs are rejected before execution', () => {
  async function countKeys(tenantId: string): Promise<number> {
    const { rows } = await withPlatform(h.pools.app, (c) => c.query('SELECT count(*)::int AS n FROM api_keys WHERE tenant_id = $1', [tenantId]));
    return rows[0].n;
  }

  it('deep nesting', async () => {
    let inner = 'name';
    for (let i = 0; i < 12; i++) inner = `ofType { ${inner} }`;
    const r = await gql(h.url, `{ __schema { types { fields { type { ${inner} } } } } }`, { token: tokens.admin });
    expect(codes(r)).toEqual(['BAD_USER_INPUT']);
    expect(r.errors![0]!.message).toMatch(/depth/i);
    expect(r.data).toBeUndefined();
  });

  it('too many aliases (and a mutation alias bomb creates nothing)', async () => {
    const aliases = Array.from({ length: 20 }, (_, i) => `a${i}: viewer { id }`).join(' ');
    const r = await gql(h.url, `{ ${aliases} }`, { token: tokens.admin });
    expect(codes(r)).toEqual(['BAD_USER_INPUT']);
    expect(r.errors![0]!.message).toMatch(/alias/i);
    expect(r.data).toBeUndefined();

    const before = await countKeys(ids.a);
    const m = Array.from({ length: 20 }, (_, i) => `k${i}: createApiKey(input: { name: "bomb" }) { secret }`).join(' ');
    const rm = await gql(h.url, `mutation { ${m} }`, { token: tokens.admin });
    expect(codes(rm)).toEqual(['BAD_USER_INPUT']);
    expect(await countKeys(ids.a)).toBe(before);
  });

  it('thousands of aliases -> refused by the token limit before parsing', async () => {
    const aliases = Array.from({ length: 3000 }, (_, i) => `a${i}: viewer { id }`).join(' ');
    const r = await gql(h.url, `{ ${aliases} }`, { token: tokens.admin });
    expect(r.status).toBe(400);
    expect(codes(r)).toEqual(['BAD_USER_INPUT']);
    expect(r.errors![0]!.message).toMatch(/tokens/);
    expect(r.data).toBeUndefined();
  });

  it('huge lists: first beyond 100 as a literal or a variable', async () => {
    const lit = await gql(h.url, '{ apiKeys(first: 100000) { edges { node { id } } } }', { token: tokens.admin });
    expect(codes(lit).length).toBeGreaterThan(0);
    expect(codes(lit).every((c) => c === 'BAD_USER_INPUT')).toBe(true);
    expect(lit.data).toBeUndefined();
    const v = await gql(h.url, 'query($n: PageSize!) { apiKeys(first: $n) { edges { node { id } } } }', { token: tokens.admin, variables: { n: 1_000_000 } });
    expect(codes(v)).toEqual(['BAD_USER_INPUT']);
    expect(v.data).toBeUndefined();
    const zero = await gql(h.url, '{ tenants(first: 0) { edges { node { id } } } }', { token: tokens.platform });
    expect(codes(zero).length).toBeGreaterThan(0);
    expect(codes(zero).every((c) => c === 'BAD_USER_INPUT')).toBe(true);
  });

  it('expensive queries over the cost limit', async () => {
    // Each alias lists 100 tenants with nested plans: a page multiplies the cost of what it selects.
    const sel = 'edges { cursor node { id name plan { code quotas { meter limit hard } } } }';
    const fields = Array.from({ length: 5 }, (_, i) => `t${i}: tenants(first: 100) { ${sel} }`).join(' ');
    const r = await gql(h.url, `{ ${fields} }`, { token: tokens.platform });
    expect(codes(r)).toEqual(['BAD_USER_INPUT']);
    expect(r.errors![0]!.message).toMatch(/cost/i);
    expect(r.data).toBeUndefined();
    // One such page is within the limit.
    const one = await gql(h.url, `{ tenants(first: 100) { ${sel} } }`, { token: tokens.platform });
    expect(one.errors).toBeUndefined();
  });

  it('time ranges beyond the maximum span', async () => {
    const wide = { from: '2020-01-01T00:00:00Z', to: '2026-01-01T00:00:00Z' };
    const u = await gql(h.url, 'query($r: TimeRangeInput!) { usage(range: $r, granularity: MINUTE) { series { key } } }', { token: tokens.admin, variables: { r: wide } });
    expect(codes(u)).toEqual(['BAD_USER_INPUT']);
    const c = await gql(h.url, 'query($r: TimeRangeInput!) { costAttribution(range: $r, groupBy: DAY) { slices { key } } }', { token: tokens.admin, variables: { r: wide } });
    expect(codes(c)).toEqual(['BAD_USER_INPUT']);
  });
});

/**
 * The suite is derived from the schema, so it cannot fall behind it: every Query/Mutation field
 * has a row in `ops` whose roles are the ones its resolver declares (`@Authorized`), and every
 * guarded object field (`@Authorized` on a field or field resolver) has a row in `matrix` whose
 * cells are its declared roles. A new operation or guarded field without a row fails here.
 */
describe('the suite covers the schema', () => {
  const principals = ['member', 'admin', 'finance', 'platform'] as const;
  const storage = () => getMetadataStorage();
  const declaredRoles = (target: object, fieldName: string): string[] | undefined => storage().authorizedFields.find((a) => a.target === target && a.fieldName === fieldName)?.roles as string[] | undefined;

  /** A row names its operation first ("alerts (explanation, model)": one operation may have several rows). */
  const operationOf = (op: Op) => op.name.split(' ')[0]!;

  it('every query and mutation has a row in the operations list, and every row names one', () => {
    const schema = h.server.schema;
    const operations = [...Object.keys(schema.getQueryType()!.getFields()), ...Object.keys(schema.getMutationType()?.getFields() ?? {})].sort();
    assert.deepStrictEqual([...new Set(ops.map(operationOf))].sort(), operations);
  });

  it("each operation's rows allow the roles its resolver declares (no @Authorized: any principal)", () => {
    const handlers = [...storage().queries, ...storage().mutations];
    const declared = new Map<string, string[]>();
    const tested = new Map<string, Set<string>>();
    for (const op of ops) {
      const name = operationOf(op);
      const handler = handlers.find((x) => x.schemaName === name);
      expect(handler, `resolver of ${name}`).toBeDefined();
      const rule = declaredRoles(handler!.target, handler!.methodName);
      const allowed = rule && rule.length ? principals.filter((r) => rule.includes(r)) : [...principals];
      declared.set(name, allowed);
      // A row may be narrower (an argument that needs more, e.g. money), never wider than the rule.
      assert.deepStrictEqual({ op: op.name, beyondRule: op.roles.filter((r) => !allowed.includes(r as never)) }, { op: op.name, beyondRule: [] });
      const t = tested.get(name) ?? new Set<string>();
      for (const r of op.roles) t.add(r);
      tested.set(name, t);
    }
    // Together an operation's rows cover exactly who its rule lets in.
    const union = [...tested].map(([name, roles]) => ({ op: name, roles: principals.filter((r) => roles.has(r)) }));
    assert.deepStrictEqual(union, [...tested.keys()].map((name) => ({ op: name, roles: declared.get(name) })));
  });

  it('every guarded field has a matrix row with its declared roles', () => {
    const s = storage();
    const guarded = new Map<string, string[]>();
    for (const a of s.authorizedFields) {
      const objectType = s.objectTypes.find((o) => o.target === a.target);
      if (objectType) {
        const field = s.fields.find((f) => f.target === a.target && f.name === a.fieldName);
        guarded.set(`${objectType.name}.${field?.schemaName ?? a.fieldName}`, a.roles as string[]);
        continue;
      }
      const resolver = s.fieldResolvers.find((f) => f.target === a.target && f.methodName === a.fieldName);
      if (resolver) {
        const owner = s.objectTypes.find((o) => o.target === resolver.getObjectType?.());
        guarded.set(`${owner?.name ?? '?'}.${resolver.schemaName}`, a.roles as string[]);
      }
    }
    // Rows name the field first ("User.email (another user)"); `self` is the reader's own object, checked above.
    const rows = new Map(matrix.map((m) => [m.field.split(' ')[0]!, principals.filter((r) => (m.declares ? m.declares.includes(r) : m.cells[r] === 'Y'))]));
    const missingRows = [...guarded.keys()].filter((f) => !rows.has(f)).sort();
    const rowsWithoutGuard = [...rows.keys()].filter((f) => !guarded.has(f)).sort();
    assert.deepStrictEqual({ missingRows, rowsWithoutGuard }, { missingRows: [], rowsWithoutGuard: [] });
    const declared = [...guarded].map(([field, roles]) => `${field}: ${principals.filter((r) => roles.includes(r)).join(',')}`).sort();
    assert.deepStrictEqual(declared, [...rows].map(([field, roles]) => `${field}: ${roles.join(',')}`).sort());
  });
});
