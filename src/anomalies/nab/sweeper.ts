/**
 * NAB's scoring of one file (a port of NAB's `Sweeper.calcSweepScore` + `scoreDataSet` for one
 * threshold; see ../README.md). Rows are detections when their score ≥ the threshold.
 * - The first min(floor(0.15·n), 750) rows are probationary: ignored entirely.
 * - Each window counts once: its earliest scorable detection earns tpWeight·S(y)/S(−1), y the
 *   relative position (−1 at the window's first row, −1/width at its last); none costs −fnWeight.
 * - A detection outside every window costs fpWeight·S(y), y = distance from the end of the
 *   preceding window over (that window's width − 1), or the full −fpWeight with none before it.
 * - tp/fp/fn/tn are NAB's row counts (scorable rows by detection × inside a window).
 * Windows are matched to rows by exact timestamp, as in NAB; a window whose ends are not rows
 * of the file is an error (NAB's labeler refuses such labels too).
 */
import { badInput } from '../../shared/index.js';
import type { CostProfile } from './profiles.js';

export interface NabWindow {
  readonly start: number; // epoch ms, inclusive
  readonly end: number; // epoch ms, inclusive
}

export interface FileScore {
  raw: number;
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}

export const probationPercent = 0.15;

/** NAB's probationary length in rows (a float when capped: 0.15·5000 = 750). */
export function probationaryLength(rows: number): number {
  return Math.min(Math.floor(probationPercent * rows), probationPercent * 5000);
}

/** NAB's scaled sigmoid: 2/(1+e^{5y}) − 1, and −1 for y > 3 (far past a window). */
export function scaledSigmoid(y: number): number {
  if (y > 3.0) return -1.0;
  return 2 * (1 / (1 + Math.exp(5 * y))) - 1.0;
}

const maxTp = scaledSigmoid(-1.0);

interface Located {
  startIndex: number;
  endIndex: number;
}

function locateWindows(timestamps: readonly number[], windows: readonly NabWindow[], name: string): Located[] {
  const firstIndex = new Map<number, number>();
  timestamps.forEach((t, i) => {
    if (!firstIndex.has(t)) firstIndex.set(t, i);
  });
  return windows.map((w) => {
    const startIndex = firstIndex.get(w.start);
    const endIndex = firstIndex.get(w.end);
    if (startIndex === undefined || endIndex === undefined) {
      throw badInput(`${name}: window ${new Date(w.start).toISOString()} .. ${new Date(w.end).toISOString()} does not start and end on rows of the file`);
    }
    if (endIndex < startIndex) throw badInput(`${name}: window ends before it starts (${new Date(w.start).toISOString()})`);
    return { startIndex, endIndex };
  });
}

/**
 * Per row: the weighted score it would earn as a detection, and the window it belongs to
 * (an index into `windows`), `null` outside windows, or 'probation'.
 */
function sweepRows(timestamps: readonly number[], located: readonly Located[], windows: readonly NabWindow[], profile: CostProfile) {
  const probation = probationaryLength(timestamps.length);
  const weighted = new Float64Array(timestamps.length);
  const windowOf: Array<number | null | 'probation'> = new Array(timestamps.length);
  let next = 0; // next window to enter (NAB pops them in order)
  let current: number | null = null;
  let prevEnd: number | null = null;
  let prevWidth = 0;
  for (let i = 0; i < timestamps.length; i++) {
    const t = timestamps[i]!;
    if (next < windows.length && t === windows[next]!.start) current = next++;
    if (current !== null) {
      const { startIndex, endIndex } = located[current]!;
      const width = endIndex - startIndex + 1;
      weighted[i] = (scaledSigmoid(-(endIndex - i + 1) / width) * profile.tpWeight) / maxTp;
    } else if (prevEnd === null) {
      weighted[i] = -1.0 * profile.fpWeight;
    } else {
      weighted[i] = scaledSigmoid(Math.abs(prevEnd - i) / (prevWidth - 1)) * profile.fpWeight;
    }
    windowOf[i] = i >= probation ? current : 'probation';
    if (current !== null && t === windows[current]!.end) {
      prevEnd = i;
      prevWidth = located[current]!.endIndex - located[current]!.startIndex + 1;
      current = null;
    }
  }
  return { weighted, windowOf };
}

/** Scores one file's detector output against its windows, as NAB does for one threshold. */
export function scoreFile(input: {
  name: string;
  timestamps: readonly number[];
  scores: ArrayLike<number>;
  windows: readonly NabWindow[];
  profile: CostProfile;
  threshold: number;
}): FileScore {
  const { name, timestamps, scores, windows, profile, threshold } = input;
  if (scores.length !== timestamps.length) throw badInput(`${name}: ${scores.length} scores for ${timestamps.length} rows`);
  const located = locateWindows(timestamps, windows, name);
  const { weighted, windowOf } = sweepRows(timestamps, located, windows, profile);
  // Windows with at least one scorable row start at −fnWeight; a detection replaces it by its best (earliest) score.
  const windowScore = new Map<number, number>();
  for (const w of windowOf) if (typeof w === 'number') windowScore.set(w, -profile.fnWeight);
  let fpSum = 0;
  const counts = { tp: 0, fp: 0, fn: 0, tn: 0 };
  for (let i = 0; i < timestamps.length; i++) {
    const w = windowOf[i]!;
    if (w === 'probation') continue;
    const detected = scores[i]! >= threshold;
    if (w === null) {
      if (detected) {
        counts.fp++;
        fpSum += weighted[i]!;
      } else counts.tn++;
    } else if (detected) {
      counts.tp++;
      windowScore.set(w, Math.max(windowScore.get(w)!, weighted[i]!));
    } else counts.fn++;
  }
  let raw = fpSum;
  for (const s of windowScore.values()) raw += s;
  return { raw, ...counts };
}
