/**
 * `tollgate billing close|finalize` and `tollgate invoice show`: argument parsing and printing
 * only; the rules live in src/invoices. With --json stdout is exactly one JSON object (progress
 * and logs on stderr). Money and quantities are JSON strings (exact integers beyond 2^53).
 */
import type { Command } from 'commander';
import type { Config } from '../../src/config/index.js';
import type { InvoiceWithLines } from '../../src/invoices/index.js';
import type { Actor } from '../../src/audit/index.js';
import { notFound } from '../../src/shared/index.js';

export interface BillingCommandIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** The CLI's invoice object: {id, tenantId, status, number, totalMicros, lines: [{meter, quantity, amountMicros}]}. */
export function invoiceJson(i: InvoiceWithLines): Record<string, unknown> {
  return {
    id: i.id,
    tenantId: i.tenantId,
    status: i.status,
    number: i.number,
    totalMicros: i.totalMicros.toString(),
    lines: i.lines.map((l) => ({ meter: l.meter, quantity: l.quantity, amountMicros: l.amountMicros.toString() })),
  };
}

function invoiceText(i: InvoiceWithLines): string {
  const head = `${i.id}  tenant ${i.tenantId}  ${i.periodStart.toISOString()} – ${i.periodEnd.toISOString()}  ${i.status}/${i.paymentStatus}  ${i.number ?? '(no number)'}  total ${i.totalMicros} micros ${i.currency}`;
  return [head, ...i.lines.map((l) => `  ${l.kind.padEnd(10)} ${l.meter.padEnd(16)} quantity ${l.quantity.padStart(12)}  ${l.amountMicros} micros`)].join('\n');
}

async function withDeps<T>(config: Config, fn: (deps: { pools: import('../../src/db/index.js').PgPools; clickhouse: import('../../src/clickhouse/index.js').ClickHouse }) => Promise<T>): Promise<T> {
  const { createPgPools } = await import('../../src/db/index.js');
  const { createClickHouse } = await import('../../src/clickhouse/index.js');
  const pools = createPgPools(config, { applicationName: 'tollgate-cli' });
  const clickhouse = createClickHouse(config);
  try {
    return await fn({ pools, clickhouse });
  } finally {
    await Promise.allSettled([pools.close(), clickhouse.close()]);
  }
}

export function registerBillingCommands(program: Command, io: BillingCommandIo, config: () => Config, actor: () => Actor): void {
  const billing = program.command('billing').description('period close and invoice lifecycle');
  billing
    .command('close')
    .description('generate the invoices of the billing periods that started in a month and have ended (idempotent: prints those made before too)')
    .requiredOption('--period <YYYY-MM>', 'the month the periods start in (tenant time zone, anchor day)')
    .option('--tenant <id>', 'only this tenant (its period must have ended)')
    .option('--json', 'print {"invoices": [{"id", "tenantId", "status", "number", "totalMicros", "lines": [{"meter", "quantity", "amountMicros"}]}]}')
    .action(async (opts: { period: string; tenant?: string; json?: boolean }) => {
      const { closeMonth, parseMonth } = await import('../../src/invoices/index.js');
      parseMonth(opts.period); // a clear error before any connection
      await withDeps(config(), async (deps) => {
        let bar: { start(total: number, v: number): void; update(n: number): void; stop(): void } | null = null;
        let started = false;
        if (process.stderr.isTTY && !opts.tenant) {
          const { SingleBar, Presets } = await import('cli-progress');
          bar = new SingleBar({ format: 'billing close |{bar}| {value}/{total} tenants', stream: process.stderr }, Presets.shades_classic);
        }
        const r = await closeMonth(deps, {
          month: opts.period,
          tenantId: opts.tenant,
          onProgress: (done, total) => {
            if (!bar) return;
            if (!started) bar.start(total, 0);
            started = true;
            bar.update(done);
          },
        }).finally(() => bar?.stop());
        if (opts.json) io.out(JSON.stringify({ invoices: r.invoices.map(invoiceJson) }));
        else {
          io.out(r.invoices.map(invoiceText).join('\n') || 'no invoices for that period');
          io.err(`${r.created} created, ${r.invoices.length - r.created} existing, ${r.skipped} skipped ($0), ${r.notEnded} periods not ended yet`);
        }
      });
    });

  billing
    .command('finalize')
    .description('finalize a draft now (ends its grace window): refresh, credit balance, number; refused while a replica has not flushed past the period end unless --force (audited)')
    .requiredOption('--invoice <id>', 'invoice id')
    .option('--force', 'finalize even though a live replica\'s usage WAL lags behind the period end')
    .option('--json', 'print {"invoice": {...}}')
    .action(async (opts: { invoice: string; force?: boolean; json?: boolean }) => {
      const { finalizeInvoice } = await import('../../src/invoices/index.js');
      const { createRedis } = await import('../../src/shared/index.js');
      const cfg = config();
      const redis = createRedis(cfg, { lazyConnect: true, maxRetriesPerRequest: 1 });
      redis.on('error', () => {}); // a failed read is reported by the command
      try {
        await withDeps(cfg, async (deps) => {
          const inv = await finalizeInvoice({ ...deps, redis, config: cfg }, { invoiceId: opts.invoice, force: Boolean(opts.force), actor: actor() });
          io.out(opts.json ? JSON.stringify({ invoice: invoiceJson(inv) }) : invoiceText(inv));
        });
      } finally {
        redis.disconnect();
      }
    });

  const invoice = program.command('invoice').description('invoices');
  invoice
    .command('show')
    .description('one invoice with its lines')
    .argument('<id>', 'invoice id')
    .option('--json', 'print {"invoice": {...}}')
    .action(async (id: string, opts: { json?: boolean }) => {
      const { getInvoiceForPlatform } = await import('../../src/invoices/index.js');
      await withDeps(config(), async (deps) => {
        const inv = await getInvoiceForPlatform(deps, { id });
        if (!inv) throw notFound(`invoice ${id} not found`);
        io.out(opts.json ? JSON.stringify({ invoice: invoiceJson(inv) }) : invoiceText(inv));
      });
    });
}
