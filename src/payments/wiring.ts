/** The sync's production dependencies: invoices read through the invoices module, the SDK client from config. */
import { isUuid, withPlatform, type PgPools } from '../db/index.js';
import { microsPerMinorUnit, selectCreditNotes, selectInvoice, selectLines } from '../invoices/index.js';
import type { Config } from '../config/index.js';
import type { Logger } from '../shared/index.js';
import { createStripeClient } from './client.js';
import type { SyncableInvoice, SyncDeps } from './sync.js';
import type { SyncableCreditNote } from './credit-notes.js';

/** Loads a Tollgate invoice with its lines and tenant name, as the sync needs it. */
export function invoiceLoader(pools: Pick<PgPools, 'app'>): (invoiceId: string) => Promise<SyncableInvoice | null> {
  return async (invoiceId) => {
    if (!isUuid(invoiceId)) return null;
    return withPlatform(pools.app, async (c) => {
      const inv = await selectInvoice(c, { id: invoiceId });
      if (!inv) return null;
      const lines = await selectLines(c, [inv.id]);
      const { rows } = await c.query<{ display_name: string }>('SELECT display_name FROM tenants WHERE id = $1', [inv.tenantId]);
      return {
        id: inv.id,
        tenantId: inv.tenantId,
        tenantName: rows[0]?.display_name ?? inv.tenantId,
        number: inv.number,
        status: inv.status,
        currency: inv.currency,
        periodStart: inv.periodStart,
        periodEnd: inv.periodEnd,
        taxMicros: inv.taxMicros,
        creditAppliedMicros: inv.creditAppliedMicros,
        amountDueMicros: inv.amountDueMicros,
        lines: lines.map((l) => ({ id: l.id, description: l.description || `${l.meter} (${l.kind})`, roundedMicros: l.roundedMicros })),
      };
    });
  };
}

/** Loads a credit note as the sync needs it. */
export function creditNoteLoader(pools: Pick<PgPools, 'app'>): (creditNoteId: string) => Promise<SyncableCreditNote | null> {
  return async (creditNoteId) => {
    if (!isUuid(creditNoteId)) return null;
    return withPlatform(pools.app, async (c) => {
      const { rows } = await c.query<{ invoice_id: string }>('SELECT invoice_id FROM credit_notes WHERE id = $1', [creditNoteId]);
      if (!rows[0]) return null;
      const n = (await selectCreditNotes(c, [rows[0].invoice_id])).find((x) => x.id === creditNoteId);
      return n ? { id: n.id, tenantId: n.tenantId, invoiceId: n.invoiceId, number: n.number, type: n.type, amountMicros: n.amountMicros, currency: n.currency, reason: n.reason } : null;
    });
  };
}

/** The sync's dependencies, or null when sync is off (no STRIPE_SECRET_KEY). */
export function createSyncDeps(deps: { pools: Pick<PgPools, 'app'>; logger: Pick<Logger, 'info' | 'warn'>; config: Config }): (SyncDeps & { loadCreditNote: (id: string) => Promise<SyncableCreditNote | null> }) | null {
  const stripe = createStripeClient(deps.config);
  if (!stripe) return null;
  return { pools: deps.pools, logger: deps.logger, config: deps.config, stripe, loadInvoice: invoiceLoader(deps.pools), loadCreditNote: creditNoteLoader(deps.pools), microsPerMinorUnit };
}
