/**
 * `tollgate usage import --tenant ID --file usage.jsonl [--json]`: platform usage import for
 * backfills and corrections. Needs Postgres and ClickHouse, no running Tollgate server; returns
 * once the rows are queryable. This file parses arguments, reads the file and prints; the rules
 * live in src/usage (importUsage).
 */
import { createReadStream, existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { Config } from '../../src/config/index.js';
import { createPgPools } from '../../src/db/index.js';
import { badInput } from '../../src/shared/index.js';

/** Where the command prints (program.ts's CliIo fits; not imported, to keep the import graph acyclic). */
export interface UsageCommandIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

/**
 * Model names the tenant could have called: shared models and its own private ones. A model
 * whose folder cannot be served right now (file not built yet, a config problem) still names a
 * model of this repository, so its history imports; so do the shipped repository's generated models.
 */
async function servableModels(repository: string, tenantId: string): Promise<Set<string>> {
  const { scanRepository, shippedRepository, builtinModels } = await import('../../inference/src/index.js');
  const scan = scanRepository(repository);
  // The generated models of the shipped repository exist once `tollgate serve` has built them.
  const names = new Set<string>(path.resolve(repository) === path.resolve(shippedRepository()) ? builtinModels.map((m) => m.name) : []);
  for (const v of scan.versions) {
    const vis = v.config.visibility;
    if (vis === 'shared' || vis.tenant === tenantId) names.add(v.name);
  }
  for (const p of scan.problems) if (p.model !== '*') names.add(p.model);
  return names;
}

export function registerUsageCommand(program: Command, io: UsageCommandIo, config: () => Config): void {
  const usage = program.command('usage').description('usage metering');
  usage
    .command('import')
    .description('import usage rows from a JSON Lines file (backfills, corrections); ids already stored are duplicates, any bad line imports nothing')
    .requiredOption('--tenant <id>', 'tenant id')
    .requiredOption('--file <path>', 'JSON Lines: {"id","ts","model","items","computeMs"?,"device"?,"status"?,"tags"?} per line')
    .option('--json', 'print {"imported": n, "duplicates": n, "rejected": [{"line": n, "error": "..."}]}')
    .action(async (opts: { tenant: string; file: string; json?: boolean }) => {
      const file = path.resolve(opts.file);
      if (!existsSync(file)) throw badInput(`file not found: ${file}`);
      const cfg = config();
      const knownModels = await servableModels(path.resolve(cfg.TOLLGATE_MODEL_REPOSITORY), opts.tenant);
      const { importUsage } = await import('../../src/usage/index.js');
      const { createClickHouse } = await import('../../src/clickhouse/index.js');
      const pools = createPgPools(cfg, { applicationName: 'tollgate-cli' });
      const clickhouse = createClickHouse(cfg);
      const reader = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
      // Take the iterator now: readline emits lines from the first tick, and an iterator made after
      // the import's first awaits would miss them (and wait for a 'close' already emitted).
      const iterator = reader[Symbol.asyncIterator]();
      const lines: AsyncIterable<string> = { [Symbol.asyncIterator]: () => iterator };
      try {
        const r = await importUsage({ pools, clickhouse }, { tenantId: opts.tenant, lines, knownModels });
        const human = r.rejected.length
          ? ['nothing imported:', ...r.rejected.map((x) => `  line ${x.line}: ${x.error}`)].join('\n')
          : `imported ${r.imported} rows, ${r.duplicates} duplicates skipped`;
        if (opts.json) io.out(JSON.stringify(r));
        else (r.rejected.length ? io.err : io.out)(human);
        if (r.rejected.length) throw badInput(`${r.rejected.length} bad line(s) in ${file}; nothing was imported`);
      } finally {
        reader.close();
        await Promise.allSettled([pools.close(), clickhouse.close()]);
      }
    });

  usage
    .command('seed')
    .description('import generated history (daily/weekly seasonality, ~1 % errors) for an existing tenant — demo data for the console, alerts and invoices')
    .requiredOption('--tenant <id>', 'tenant id')
    .option('--span <d>', 'how far back, e.g. 30d (not before the tenant’s first plan)', '30d')
    .option('--peak-per-hour <n>', 'requests per hour at the daily peak', '120')
    .option('--models <list>', 'models, comma-separated', 'mlp-demo')
    .option('--anomaly', 'three hours two days back with 5x traffic, a third of it failing')
    .option('--json', 'print {"from", "to", "imported", "duplicates", "clampedToFirstPlan", "anomaly"}')
    .action(async (opts: { tenant: string; span: string; peakPerHour: string; models: string; anomaly?: boolean; json?: boolean }) => {
      const { seedHistory, parseDuration } = await import('../simulate.js');
      const spanMs = parseDuration(opts.span);
      if (spanMs < 3_600_000 || spanMs > 93 * 86_400_000) throw badInput('--span must be between 1h and 93d');
      const peakPerHour = Number(opts.peakPerHour);
      if (!Number.isFinite(peakPerHour) || peakPerHour <= 0 || peakPerHour > 10_000) throw badInput('--peak-per-hour must be a number in (0, 10000]');
      const models = opts.models.split(',').map((m) => m.trim()).filter(Boolean);
      if (models.length === 0) throw badInput('--models: name at least one model');
      const cfg = config();
      const known = await servableModels(path.resolve(cfg.TOLLGATE_MODEL_REPOSITORY), opts.tenant);
      const unknown = models.filter((m) => !known.has(m));
      if (unknown.length) throw badInput(`unknown model(s) ${unknown.join(', ')}`);
      const { importUsage } = await import('../../src/usage/index.js');
      const { createClickHouse } = await import('../../src/clickhouse/index.js');
      const { listTenantPlans } = await import('../../src/tenants/index.js');
      const { isUuid } = await import('../../src/db/index.js');
      if (!isUuid(opts.tenant)) throw badInput(`tenant id ${JSON.stringify(opts.tenant)} is not a UUID`);
      const pools = createPgPools(cfg, { applicationName: 'tollgate-cli' });
      const clickhouse = createClickHouse(cfg);
      try {
        const plans = await listTenantPlans({ pools }, { tenantId: opts.tenant });
        if (plans.length === 0) throw badInput(`tenant ${opts.tenant} does not exist or has no plan`);
        const firstPlanMs = Math.min(...plans.map((p) => p.effectiveFrom.getTime()));
        const r = await seedHistory({
          tenantId: opts.tenant,
          firstPlanMs,
          nowMs: Date.now(),
          spanMs,
          peakPerHour,
          models,
          anomaly: Boolean(opts.anomaly),
          import: (q) => importUsage({ pools, clickhouse }, q),
        });
        if (opts.json) io.out(JSON.stringify(r));
        else
          io.out(
            `imported ${r.imported} rows (${r.duplicates} already there) for ${r.from} .. ${r.to}` +
              (r.clampedToFirstPlan ? ' (history starts at the tenant’s first plan; create tenants with --billing-start to go further back)' : '') +
              (r.anomaly ? `; anomaly ${r.anomaly.from} .. ${r.anomaly.to}` : ''),
          );
      } finally {
        await Promise.allSettled([pools.close(), clickhouse.close()]);
      }
    });
}
