/**
 * The tenant console in a real browser: Debian's Chromium (installed by scripts/chromium.mjs
 * when missing) driven by playwright-core against a real stack (inference + api + worker roles,
 * real Postgres/ClickHouse/Redis). Signs in with an API key and with a JWT, sees the requests
 * just made, creates and revokes a key, acknowledges an alert, shows a member's view without
 * money, and renders a hostile tag value and alert title as text. Screenshots of the main pages
 * go to test-artifacts/console/ (gitignored).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { SignJWT } from 'jose';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { withTenant } from '../../src/db/index.js';
import { startStack, type RunningStack } from '../../app/roles.js';
import { closeFactories, createTenantWithKey, createUser, factoryDeps } from '../factories.js';

const root = path.resolve(import.meta.dirname, '../..');
export const artifacts = path.join(root, 'test-artifacts/console');
const HOSTILE = '<img src=x onerror=alert(1)>';
const JWT_SECRET = `console-test-${'x'.repeat(40)}`;

let stack: RunningStack;
let browser: Browser;
let api: string; // http://host:port (no path)
let inference: string;
let tenant: { id: string; name: string };
let admin: { secret: string };
const pageErrors: string[] = [];
const dialogs: string[] = [];

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function graphql(secret: string, query: string, variables: Record<string, unknown> = {}) {
  const res = await fetch(`${api}/graphql`, { method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
  return { status: res.status, body: (await res.json()) as { data?: any; errors?: Array<{ message: string; extensions?: { code?: string } }> } };
}

const input = { name: 'input', shape: [2, 64], datatype: 'FP32', data: Array.from({ length: 128 }, (_, i) => Math.cos(i)) };
async function infer(secret: string, parameters: Record<string, string> = {}) {
  const res = await fetch(`${inference}/v2/models/mlp-demo/infer`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [input], parameters }),
  });
  await res.arrayBuffer();
  return res.status;
}

async function newPage(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/status of 40[13]/.test(msg.text())) pageErrors.push(`console: ${msg.text()} (${msg.location().url})`);
  });
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  return { context, page };
}

async function signIn(page: Page, secret: string) {
  await page.goto(`${api}/console`);
  await page.getByTestId('signin').waitFor();
  await page.fill('#credential', secret);
  await page.click('button[type=submit]');
  await page.getByTestId('whoami').waitFor();
}

async function shot(page: Page, name: string) {
  await page.waitForTimeout(300); // let charts size themselves
  await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });
}

beforeAll(async () => {
  const executablePath = execFileSync(process.execPath, [path.join(root, 'scripts/chromium.mjs')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  fs.mkdirSync(artifacts, { recursive: true });
  const config = loadConfig({ ...process.env, USAGE_FLUSH_INTERVAL_MS: '200', JWT_SECRET, JWT_ALGORITHMS: 'HS256', GRAPHQL_RATE_LIMIT_PER_SECOND: '1000', GRAPHQL_RATE_LIMIT_BURST: '1000' });
  stack = await startStack({ config, roles: ['inference', 'api', 'worker'], ports: { inference: 0, api: 0 } });
  const urls = Object.fromEntries(stack.roles.filter((r) => r.url).map((r) => [r.role, r.url!]));
  api = new URL(urls.api!).origin;
  inference = urls.inference!;
  browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  const made = await createTenantWithKey({ role: 'admin', displayName: 'Console Test Co' });
  tenant = made.tenant;
  admin = made.key;
}, 900_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await closeFactories();
});

describe('GET /console', () => {
  it('answers the page itself with a strict Content-Security-Policy and serves only its bundled assets', async () => {
    const res = await fetch(`${api}/console`, { redirect: 'manual' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = res.headers.get('content-security-policy') ?? '';
    for (const d of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "require-trusted-types-for 'script'"]) expect(csp).toContain(d);
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await res.text();
    expect(html).not.toMatch(/https?:\/\//); // nothing from a CDN
    expect(html).not.toMatch(/<script>|style=/); // no inline code
    const js = await fetch(`${api}/console/assets/console.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    expect((await js.text()).length).toBeGreaterThan(20_000); // uPlot is bundled in
    expect((await fetch(`${api}/console/assets/console.css`)).status).toBe(200);
    expect((await fetch(`${api}/console/assets/..%2Fpackage.json`)).status).toBe(404);
    expect((await fetch(`${api}/console/assets/nope.js`)).status).toBe(404);
    expect((await fetch(`${api}/console/`, { redirect: 'manual' })).status).toBe(200);
  });
});

describe('the console in Chromium', () => {
  it('signs in with an API key kept in sessionStorage only, and shows the requests just made', async () => {
    const statuses = [await infer(admin.secret), await infer(admin.secret), await infer(admin.secret, { 'tag.team': HOSTILE }), await infer(admin.secret, { 'tag.team': 'search' })];
    expect(statuses).toEqual([200, 200, 200, 200]);
    const range = { from: new Date(Date.now() - 3_600_000).toISOString(), to: new Date(Date.now() + 120_000).toISOString() };
    await until('usage rows', async () => {
      const r = await graphql(admin.secret, 'query($r: TimeRangeInput!) { usage(range: $r, granularity: HOUR, groupBy: MODEL) { series { key columns { requests } } } }', { r: range });
      const s = r.body.data?.usage.series.find((x: any) => x.key === 'mlp-demo');
      return s && s.columns.requests.reduce((a: number, b: number) => a + b, 0) >= 4 ? true : undefined;
    });

    // The API's latency field the p95 chart reads: served requests only, milliseconds; none per tag.
    const lat = await graphql(
      admin.secret,
      'query($r: TimeRangeInput!) { m: usage(range: $r, granularity: MINUTE, groupBy: MODEL) { series { key latency { buckets p50Ms p95Ms p99Ms maxMs } } } t: usage(range: $r, granularity: HOUR, groupBy: TAG, tagKey: "team") { series { key latency { p95Ms } } } }',
      { r: range },
    );
    expect(lat.body.errors).toBeUndefined();
    const l = lat.body.data.m.series.find((x: any) => x.key === 'mlp-demo').latency;
    expect(l.buckets.length).toBeGreaterThan(0);
    expect(l.p95Ms.length).toBe(l.buckets.length);
    l.p95Ms.forEach((v: number, i: number) => {
      expect(v).toBeGreaterThan(0);
      expect(v).toBeLessThanOrEqual(l.maxMs[i] + 1e-6);
      expect(l.p50Ms[i]).toBeLessThanOrEqual(l.p99Ms[i] + 1e-6);
    });
    expect(lat.body.data.t.series.every((x: any) => x.latency === null)).toBe(true);

    const { context, page } = await newPage();
    await signIn(page, admin.secret);
    expect(await page.getByTestId('tenant-name').textContent()).toBe('Console Test Co');
    const row = page.getByTestId('usage-totals').locator('tr', { hasText: 'mlp-demo' });
    await row.waitFor();
    expect(await row.locator('td').nth(1).textContent()).toBe('4');
    expect(await page.locator('[data-testid=chart-requests] canvas').count()).toBe(1);
    expect(await page.locator('[data-testid=chart-latency] canvas').count()).toBe(1);
    expect(await page.getByTestId('chart-latency').textContent()).toContain('mlp-demo');
    // Spend is visible to an admin: an amount, not the "not visible" note.
    expect(await row.locator('td').nth(3).textContent()).toMatch(/^\d[\d,]*\.\d{2,6} [A-Z]{3}$/);
    expect(page.url()).not.toContain(admin.secret);
    const stored = await page.evaluate(() => ({ session: Object.values(sessionStorage), local: Object.keys(localStorage).length, cookie: document.cookie }));
    expect(stored).toEqual({ session: [admin.secret], local: 0, cookie: '' });
    await shot(page, 'usage-admin');

    // A hostile tag value is text: no <img> appears, no script runs.
    await page.goto(`${api}/console#/usage?range=24h&tag=team`);
    const hostileRow = page.getByTestId('usage-totals').locator('tr', { hasText: HOSTILE });
    await hostileRow.waitFor();
    expect(await hostileRow.locator('td').first().textContent()).toBe(HOSTILE);
    expect(await page.locator('img').count()).toBe(0);
    await shot(page, 'usage-by-tag-hostile');

    await page.goto(`${api}/console#/quotas`);
    await page.getByTestId('page-quotas').waitFor();
    expect(await page.getByTestId('quota-table').locator('tbody tr').count()).toBeGreaterThan(0);
    await shot(page, 'quotas');
    await context.close();
  });

  it('creates a key (secret shown once) and revokes it; the revoked key stops working', async () => {
    const { context, page } = await newPage();
    await signIn(page, admin.secret);
    await page.click('[data-testid=nav-keys]');
    await page.getByTestId('page-keys').waitFor();
    await page.fill('[data-testid=create-key] input[name=name]', 'from-console');
    await page.click('[data-testid=create-key] button');
    const secret = (await page.getByTestId('new-secret').textContent())!;
    expect(secret).toMatch(/^tg_/);
    expect(await infer(secret)).toBe(200);
    await shot(page, 'keys-created');

    await page.reload(); // shown once: gone after a reload
    await page.getByTestId('page-keys').waitFor();
    expect(await page.getByTestId('new-secret').count()).toBe(0);
    expect(await page.content()).not.toContain(secret);

    const row = page.getByTestId('key-table').locator('tr', { hasText: 'from-console' });
    await row.getByTestId('revoke').click();
    await row.getByTestId('confirm-revoke').click();
    await until('revoked key gone from the list', async () => ((await page.getByTestId('key-table').locator('tr', { hasText: 'from-console' }).count()) === 0 ? true : undefined));
    const after = await graphql(secret, '{ viewer { role } }');
    expect(after.status).toBe(401);
    await shot(page, 'keys-revoked');
    await context.close();
  });

  it('acknowledges an alert; its hostile title stays text', async () => {
    const { pools } = factoryDeps();
    const title = `p95 latency anomaly on ${HOSTILE}`;
    await withTenant(pools.app, { tenantId: tenant.id }, (c) =>
      c.query(`INSERT INTO alerts (tenant_id, kind, metric, severity, dedup_key, title, details) VALUES ($1, 'anomaly', 'p95_latency', 'critical', $2, $3, $4)`, [
        tenant.id,
        `console-test:${Date.now()}`,
        title,
        JSON.stringify({ expected: [10, 20], observed: 95, model: HOSTILE }),
      ]),
    );
    const { context, page } = await newPage();
    await signIn(page, admin.secret);
    await page.goto(`${api}/console#/alerts`);
    const card = page.getByTestId('alert').filter({ hasText: 'p95 latency anomaly' });
    await card.waitFor();
    expect(await card.locator('.alert-title').textContent()).toBe(title);
    expect(await page.locator('img').count()).toBe(0);
    await shot(page, 'alerts-open');
    await card.getByTestId('ack').click();
    await until('acknowledged', async () => ((await page.getByTestId('alert').filter({ hasText: 'p95 latency anomaly' }).locator('.badge.acknowledged').count()) === 1 ? true : undefined));
    const r = await graphql(admin.secret, '{ alerts(first: 10) { edges { node { title status acknowledgedAt } } } }');
    const node = r.body.data.alerts.edges.map((e: any) => e.node).find((n: any) => n.title === title);
    expect(node.status).toBe('acknowledged');
    expect(node.acknowledgedAt).not.toBeNull();
    await shot(page, 'alerts-acknowledged');
    await context.close();
  });

  it("shows a member (signed in with a JWT) the usage without money, as the API's field rules say", async () => {
    const user = await createUser({ tenantId: tenant.id, role: 'member', name: 'Mia Member' });
    const config = loadConfig({ ...process.env, JWT_SECRET });
    const jwt = await new SignJWT({ tid: tenant.id, role: 'member' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(user.id)
      .setIssuer(config.JWT_ISSUER)
      .setAudience(config.JWT_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode(JWT_SECRET));
    const { context, page } = await newPage();
    await signIn(page, jwt);
    expect(await page.getByTestId('whoami').textContent()).toBe('Mia Member · member');
    const row = page.getByTestId('usage-totals').locator('tr', { hasText: 'mlp-demo' });
    await row.waitFor();
    expect(Number(await row.locator('td').nth(1).textContent())).toBeGreaterThanOrEqual(4);
    expect(await row.locator('td').nth(3).textContent()).toBe('spend not visible to your role (member)');
    expect(await page.getByTestId('chart-spend').textContent()).toContain('not visible to your role');
    const text = (await page.locator('body').textContent()) ?? '';
    expect(text).not.toMatch(/\d+\.\d{2,6} [A-Z]{3}/); // no amount anywhere
    await shot(page, 'usage-member');

    // The API refuses a member's acknowledge; the console shows its answer.
    const { pools } = factoryDeps();
    await withTenant(pools.app, { tenantId: tenant.id }, (c) =>
      c.query(`INSERT INTO alerts (tenant_id, kind, metric, severity, dedup_key, title, details) VALUES ($1, 'anomaly', 'error_ratio', 'warning', $2, 'error ratio above band', '{}')`, [tenant.id, `console-member:${Date.now()}`]),
    );
    await page.goto(`${api}/console#/alerts?status=open`);
    const card = page.getByTestId('alert').filter({ hasText: 'error ratio above band' });
    await card.getByTestId('ack').click();
    await page.getByTestId('alert-feedback').getByTestId('notice-error').waitFor();
    expect(await page.getByTestId('alert-feedback').textContent()).toContain('FORBIDDEN');
    await shot(page, 'alerts-member-forbidden');
    await context.close();
  });

  it('a wrong credential is refused and nothing is kept', async () => {
    const { context, page } = await newPage();
    await page.goto(`${api}/console`);
    await page.fill('#credential', 'tg_not_a_real_key');
    await page.click('button[type=submit]');
    await page.getByTestId('signin').getByTestId('notice-error').waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    await shot(page, 'signin-refused');
    await context.close();
  });

  it('no script error or CSP violation, and no dialog opened, on any page', () => {
    expect(pageErrors).toEqual([]);
    expect(dialogs).toEqual([]);
  });
});
