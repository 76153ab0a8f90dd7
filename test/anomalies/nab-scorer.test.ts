/**
 * The NAB-compatible scorer. Proof: scoring NAB's own windowedGaussian (and null) results in
 * the shared data reproduces NAB's published per-file scores and counts, for every profile,
 * to 1e-6. (The S(t) columns inside NAB's results files come from an older NAB scorer and are
 * not the per-file scores' source; the *_scores.csv files are.)
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { nabDir } from './nab-dir.js';
import { nabProfileNames, nabProfiles, probationaryLength, readScores, readSeries, readWindows, runNabEval, scaledSigmoid, scoreFile, type NabProfileName } from '../../src/anomalies/index.js';

const nab = nabDir;
const windows = readWindows(path.join(nab, 'labels/combined_windows.json'));
const thresholds = JSON.parse(readFileSync(path.join(nab, 'config/thresholds.json'), 'utf8')) as Record<string, Record<string, { threshold: number }>>;

interface Published {
  score: number;
  tp: number;
  tn: number;
  fp: number;
  fn: number;
}

function published(detector: string, profile: NabProfileName): Map<string, Published> {
  const lines = readFileSync(path.join(nab, 'results', detector, `${detector}_${profile}_scores.csv`), 'utf8').trim().split('\n').slice(1);
  return new Map(
    lines
      .map((l) => l.split(','))
      .filter((c) => c[2])
      .map((c) => [c[2]!, { score: Number(c[4]), tp: Number(c[5]), tn: Number(c[6]), fp: Number(c[7]), fn: Number(c[8]) }]),
  );
}

describe('NAB scorer', () => {
  it('uses NAB profiles', () => {
    const file = JSON.parse(readFileSync(path.join(nab, 'config/profiles.json'), 'utf8')) as Record<string, { CostMatrix: Record<string, number> }>;
    expect(Object.keys(file).sort()).toEqual([...nabProfileNames].sort());
    for (const name of nabProfileNames) {
      const { tpWeight, fpWeight, fnWeight } = file[name]!.CostMatrix;
      expect(nabProfiles[name]).toEqual({ tpWeight, fpWeight, fnWeight });
    }
  });

  for (const detector of ['windowedGaussian', 'null']) {
    it(`reproduces NAB's published per-file ${detector} scores and counts for every profile (1e-6)`, () => {
      const pub = Object.fromEntries(nabProfileNames.map((p) => [p, published(detector, p)])) as Record<NabProfileName, Map<string, Published>>;
      let compared = 0;
      for (const [key, fileWindows] of windows) {
        const { timestamps } = readSeries(path.join(nab, 'data'), key);
        const resultsFile = path.join(nab, 'results', detector, key.split('/')[0]!, `${detector}_${key.split('/')[1]}`);
        const scores = readScores(resultsFile, timestamps);
        for (const profile of nabProfileNames) {
          const threshold = thresholds[detector]![profile]!.threshold;
          const ours = scoreFile({ name: key, timestamps, scores, windows: fileWindows, profile: nabProfiles[profile], threshold });
          const theirs = pub[profile].get(key);
          expect(theirs, `${key} in the published scores`).toBeDefined();
          expect(Math.abs(ours.raw - theirs!.score), `${detector} ${profile} ${key}: ${ours.raw} vs ${theirs!.score}`).toBeLessThanOrEqual(1e-6);
          expect({ tp: ours.tp, tn: ours.tn, fp: ours.fp, fn: ours.fn }, `${profile} ${key}`).toEqual({ tp: theirs!.tp, tn: theirs!.tn, fp: theirs!.fp, fn: theirs!.fn });
          compared++;
        }
      }
      expect(compared).toBe(windows.size * 3);
      expect(windows.size).toBe(41);
    });
  }

  it('normalises like NAB: 100·(raw − null)/(perfect − null), perfect = windows × tpWeight', () => {
    const r = runNabEval({ dataDir: path.join(nab, 'data'), windowsFile: path.join(nab, 'labels/combined_windows.json'), profile: 'reward_low_FN_rate', scoresDir: path.join(nab, 'results/windowedGaussian') });
    const pub = published('windowedGaussian', 'reward_low_FN_rate');
    const windowCount = [...windows.values()].reduce((n, w) => n + w.length, 0);
    expect(windowCount).toBe(86);
    expect(r.perfectTotal).toBe(86);
    expect(r.nullTotal).toBe(-2 * 86);
    const raw = r.files.reduce((sum, f) => sum + pub.get(f.file)!.score, 0);
    expect(r.rawTotal).toBeCloseTo(raw, 6);
    expect(r.normalized).toBeCloseTo((100 * (raw + 172)) / (86 + 172), 6);
    expect(r.files.map((f) => f.file)).toEqual([...windows.keys()].sort());
  });
});

describe('NAB scoring rules on a hand-made file', () => {
  const minute = 60_000;
  const t0 = Date.UTC(2020, 0, 1);
  const timestamps = Array.from({ length: 100 }, (_, i) => t0 + i * 5 * minute);
  const window = { start: timestamps[40]!, end: timestamps[49]! };
  const standard = nabProfiles.standard;
  const score = (detections: number[], windowList = [window]) => {
    const scores = new Float64Array(100);
    for (const i of detections) scores[i] = 1;
    return scoreFile({ name: 'cat/file.csv', timestamps, scores, windows: windowList, profile: standard, threshold: 0.5 });
  };

  it('rewards the earliest detection in a window, by its position', () => {
    expect(probationaryLength(100)).toBe(15);
    expect(score([40]).raw).toBeCloseTo(1, 12);
    expect(score([49]).raw).toBeCloseTo(scaledSigmoid(-0.1) / scaledSigmoid(-1), 12);
    expect(score([45, 49]).raw).toBeCloseTo(scaledSigmoid(-0.5) / scaledSigmoid(-1), 12);
    expect(score([45, 49])).toMatchObject({ tp: 2, fp: 0, fn: 8 });
  });

  it('charges misses and false positives; ignores the probationary rows', () => {
    expect(score([])).toMatchObject({ raw: -1, tp: 0, fp: 0, fn: 10, tn: 75 });
    expect(score([5]).raw).toBe(-1);
    expect(score([20]).raw).toBeCloseTo(-1 - 0.11, 12);
    // after the window: the cost grows with the distance from its end, in window widths
    expect(score([40, 59]).raw).toBeCloseTo(1 + 0.11 * scaledSigmoid(10 / 9), 12);
    expect(score([40, 99]).raw).toBeCloseTo(1 - 0.11, 12);
  });

  it('refuses windows that do not start and end on rows', () => {
    expect(() => score([], [{ start: t0 + 1, end: timestamps[49]! }])).toThrow(/does not start and end on rows/);
  });
});
