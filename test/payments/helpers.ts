/** Test helpers for src/payments: invoices rows to collect, and signed webhook deliveries. */
import Stripe from 'stripe';
import { withPlatform, type PgPools } from '../../src/db/index.js';

/** A finalized-looking Tollgate invoice row for `tenantId` (the invoices module owns the real lifecycle). */
let months = 0;
export async function insertInvoice(pools: Pick<PgPools, 'app'>, tenantId: string): Promise<string> {
  // One live invoice per (tenant, period): each call takes the next month.
  const m = months++;
  const start = new Date(Date.UTC(2020, m, 1));
  const end = new Date(Date.UTC(2020, m + 1, 1));
  const { rows } = await withPlatform(pools.app, (c) => c.query<{ id: string }>('INSERT INTO invoices (tenant_id, period_start, period_end) VALUES ($1, $2, $3) RETURNING id', [tenantId, start, end]));
  return rows[0]!.id;
}

/** Posts `payload` to the webhook URL signed with `secret` at `timestamp` (default now); returns status and JSON body. */
export async function postEvent(url: string, payload: string, opts: { secret: string; timestamp?: number; signature?: string }): Promise<{ status: number; body: Record<string, unknown> }> {
  const signature = opts.signature ?? Stripe.webhooks.generateTestHeaderString({ payload, secret: opts.secret, timestamp: opts.timestamp ?? Math.floor(Date.now() / 1000) });
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': signature }, body: payload });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
