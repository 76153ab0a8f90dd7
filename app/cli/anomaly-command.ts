/**
 * `tollgate anomaly eval`: runs the anomaly detector (or scores existing NAB results) over a
 * NAB-layout corpus and prints NAB's scores (no services needed). `tollgate anomaly scan`: one
 * detector pass over the stored usage now (Postgres + ClickHouse, no running server). This
 * file only parses arguments and prints; the detector, the scorer and the corpus rules live in
 * src/anomalies, the pass in src/anomaly-scan.
 */
import { Option, type Command } from 'commander';
import type { Config } from '../../src/config/index.js';
import { isUuid } from '../../src/db/index.js';
import { badInput } from '../../src/shared/index.js';
import type { EvalReport, NabDetectorName, NabProfileName } from '../../src/anomalies/index.js';
import type { AnomalyScanResult } from '../../src/anomaly-scan/index.js';

const profiles: readonly NabProfileName[] = ['standard', 'reward_low_FP_rate', 'reward_low_FN_rate'];
const detectors: readonly NabDetectorName[] = ['tollgate', 'static3sigma'];

interface EvalCliOptions {
  data: string;
  windows: string;
  profile: NabProfileName;
  scores?: string;
  threshold?: string;
  detector: NabDetectorName;
  json?: boolean;
}

function parseThreshold(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = Number(text);
  if (text.trim() === '' || !Number.isFinite(t)) throw badInput(`--threshold must be a number (got ${JSON.stringify(text)})`);
  return t;
}

function humanReport(r: EvalReport, what: string): string {
  const width = Math.max(4, ...r.files.map((f) => f.file.length));
  const rows = r.files.map((f) => `${f.file.padEnd(width)}  ${f.raw.toFixed(4).padStart(9)}  ${String(f.tp).padStart(5)}  ${String(f.fp).padStart(5)}  ${String(f.fn).padStart(6)}`);
  return [
    `${what}, profile ${r.profile}`,
    `${'file'.padEnd(width)}  ${'raw'.padStart(9)}  ${'tp'.padStart(5)}  ${'fp'.padStart(5)}  ${'fn'.padStart(6)}`,
    ...rows,
    `raw ${r.rawTotal.toFixed(4)}, null ${r.nullTotal.toFixed(4)}, perfect ${r.perfectTotal.toFixed(4)}`,
    `normalized ${r.normalized.toFixed(2)}  (100·(raw − null)/(perfect − null); tp/fp/fn count rows, as NAB does)`,
  ].join('\n');
}

/** Where the command prints (program.ts's CliIo fits; not imported, to keep the import graph acyclic). */
export interface AnomalyCommandIo {
  out: (text: string) => void;
}

function humanScan(r: AnomalyScanResult): string {
  const line = (what: string, t: AnomalyScanResult['opened'][number]) => `${what} ${t.metric}${t.model ? ` (${t.model})` : ''} for tenant ${t.tenantId} at ${t.bucket}: ${t.explanation}`;
  return [`scored ${r.scored} buckets, opened ${r.opened.length} alerts, resolved ${r.resolved.length}`, ...r.opened.map((t) => line('opened', t)), ...r.resolved.map((t) => line('resolved', t))].join('\n');
}

function parseUntil(text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const d = new Date(text);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(text) || Number.isNaN(d.getTime())) throw badInput(`--until must be an ISO-8601 date-time (got ${JSON.stringify(text)})`);
  return d;
}

export function registerAnomalyCommand(program: Command, io: AnomalyCommandIo, config: () => Config): void {
  const anomaly = program.command('anomaly').description('anomaly detection');
  anomaly
    .command('eval')
    .description('score the anomaly detector (or NAB results files) on a Numenta Anomaly Benchmark corpus')
    .requiredOption('--data <dir>', 'NAB data folder: <category>/<name>.csv files (timestamp,value)')
    .requiredOption('--windows <file>', 'NAB windows file: {"category/name.csv": [[start, end], ...]}; exactly its files are scored')
    .addOption(new Option('--profile <name>', 'NAB cost profile').choices([...profiles]).default('standard'))
    .option('--scores <dir>', "score NAB results files <dir>/<category>/<detector>_<name>.csv (anomaly_score column) instead of running a detector")
    .option('--threshold <t>', "a row is a detection when its score ≥ t (default: the detector's own; with --scores, NAB's config/thresholds.json beside the results)")
    .addOption(new Option('--detector <name>', 'detector to run').choices([...detectors]).default('tollgate'))
    .option('--json', 'print one JSON object {profile, files, rawTotal, nullTotal, perfectTotal, normalized}')
    .action(async (opts: EvalCliOptions) => {
      const threshold = parseThreshold(opts.threshold);
      const { runNabEval, nabDetector } = await import('../../src/anomalies/index.js');
      const report = runNabEval({ dataDir: opts.data, windowsFile: opts.windows, profile: opts.profile, scoresDir: opts.scores, threshold, detector: nabDetector(opts.detector) });
      io.out(opts.json ? JSON.stringify(report) : humanReport(report, opts.scores ? `results in ${opts.scores}` : `detector ${opts.detector}`));
    });
  anomaly
    .command('scan')
    .description('run one anomaly detector pass now: score every hourly bucket not yet scored (history included), open and resolve alerts')
    .option('--tenant <id>', 'only this tenant')
    .option('--until <iso>', 'score buckets that ended by this time (default: now minus ANOMALY_SETTLE_MS)')
    .option('--json', 'print one JSON object {"scored": n, "opened": [...], "resolved": [...]}')
    .action(async (opts: { tenant?: string; until?: string; json?: boolean }) => {
      if (opts.tenant !== undefined && !isUuid(opts.tenant)) throw badInput(`--tenant must be a tenant id (UUID), got ${JSON.stringify(opts.tenant)}`);
      const until = parseUntil(opts.until);
      const cfg = config();
      const { runAnomalyScan } = await import('../../src/anomaly-scan/index.js');
      const { createClickHouse } = await import('../../src/clickhouse/index.js');
      const { createPgPools } = await import('../../src/db/index.js');
      const pools = createPgPools(cfg, { applicationName: 'tollgate-cli' });
      const clickhouse = createClickHouse(cfg);
      try {
        const r = await runAnomalyScan({ clickhouse, pools }, { tenantId: opts.tenant, until, settleMs: cfg.ANOMALY_SETTLE_MS, topModels: cfg.ANOMALY_TOP_MODELS });
        io.out(opts.json ? JSON.stringify(r) : humanScan(r));
      } finally {
        await Promise.allSettled([pools.close(), clickhouse.close()]);
      }
    });
}
