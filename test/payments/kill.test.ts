/**
 * Kill test: the real worker role (`tollgate serve --roles worker`) syncing an invoice is
 * SIGKILLed at each step — while Stripe holds the customer create, the invoice create, an item
 * create and the finalize, each already committed on Stripe's side — and restarted. After the
 * restart's sync: exactly one Stripe customer per tenant, one Stripe invoice per Tollgate
 * invoice, no duplicate items, the total Tollgate says. A second sync changes nothing.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeStripe, FAKE_SECRET_KEY, type FakeStripe } from '../fake-stripe/index.js';
import { closeFactories, createTenant, factoryDeps, uniqueName } from '../factories.js';
import { withPlatform } from '../../src/db/index.js';
import { createJobQueues, type JobQueues } from '../../src/queue/index.js';
import { createSyncDeps, syncInvoices } from '../../src/payments/index.js';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/shared/index.js';
import { insertFinalizedInvoice } from './helpers.js';

const root = path.resolve(import.meta.dirname, '../..');
const bin = path.join(root, 'bin/tollgate.js');
const { pools } = factoryDeps();
const prefix = uniqueName('killtest');
let fake: FakeStripe;
let queues: JobQueues;
const workers = new Set<ChildProcess>();
const DAY_MS = '86400000';

beforeAll(async () => {
  fake = await startFakeStripe();
  // bin/tollgate.js builds dist/ when it is older than the sources: do it once, before any worker races it.
  await new Promise<void>((resolve, reject) => execFile(process.execPath, [bin, '--help'], { cwd: root, timeout: 240_000 }, (err) => (err ? reject(err) : resolve())));
  queues = createJobQueues({ redisUrl: loadConfig().REDIS_URL, prefix, logger: createLogger({ level: 'silent' }) });
}, 300_000);

afterAll(async () => {
  for (const w of workers) w.kill('SIGKILL');
  await queues?.close();
  await fake?.close();
  await closeFactories();
});

function workerEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    LOG_LEVEL: 'silent',
    REDIS_PREFIX: prefix, // its own job queues: only the jobs this test enqueues
    STRIPE_SECRET_KEY: FAKE_SECRET_KEY,
    STRIPE_API_URL: fake.url,
    STRIPE_TIMEOUT_MS: '600000', // a held answer keeps the worker waiting until it is killed
    // Only the jobs this test enqueues run: every schedule is a day away.
    STRIPE_SYNC_INTERVAL_MS: DAY_MS,
    DUNNING_CHECK_INTERVAL_MS: DAY_MS,
    RETENTION_INTERVAL_MS: DAY_MS,
    QUOTA_RECONCILE_INTERVAL_MS: DAY_MS,
    ANOMALY_SCAN_INTERVAL_MS: DAY_MS,
  };
}

function startWorker(): ChildProcess {
  const w = spawn(process.execPath, [bin, 'serve', '--roles', 'worker'], { cwd: root, env: workerEnv(), stdio: 'ignore' });
  workers.add(w);
  w.on('exit', () => workers.delete(w));
  return w;
}

async function until<T>(what: string, fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function syncState(invoiceId: string): Promise<string | null> {
  return withPlatform(pools.app, async (c) => (await c.query<{ sync_state: string }>('SELECT sync_state FROM stripe_invoices WHERE invoice_id = $1', [invoiceId])).rows[0]?.sync_state ?? null);
}

const steps = [
  { step: 'customer', method: 'POST', path: '/v1/customers' },
  { step: 'invoice', method: 'POST', path: '/v1/invoices' },
  { step: 'items', method: 'POST', path: '/v1/invoiceitems' },
  { step: 'finalize', method: 'POST', path: /^\/v1\/invoices\/[^/]+\/finalize$/ },
] as const;

describe('SIGKILL of the worker during a Stripe sync', () => {
  const synced: Array<{ tenantId: string; invoiceId: string; amountDue: number }> = [];

  for (const s of steps) {
    it(`killed while Stripe holds the ${s.step} write: after a restart, one customer, one invoice, no duplicate items`, async () => {
      const tenant = await createTenant();
      const inv = await insertFinalizedInvoice(pools, tenant.id, [1_000_000n, 250_000n, 40_000n]);
      fake.clearFaults();
      fake.inject({ kind: 'hang_after_commit', method: s.method, path: s.path });
      const first = startWorker();
      await queues.enqueue('payments.stripe-sync', { invoiceId: inv.id });
      // Stripe committed the write and holds the answer: the worker is waiting for it. Kill it.
      await until(`the held ${s.step} request`, () => fake.requests.some((r) => r.fault === 'hang_after_commit' && r.status === 200 && (typeof s.path === 'string' ? r.path === s.path : s.path.test(r.path))));
      first.kill('SIGKILL');
      await new Promise((r) => first.once('exit', r));
      expect(await syncState(inv.id)).toBe('syncing');

      const second = startWorker();
      await queues.enqueue('payments.stripe-sync', { invoiceId: inv.id });
      await until('the restarted worker to finish the sync', async () => (await syncState(inv.id)) === 'synced');
      second.kill('SIGTERM');
      await new Promise((r) => second.once('exit', r));

      const customers = [...fake.state.customers.values()].filter((c) => c.metadata?.tollgate_tenant_id === tenant.id && !c.deleted);
      expect(customers).toHaveLength(1);
      const stripeInvoices = [...fake.state.invoices.values()].filter((x) => x.metadata?.tollgate_invoice_id === inv.id && !x.deleted);
      expect(stripeInvoices).toHaveLength(1);
      const items = fake.state.itemsOf(stripeInvoices[0]!.id);
      expect(items.map((it) => it.metadata?.tollgate_line_id).sort()).toEqual([...inv.lineIds].sort());
      expect(stripeInvoices[0]).toMatchObject({ status: 'open', total: 129, customer: customers[0]!.id });
      synced.push({ tenantId: tenant.id, invoiceId: inv.id, amountDue: 129 });
    }, 120_000);
  }

  it('re-running the sync changes nothing in Stripe', async () => {
    expect(synced).toHaveLength(steps.length);
    const config = loadConfig({ ...process.env, STRIPE_SECRET_KEY: FAKE_SECRET_KEY, STRIPE_API_URL: fake.url });
    const deps = createSyncDeps({ pools, logger: createLogger({ level: 'silent' }), config })!;
    const since = fake.requests.length;
    for (const s of synced) {
      const r = await syncInvoices(deps, { invoiceId: s.invoiceId });
      expect(r.failed).toEqual([]);
    }
    expect(fake.requests.slice(since).filter((r) => r.method !== 'GET')).toEqual([]);
  });
});
