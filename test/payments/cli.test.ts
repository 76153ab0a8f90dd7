/** `tollgate stripe sync [--invoice ID] [--json]` as users run it (bin/tollgate.js in a child process) against the fake Stripe. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeStripe, FAKE_SECRET_KEY, type FakeStripe } from '../fake-stripe/index.js';
import { closeFactories, createTenant, factoryDeps } from '../factories.js';
import { insertFinalizedInvoice } from './helpers.js';

const root = path.resolve(import.meta.dirname, '../..');
const bin = path.join(root, 'bin/tollgate.js');
const { pools } = factoryDeps();
let fake: FakeStripe;

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: root, env: { ...process.env, LOG_LEVEL: 'silent', STRIPE_SECRET_KEY: '', ...env }, timeout: 240_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  fake = await startFakeStripe();
  await run(['--help']); // builds dist/ once when stale
}, 300_000);
afterAll(async () => {
  await fake?.close();
  await closeFactories();
});

describe('tollgate stripe sync', () => {
  it('without STRIPE_SECRET_KEY: one JSON object naming the setting, exit 1', async () => {
    const r = await run(['stripe', 'sync', '--json']);
    expect(r.code).toBe(1);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(r.stdout)).toEqual({ synced: [], failed: [{ invoiceId: null, error: 'stripe sync is off: STRIPE_SECRET_KEY is not set', retryable: false }], creditNotes: [] });
  });

  it('--invoice ID --json: exactly one JSON object, exit 0 when nothing failed; again: the same answer, nothing new in Stripe', async () => {
    const tenant = await createTenant();
    const inv = await insertFinalizedInvoice(pools, tenant.id, [2_000_000n, 10_000n]);
    const env = { STRIPE_SECRET_KEY: FAKE_SECRET_KEY, STRIPE_API_URL: fake.url };
    const r = await run(['stripe', 'sync', '--invoice', inv.id, '--json'], env);
    expect(r).toMatchObject({ code: 0 });
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    const out = JSON.parse(r.stdout) as { synced: Array<{ invoiceId: string; stripeInvoiceId: string; items: number }>; failed: unknown[] };
    expect(out).toEqual({ synced: [{ invoiceId: inv.id, stripeInvoiceId: expect.stringMatching(/^in_/), items: 2 }], failed: [], creditNotes: [] });
    expect(fake.state.invoice(out.synced[0]!.stripeInvoiceId)).toMatchObject({ status: 'open', total: 201 });
    const posts = fake.requests.filter((x) => x.method === 'POST').length;
    const again = await run(['stripe', 'sync', '--invoice', inv.id, '--json'], env);
    expect(JSON.parse(again.stdout)).toEqual(out);
    expect(fake.requests.filter((x) => x.method === 'POST').length).toBe(posts);
  });

  it('an invoice that cannot be synced: listed in failed, exit 1, stdout still one JSON object', async () => {
    const r = await run(['stripe', 'sync', '--invoice', '00000000-0000-4000-8000-000000000000', '--json'], { STRIPE_SECRET_KEY: FAKE_SECRET_KEY, STRIPE_API_URL: fake.url });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({ synced: [], creditNotes: [], failed: [{ invoiceId: '00000000-0000-4000-8000-000000000000', error: expect.stringContaining('not found'), retryable: false }] });
  });
});
