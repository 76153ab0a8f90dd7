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
}
