/** The sync run: invoices, then the credit notes of synced invoices (the CLI and the worker's job call this). */
import { creditNotesToSync, recordCreditNoteFailure, syncCreditNote, type CreditNoteSyncDeps, type SyncedCreditNote } from './credit-notes.js';
import { invoicesToSync, recordSyncFailure, retryableFailure, syncInvoice, SyncRefused, type FailedSync, type SyncDeps, type SyncedInvoice } from './sync.js';

/**
 * Syncs one invoice (`invoiceId`) or every finalized invoice not yet synced, then the credit
 * notes of synced invoices (when `loadCreditNote` is given). Failures are recorded (state, error,
 * alert) and reported, never thrown: one bad invoice does not stop the others.
 */
export async function syncInvoices(
  deps: SyncDeps & { loadCreditNote?: CreditNoteSyncDeps['loadCreditNote'] },
  opts: { invoiceId?: string } = {},
): Promise<{ synced: SyncedInvoice[]; failed: FailedSync[]; creditNotes: SyncedCreditNote[] }> {
  const ids = opts.invoiceId ? [opts.invoiceId] : await invoicesToSync(deps);
  const synced: SyncedInvoice[] = [];
  const failed: FailedSync[] = [];
  const creditNotes: SyncedCreditNote[] = [];
  for (const id of ids) {
    try {
      synced.push(await syncInvoice(deps, id));
    } catch (err) {
      const tenantId = await deps.loadInvoice(id).then((i) => i?.tenantId ?? null, () => null);
      failed.push(await recordSyncFailure(deps, id, tenantId, err));
    }
  }
  if (deps.loadCreditNote && !(opts.invoiceId && failed.length > 0)) {
    const cnDeps = { ...deps, loadCreditNote: deps.loadCreditNote };
    for (const cnId of await creditNotesToSync(deps, opts.invoiceId ? { invoiceId: opts.invoiceId } : {})) {
      try {
        creditNotes.push(await syncCreditNote(cnDeps, cnId));
      } catch (err) {
        const cn = await deps.loadCreditNote(cnId).catch(() => null);
        const retryable = !(err instanceof SyncRefused) && retryableFailure(err);
        await recordCreditNoteFailure(deps, cn, cnId, err, retryable);
        failed.push({ invoiceId: cn?.invoiceId ?? '', creditNoteId: cnId, error: err instanceof Error ? err.message : String(err), retryable });
      }
    }
  }
  return { synced, failed, creditNotes };
}
