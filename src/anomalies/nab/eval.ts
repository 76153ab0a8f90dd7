/**
 * `tollgate anomaly eval`: scores a detector (or existing NAB results files) over a NAB-layout
 * corpus and normalises like NAB: 100·(raw − null)/(perfect − null), with null the score of a
 * detector that never alarms and perfect = number of windows × tpWeight.
 *
 * The files scored are exactly the windows file's keys. A key without a data file, or a data
 * file without a key, is an error listing them: a partial corpus is never scored silently.
 */
import { badInput } from '../../shared/index.js';
import { listDataFiles, locateResults, nabThreshold, readScores, readSeries, readWindows } from './corpus.js';
import { nabDetector, type NabDetector } from './detectors.js';
import { nabProfiles, type NabProfileName } from './profiles.js';
import { scoreFile } from './sweeper.js';

export interface EvalOptions {
  dataDir: string;
  windowsFile: string;
  profile: NabProfileName;
  /** Score these NAB results files instead of running a detector. */
  scoresDir?: string;
  /**
   * Overrides the detector's own threshold. With scoresDir, the default is the results'
   * detector's threshold in NAB's config/thresholds.json beside the results folder.
   */
  threshold?: number;
  /** The detector to run (default: tollgate); ignored with scoresDir. */
  detector?: NabDetector;
}

export interface EvalFile {
  file: string;
  raw: number;
  tp: number;
  fp: number;
  fn: number;
}

export interface EvalReport {
  profile: NabProfileName;
  files: EvalFile[];
  rawTotal: number;
  nullTotal: number;
  perfectTotal: number;
  normalized: number;
}

function checkCorpus(dataDir: string, keys: readonly string[]): void {
  const present = new Set(listDataFiles(dataDir));
  const missing = keys.filter((k) => !present.has(k));
  const unlabelled = [...present].filter((k) => !keys.includes(k));
  const problems = [
    missing.length ? `${missing.length} file(s) of the windows file missing from ${dataDir}: ${missing.join(', ')}` : '',
    unlabelled.length ? `${unlabelled.length} data file(s) without windows: ${unlabelled.join(', ')}` : '',
  ].filter(Boolean);
  if (problems.length) throw badInput(problems.join('; '));
}

export function runNabEval(opts: EvalOptions): EvalReport {
  const profile = nabProfiles[opts.profile];
  const windows = readWindows(opts.windowsFile);
  const keys = [...windows.keys()].sort();
  checkCorpus(opts.dataDir, keys);
  const results = opts.scoresDir !== undefined ? locateResults(opts.scoresDir, keys) : null;
  const detector = opts.detector ?? nabDetector('tollgate');
  const threshold = opts.threshold ?? (results ? nabThreshold(opts.scoresDir!, results.detector, opts.profile) : detector.threshold);
  if (results ? !Number.isFinite(threshold) : !(threshold > 0 && threshold < 1)) throw badInput(`threshold ${threshold} is out of range: ${results ? 'a finite number' : `${detector.name} scores lie in [0, 1]; pass 0 < T < 1`}`);
  const files: EvalFile[] = [];
  let rawTotal = 0;
  let nullTotal = 0;
  let windowCount = 0;
  for (const key of keys) {
    const series = readSeries(opts.dataDir, key);
    const scores = results ? readScores(results.files.get(key)!, series.timestamps) : detector.run(series, threshold);
    const fileWindows = windows.get(key)!;
    const base = { name: key, timestamps: series.timestamps, windows: fileWindows, profile };
    const s = scoreFile({ ...base, scores, threshold });
    const none = scoreFile({ ...base, scores: new Float64Array(scores.length), threshold: Infinity });
    files.push({ file: key, raw: s.raw, tp: s.tp, fp: s.fp, fn: s.fn });
    rawTotal += s.raw;
    nullTotal += none.raw;
    windowCount += fileWindows.length;
  }
  const perfectTotal = windowCount * profile.tpWeight;
  const normalized = perfectTotal === nullTotal ? 0 : (100 * (rawTotal - nullTotal)) / (perfectTotal - nullTotal);
  return { profile: opts.profile, files, rawTotal, nullTotal, perfectTotal, normalized };
}
