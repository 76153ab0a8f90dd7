/**
 * `tollgate stripe sync [--invoice ID] [--json]`: sends finalized invoices to Stripe now (one, or
 * every one not yet synced), in this process. Prints exactly one JSON object with --json:
 * {"synced": [{"invoiceId", "stripeInvoiceId", "items"}], "failed": [{"invoiceId", "creditNoteId"?, "error", "retryable"}], "creditNotes": [{"creditNoteId", "stripeCreditNoteId", "type", "amount"}]};
 * exits 0 exactly when nothing failed. The rules live in src/payments (syncInvoices).
 */
import type { Command } from 'commander';
import type { Config } from '../../src/config/index.js';
import { createPgPools } from '../../src/db/index.js';
import { badInput, createLogger } from '../../src/shared/index.js';

export interface StripeCommandIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

export function registerStripeCommand(program: Command, io: StripeCommandIo, config: () => Config): void {
  const stripe = program.command('stripe').description('Stripe collection');
  stripe
    .command('sync')
    .description('send finalized invoices to Stripe now (customer, invoice, one item per line, finalize); safe to repeat')
    .option('--invoice <id>', 'only this invoice')
    .option('--json', 'print {"synced": [{"invoiceId", "stripeInvoiceId", "items"}], "failed": [{"invoiceId", "creditNoteId"?, "error", "retryable"}], "creditNotes": [{"creditNoteId", "stripeCreditNoteId", "type", "amount"}]}')
    .action(async (opts: { invoice?: string; json?: boolean }) => {
      const cfg = config();
      const { createSyncDeps, syncInvoices } = await import('../../src/payments/index.js');
      const pools = createPgPools(cfg, { applicationName: 'tollgate-cli' });
      // Retries and failures are logged to stderr; stdout carries only the result.
      const logger = createLogger({ level: 'warn', destination: process.stderr });
      try {
        const deps = createSyncDeps({ pools, logger, config: cfg });
        const result = deps
          ? await syncInvoices(deps, opts.invoice ? { invoiceId: opts.invoice } : {})
          : { synced: [], failed: [{ invoiceId: opts.invoice ?? null, error: 'stripe sync is off: STRIPE_SECRET_KEY is not set', retryable: false }], creditNotes: [] };
        if (opts.json) io.out(JSON.stringify(result));
        else {
          for (const s of result.synced) io.out(`synced ${s.invoiceId} -> ${s.stripeInvoiceId} (${s.items} items)`);
          for (const f of result.failed) io.err(`failed ${f.invoiceId ?? '-'}: ${f.error}`);
          if (result.synced.length + result.failed.length === 0) io.out('nothing to sync');
        }
        if (result.failed.length > 0) throw badInput(`${result.failed.length} invoice(s) not synced`);
      } finally {
        await pools.close();
      }
    });
}
