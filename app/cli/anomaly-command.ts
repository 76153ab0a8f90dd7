/**
 * `tollgate anomaly eval`: runs the anomaly detector (or scores existing NAB results) over a
 * NAB-layout corpus and prints NAB's scores. This file only parses arguments and prints; the
 * detector, the scorer and the corpus rules live in src/anomalies. Needs no running services.
 */
import { Option, type Command } from 'commander';
import { badInput } from '../../src/shared/index.js';
import type { EvalReport, NabDetectorName, NabProfileName } from '../../src/anomalies/index.js';

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

export function registerAnomalyCommand(program: Command, io: AnomalyCommandIo): void {
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
}
