/**
 * Protection and bookkeeping: audit rows for every mutation, DataLoader batching (query count
 * independent of page size), per-tenant API rate limit, introspection off in production,
 * persisted-query safelist, masked internal errors with a request id.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { buildClientSchema, buildSchema, getIntrospectionQuery, lexicographicSortSchema, printSchema, type GraphQLSchema, type IntrospectionQuery } from 'graphql';
import { MAX_OF_TYPE } from '../../graphql/src/server/introspection-limits.js';
import { withPlatform } from '../../src/db/index.js';
import { quotaKeys } from '../../src/quotas/index.js';
import { closeFactories, createApiKey, createTenant, createUser, uniqueName } from '../factories.js';
import { codes, gql, mintJwt, startHarness, type Harness } from './harness.js';

let h: Harness;
let queries = 0;

beforeAll(async () => {
  h = await startHarness({
    wrapPools: (pools) => {
      // Count every statement the API sends through the app pool.
      pools.app.on('acquire', (client: pg.PoolClient & { __counted?: boolean }) => {
        if (client.__counted) return;
        client.__counted = true;
        const original = client.query.bind(client) as (...a: unknown[]) => unknown;
        (client as unknown as { query: (...a: unknown[]) => unknown }).query = (...args: unknown[]) => {
          queries++;
          return original(...args);
        };
      });
      return pools;
    },
  });
});
afterAll(async () => {
  await h?.close();
  await closeFactories();
});

async function platformToken() {
  const u = await createUser({});
  return mintJwt(h.config, { sub: u.id, tid: null, role: 'platform' });
}

async function auditRows(requestId: string) {
  const { rows } = await h.pools.owner.query('SELECT tenant_id, actor_type, actor_id, action, target_type, target_id, before, after, request_id FROM audit_log WHERE request_id = $1 ORDER BY id', [requestId]);
  return rows;
}

describe('audit log', () => {
  it('every mutation records who, what, when and before/after with the request id', async () => {
    const t = await createTenant();
    const admin = await createUser({ tenantId: t.id, role: 'admin' });
    const adminToken = await mintJwt(h.config, { sub: admin.id, tid: t.id, role: 'admin' });
    const ptoken = await platformToken();
    const pid = JSON.parse(Buffer.from(ptoken.split('.')[1]!, 'base64url').toString()).sub;

    const c = await gql(h.url, 'mutation { createApiKey(input: { name: "ci", role: FINANCE }) { secret apiKey { id prefix } } }', { token: adminToken });
    expect(c.errors).toBeUndefined();
    const keyId = c.data.createApiKey.apiKey.id;
    const [create] = await auditRows(c.headers.get('x-request-id')!);
    expect(create).toMatchObject({ tenant_id: t.id, actor_type: 'user', actor_id: admin.id, action: 'api_key.create', target_type: 'api_key', target_id: keyId, before: null });
    expect(create.after).toMatchObject({ id: keyId, role: 'finance', name: 'ci' });
    expect(JSON.stringify(create.after)).not.toContain(c.data.createApiKey.secret);

    const rv = await gql(h.url, 'mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }', { token: adminToken, variables: { id: keyId } });
    const [revoke] = await auditRows(rv.headers.get('x-request-id')!);
    expect(revoke).toMatchObject({ actor_type: 'user', actor_id: admin.id, action: 'api_key.revoke', target_id: keyId });
    expect(revoke.before.revokedAt).toBeNull();
    expect(revoke.after.revokedAt).toBeTruthy();

    const name = uniqueName('aud');
    const ct = await gql(h.url, 'mutation($n: String!) { createTenant(input: { name: $n, plan: "free", timezone: "Europe/Paris" }) { id name timezone } }', { token: ptoken, variables: { n: name } });
    expect(ct.errors).toBeUndefined();
    const newId = ct.data.createTenant.id;
    const [tc] = await auditRows(ct.headers.get('x-request-id')!);
    expect(tc).toMatchObject({ tenant_id: newId, actor_type: 'platform', actor_id: pid, action: 'tenant.create', before: null });
    expect(tc.after).toMatchObject({ name, plan: 'free' });

    const sp = await gql(h.url, 'mutation($t: ID!) { setTenantPlan(tenantId: $t, plan: "pro") { id plan { code } } }', { token: ptoken, variables: { t: newId } });
    expect(sp.errors).toBeUndefined();
    expect(sp.data.setTenantPlan.plan.code).toBe('pro');
    const [pc] = await auditRows(sp.headers.get('x-request-id')!);
    expect(pc).toMatchObject({ actor_type: 'platform', action: 'tenant.plan_change', before: { plan: 'free' } });
    expect(pc.after).toMatchObject({ plan: 'pro' });

    const again = await gql(h.url, 'mutation($t: ID!) { setTenantPlan(tenantId: $t, plan: "pro") { id } }', { token: ptoken, variables: { t: newId } });
    const [noop] = await auditRows(again.headers.get('x-request-id')!);
    expect(noop).toMatchObject({ action: 'tenant.plan_change.noop', before: { plan: 'pro' }, after: { plan: 'pro' } });

    const qo = await gql(h.url, 'mutation($t: ID!) { setQuotaOverride(input: { tenantId: $t, meter: "requests", limit: 777, reason: "trial" }) { override { limit meter reason } } }', { token: ptoken, variables: { t: newId } });
    expect(qo.errors).toBeUndefined();
    expect(qo.data.setQuotaOverride.override).toEqual({ limit: 777, meter: 'requests', reason: 'trial' });
    const [ov] = await auditRows(qo.headers.get('x-request-id')!);
    expect(ov).toMatchObject({ tenant_id: newId, actor_type: 'platform', action: 'quota_override.set', before: null });
    expect(ov.after).toMatchObject({ limit: 777 });
    // The override shows in quotas.
    const q = await gql(h.url, 'query($t: ID) { quotas(tenantId: $t) { meters { meter limit } } }', { token: ptoken, variables: { t: newId } });
    expect(q.data.quotas.meters.find((m: { meter: string }) => m.meter === 'requests').limit).toBe(777);
  });

  it('acknowledging and resolving an alert are audited with before/after', async () => {
    const t = await createTenant();
    const admin = await createUser({ tenantId: t.id, role: 'admin' });
    const token = await mintJwt(h.config, { sub: admin.id, tid: t.id, role: 'admin' });
    const { rows } = await withPlatform(h.pools.app, (c) => c.query(`INSERT INTO alerts (tenant_id, kind, metric, dedup_key, title) VALUES ($1, 'anomaly', 'error_rate', 'k1', 'errors') RETURNING id`, [t.id]));
    const id = rows[0].id;
    const ack = await gql(h.url, 'mutation($id: ID!) { acknowledgeAlert(id: $id) { status acknowledgedAt } }', { token, variables: { id } });
    expect(ack.data.acknowledgeAlert.status).toBe('acknowledged');
    const [a] = await auditRows(ack.headers.get('x-request-id')!);
    expect(a).toMatchObject({ action: 'alert.acknowledge', actor_type: 'user', actor_id: admin.id, target_id: id, before: { status: 'open' }, after: { status: 'acknowledged' } });
    const res = await gql(h.url, 'mutation($id: ID!) { resolveAlert(id: $id) { status resolvedAt } }', { token, variables: { id } });
    expect(res.data.resolveAlert.status).toBe('resolved');
    const [b] = await auditRows(res.headers.get('x-request-id')!);
    expect(b).toMatchObject({ action: 'alert.resolve', before: { status: 'acknowledged' }, after: { status: 'resolved' } });
    const again = await gql(h.url, 'mutation($id: ID!) { acknowledgeAlert(id: $id) { status } }', { token, variables: { id } });
    expect(codes(again)).toEqual(['BAD_USER_INPUT']);
    const list = await gql(h.url, '{ alerts(first: 5, status: "resolved") { edges { node { id title } } } }', { token });
    expect(list.data.alerts.edges).toEqual([{ node: { id, title: 'errors' } }]);
  });

  it('a failed mutation writes no audit row', async () => {
    const t = await createTenant();
    const admin = await createUser({ tenantId: t.id, role: 'admin' });
    const token = await mintJwt(h.config, { sub: admin.id, tid: t.id, role: 'admin' });
    const r = await gql(h.url, 'mutation { createApiKey(input: { expiresAt: "2001-01-01T00:00:00Z" }) { secret } }', { token });
    expect(codes(r)).toEqual(['BAD_USER_INPUT']);
    expect(await auditRows(r.headers.get('x-request-id')!)).toEqual([]);
  });
});

describe('plan and override changes are announced to admission', () => {
  it('setTenantPlan and setQuotaOverride publish the tenant id on the limits channel after commit; a failed mutation publishes nothing', async () => {
    const p = await createUser({});
    const ptoken = await mintJwt(h.config, { sub: p.id, tid: null, role: 'platform' });
    const t = await createTenant({ plan: 'free' });
    const other = await createTenant({ plan: 'free' });
    // What each message saw when it arrived: the committed plan and requests override of its tenant.
    const seen: Array<Promise<{ tenantId: string; plan: string; override: string | null }>> = [];
    const sub = h.redis.duplicate();
    sub.on('message', (_ch: string, tenantId: string) => {
      seen.push(
        withPlatform(h.pools.app, async (c) => {
          const { rows } = await c.query(
            `SELECT p.code, (SELECT limit_value::text FROM quota_overrides o WHERE o.tenant_id = $1 AND o.meter = 'requests' AND o.api_key_id IS NULL AND (o.effective_to IS NULL OR o.effective_to > now())) AS override
             FROM tenant_plans tp JOIN plans p ON p.id = tp.plan_id WHERE tp.tenant_id = $1 AND tp.effective_to IS NULL`,
            [tenantId],
          );
          return { tenantId, plan: rows[0]?.code ?? '', override: rows[0]?.override ?? null };
        }),
      );
    });
    await sub.subscribe(quotaKeys(h.config.REDIS_PREFIX).limitsChannel);
    const waitFor = async (n: number) => {
      for (let i = 0; i < 100 && seen.length < n; i++) await new Promise((res) => setTimeout(res, 20));
      expect(seen).toHaveLength(n);
      await Promise.all(seen); // each read finishes before the next change starts
    };
    try {
      const bad = await gql(h.url, 'mutation($t: ID!) { setTenantPlan(tenantId: $t, plan: "no-such-plan") { id } }', { token: ptoken, variables: { t: other.id } });
      expect(codes(bad)).toEqual(['BAD_USER_INPUT']);
      const sp = await gql(h.url, 'mutation($t: ID!) { setTenantPlan(tenantId: $t, plan: "pro") { id } }', { token: ptoken, variables: { t: t.id } });
      expect(sp.errors).toBeUndefined();
      await waitFor(1);
      const qo = await gql(h.url, 'mutation($t: ID!) { setQuotaOverride(input: { tenantId: $t, meter: "requests", limit: 4321 }) { override { limit } } }', { token: ptoken, variables: { t: t.id } });
      expect(qo.errors).toBeUndefined();
      await waitFor(2);
      const clear = await gql(h.url, 'mutation($t: ID!) { setQuotaOverride(input: { tenantId: $t, meter: "requests", limit: null }) { override { limit } } }', { token: ptoken, variables: { t: t.id } });
      expect(clear.errors).toBeUndefined();
      await waitFor(3);
      // In order, each after its change committed; nothing for the failed mutation on the other tenant.
      expect(await Promise.all(seen)).toEqual([
        { tenantId: t.id, plan: 'pro', override: null },
        { tenantId: t.id, plan: 'pro', override: '4321' },
        { tenantId: t.id, plan: 'pro', override: null },
      ]);
    } finally {
      await sub.quit().catch(() => sub.disconnect());
    }
  });
});

describe('DataLoader', () => {
  it('a nested list query makes the same number of SQL statements for 2 or 20 tenants', async () => {
    const token = await platformToken();
    for (let i = 0; i < 20; i++) await createTenant();
    const doc = 'query($n: PageSize!) { tenants(first: $n) { edges { node { id plan { code priceComponents { meter } } stripeCustomerId } } } }';
    await gql(h.url, doc, { token, variables: { n: 1 } }); // warm-up (pool connections)
    const counts: number[] = [];
    for (const n of [2, 20]) {
      queries = 0;
      const r = await gql(h.url, doc, { token, variables: { n } });
      expect(r.errors).toBeUndefined();
      expect(r.data.tenants.edges).toHaveLength(n);
      counts.push(queries);
    }
    expect(counts[0]).toBe(counts[1]);
    // One transaction (BEGIN, set_config, statement, COMMIT) for the page and one per loader: plan, prices, Stripe ids.
    expect(counts[1]).toBe(16);
  });

  it('API keys with their creators: one batch for all creators', async () => {
    const t = await createTenant();
    const admins = await Promise.all([1, 2, 3].map(() => createUser({ tenantId: t.id, role: 'admin' })));
    for (const a of admins) {
      const token = await mintJwt(h.config, { sub: a.id, tid: t.id, role: 'admin' });
      for (let i = 0; i < 2; i++) expect((await gql(h.url, 'mutation { createApiKey(input: {}) { secret } }', { token })).errors).toBeUndefined();
    }
    const token = await mintJwt(h.config, { sub: admins[0]!.id, tid: t.id, role: 'admin' });
    queries = 0;
    const r = await gql(h.url, '{ apiKeys(first: 50) { edges { node { id createdBy { id email } } } } }', { token });
    expect(r.errors).toBeUndefined();
    expect(r.data.apiKeys.edges).toHaveLength(6);
    expect(new Set(r.data.apiKeys.edges.map((e: { node: { createdBy: { id: string } } }) => e.node.createdBy.id))).toEqual(new Set(admins.map((a) => a.id)));
    // 2 transactions (page, creators batch); the JWT subject's rights and tenant status (src/identity)
    // were read by the creates above and are cached.
    expect(queries).toBe(8);
  });

  it('invoices with lines and credit notes: one batch each, amounts as inserted', async () => {
    const t = await createTenant();
    const u = await createUser({ tenantId: t.id, role: 'finance' });
    const token = await mintJwt(h.config, { sub: u.id, tid: t.id, role: 'finance' });
    await withPlatform(h.pools.app, async (c) => {
      for (let m = 1; m <= 3; m++) {
        const start = `2026-0${m}-01T00:00:00Z`;
        const end = `2026-0${m + 1}-01T00:00:00Z`;
        const { rows } = await c.query(`INSERT INTO invoices (tenant_id, period_start, period_end, subtotal_micros, total_micros) VALUES ($1, $2, $3, $4, $4) RETURNING id`, [t.id, start, end, m * 1000]);
        await c.query(`INSERT INTO invoice_lines (invoice_id, tenant_id, line_no, meter, model, quantity, unit_price_micros, amount_micros) VALUES ($1, $2, 1, 'requests', 'standard', $3::numeric, 1, $4::bigint)`, [rows[0].id, t.id, m * 1000, m * 1000]);
      }
    });
    queries = 0;
    const r = await gql(h.url, '{ invoices(first: 10) { edges { node { periodStart status totalMicros lines { meter quantity amountMicros } creditNotes { number } } } } }', { token });
    expect(r.errors).toBeUndefined();
    const nodes = r.data.invoices.edges.map((e: { node: unknown }) => e.node);
    expect(nodes.map((n: { totalMicros: string }) => n.totalMicros)).toEqual(['3000', '2000', '1000']);
    expect(nodes[0].lines).toEqual([{ meter: 'requests', quantity: '3000', amountMicros: '3000' }]);
    expect(nodes[0].creditNotes).toEqual([]);
    // 3 transactions (page, lines batch, credit-notes batch) + 1 read of the JWT subject's rights and tenant status (auth_jwt_subject).
    expect(queries).toBe(13);
  });

  it('pages through API keys with cursors', async () => {
    const t = await createTenant();
    for (let i = 0; i < 5; i++) await createApiKey({ tenantId: t.id });
    const u = await createUser({ tenantId: t.id, role: 'member' });
    const token = await mintJwt(h.config, { sub: u.id, tid: t.id, role: 'member' });
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 5; page++) {
      const r: Awaited<ReturnType<typeof gql>> = await gql(h.url, 'query($a: String) { apiKeys(first: 2, after: $a) { edges { node { id } } pageInfo { hasNextPage endCursor } } }', { token, variables: { a: after } });
      expect(r.errors).toBeUndefined();
      seen.push(...r.data.apiKeys.edges.map((e: { node: { id: string } }) => e.node.id));
      if (!r.data.apiKeys.pageInfo.hasNextPage) break;
      after = r.data.apiKeys.pageInfo.endCursor;
    }
    expect(seen).toHaveLength(5);
    expect(new Set(seen).size).toBe(5);
  });
});

describe('per-tenant API rate limit', () => {
  it('refuses with RATE_LIMITED (429, Retry-After) once the bucket is empty, per tenant', async () => {
    const rl = await startHarness({ env: { GRAPHQL_RATE_LIMIT_PER_SECOND: '1', GRAPHQL_RATE_LIMIT_BURST: '3' } });
    try {
      const [a, b] = [await createTenant(), await createTenant()];
      const ka = (await createApiKey({ tenantId: a.id })).secret;
      const ka2 = (await createApiKey({ tenantId: a.id })).secret;
      const kb = (await createApiKey({ tenantId: b.id })).secret;
      const results = [];
      for (let i = 0; i < 8; i++) results.push(await gql(rl.url, '{ viewer { id } }', { token: i % 2 ? ka2 : ka }));
      const limited = results.filter((r) => r.status === 429);
      expect(limited.length).toBeGreaterThanOrEqual(1);
      expect(codes(limited[0]!)).toEqual(['RATE_LIMITED']);
      expect(Number(limited[0]!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      // Tenant B has its own bucket.
      expect((await gql(rl.url, '{ viewer { id } }', { token: kb })).errors).toBeUndefined();
    } finally {
      await rl.close();
    }
  });
});

describe('introspection, safelist, masking', () => {
  const introspection = '{ __schema { queryType { name } } }';

  it('introspection is on outside production and off in production (or when GRAPHQL_INTROSPECTION=false)', async () => {
    const t = await createTenant();
    const key = (await createApiKey({ tenantId: t.id })).secret;
    expect((await gql(h.url, introspection, { token: key })).data).toEqual({ __schema: { queryType: { name: 'Query' } } });
    // Production also requires a metrics token (src/config/secrets.ts).
    for (const env of [{ NODE_ENV: 'production', METRICS_TOKEN: randomBytes(32).toString('base64url') }, { GRAPHQL_INTROSPECTION: 'false' }]) {
      const p = await startHarness({ env });
      try {
        const r = await gql(p.url, introspection, { token: key });
        expect(codes(r)).toEqual(['BAD_USER_INPUT']);
        expect(r.data).toBeUndefined();
      } finally {
        await p.close();
      }
    }
  });

  it('safelist mode runs only listed documents (by text or by sha256 hash)', async () => {
    const listed = '{ viewer { id role } }';
    const dir = mkdtempSync(path.join(tmpdir(), 'tg-safelist-'));
    const file = path.join(dir, 'manifest.json');
    writeFileSync(file, JSON.stringify({ format: 'apollo-persisted-query-manifest', version: 1, operations: [{ id: 'x', name: 'Me', type: 'query', body: listed }] }));
    const s = await startHarness({ env: { GRAPHQL_SAFELIST_FILE: file } });
    try {
      const t = await createTenant();
      const key = (await createApiKey({ tenantId: t.id })).secret;
      expect((await gql(s.url, listed, { token: key })).errors).toBeUndefined();
      const hash = createHash('sha256').update(listed).digest('hex');
      const byHash = await gql(s.url, '', { token: key, body: { extensions: { persistedQuery: { version: 1, sha256Hash: hash } } } });
      expect(byHash.errors).toBeUndefined();
      expect(byHash.data.viewer.role).toBe('MEMBER');
      const other = await gql(s.url, '{ viewer { id } }', { token: key });
      expect(other.status).toBe(400);
      expect(codes(other)).toEqual(['FORBIDDEN']);
      const unknownHash = await gql(s.url, '', { token: key, body: { extensions: { persistedQuery: { version: 1, sha256Hash: 'f'.repeat(64) } } } });
      expect(codes(unknownHash)).toEqual(['FORBIDDEN']);
    } finally {
      await s.close();
    }
  });

  it('internal errors are masked: INTERNAL, a request id, no message or stack from the failure', async () => {
    const m = await startHarness({
      deps: {
        quotaStatus: async () => {
          throw new Error('connection to secret-db.internal:5432 refused (password=hunter2)');
        },
      },
    });
    try {
      const t = await createTenant();
      const key = (await createApiKey({ tenantId: t.id })).secret;
      const res = await fetch(m.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify({ query: '{ viewer { id } quotas { meters { meter } } }' }) });
      const text = await res.text();
      expect(text).not.toMatch(/hunter2|secret-db|stack|at .*\.ts/);
      const body = JSON.parse(text);
      expect(body.data).toBeNull();
      expect(body.errors).toHaveLength(1);
      expect(body.errors[0].message).toBe('internal error');
      expect(body.errors[0].extensions).toEqual({ code: 'INTERNAL', requestId: res.headers.get('x-request-id') });
    } finally {
      await m.close();
    }
  });

  it('a client-supplied request id is echoed', async () => {
    const r = await gql(h.url, '{ viewer { id } }', { headers: { 'x-request-id': 'abc-123' } });
    expect(r.headers.get('x-request-id')).toBe('abc-123');
    expect(r.errors![0]!.extensions.requestId).toBe('abc-123');
  });
});

describe('standard introspection (GraphiQL, Apollo Sandbox, graphql-codegen)', () => {
  let key: string;
  beforeAll(async () => {
    const t = await createTenant();
    key = (await createApiKey({ tenantId: t.id })).secret;
  });

  /** Type and field names of a schema: what a client learns without descriptions. */
  const shape = (s: GraphQLSchema) =>
    Object.values(s.getTypeMap())
      .filter((t) => !t.name.startsWith('__'))
      .map((t) => `${t.name}(${'getFields' in t ? Object.keys(t.getFields()).sort().join(',') : ''})`)
      .sort();

  it("lets graphql-js's getIntrospectionQuery through, with and without its options, yielding the committed schema", async () => {
    const committed = readFileSync(path.join(import.meta.dirname, '../../graphql/schema.graphql'), 'utf8');
    const variants: Parameters<typeof getIntrospectionQuery>[0][] = [
      undefined,
      { descriptions: false },
      { specifiedByUrl: true, directiveIsRepeatable: true, schemaDescription: true, inputValueDeprecation: true, oneOf: true },
      { typeDepth: 7 },
      { typeDepth: MAX_OF_TYPE },
    ];
    for (const options of variants) {
      const r = await gql(h.url, getIntrospectionQuery(options), { token: key });
      expect([options, r.status, r.errors]).toEqual([options, 200, undefined]);
      const schema = buildClientSchema(r.data as unknown as IntrospectionQuery);
      if (options?.descriptions === false) {
        expect(shape(schema)).toEqual(shape(buildSchema(committed)));
        continue;
      }
      // Without specifiedByUrl a client cannot see @specifiedBy.
      const expected = options?.specifiedByUrl ? committed : committed.replace(/ @specifiedBy\(url: "[^"]*"\)/g, '');
      expect(`${printSchema(lexicographicSortSchema(schema))}\n`).toBe(expected);
    }
  });

  it('still refuses introspection bombs and type references deeper than any client sends', async () => {
    const nest = (n: number, inner: string) => `${'ofType { '.repeat(n)}${inner}${' }'.repeat(n)}`;
    const bombs = [
      // re-entering types through a field's type (graphql-js's MaxIntrospectionDepthRule)
      '{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }',
      '{ __schema { types { fields { type { ofType { ofType { interfaces { possibleTypes { name } } } } } } } } }',
      '{ __schema { types { interfaces { possibleTypes { interfaces { name } } } } } }',
      '{ __type(name: "Query") { fields { type { fields { type { inputFields { name } } } } } } }',
      // the same through fragments, inline fragments and aliases
      'query { __schema { types { ...F } } } fragment F on __Type { fields { type { ...G } } } fragment G on __Type { f: fields { type { possibleTypes { name } } } }',
      '{ __schema { t: types { ... on __Type { fields { type { ... on __Type { fields { type { inputFields { name } } } } } } } } } }',
      // one ofType more than the limit, with and without lists on the way
      `{ __schema { types { fields { type { ${nest(MAX_OF_TYPE + 1, 'name')} } } } } }`,
      `{ __schema { directives { args { type { ${nest(MAX_OF_TYPE + 1, 'kind')} } } } } }`,
    ];
    for (const q of bombs) {
      const r = await gql(h.url, q, { token: key });
      expect([q, codes(r)]).toEqual([q, ['BAD_USER_INPUT']]);
      expect(r.errors![0]!.message).toMatch(/introspection/i);
      expect(r.data).toBeUndefined();
    }
  });

  it('keeps the depth limit for every other query, also beside an introspection field', async () => {
    let nested = 'id';
    for (let i = 0; i < 11; i++) nested = `... on Viewer { ${nested} }`;
    for (const q of [`{ viewer { ${nested} } }`, `{ __schema { queryType { name } } viewer { ${nested} } }`]) {
      const r = await gql(h.url, q, { token: key });
      expect(codes(r)).toEqual(['BAD_USER_INPUT']);
      expect(r.errors![0]!.message).toMatch(/depth limit of 10 exceeded/);
    }
  });
});
