/**
 * NAB's directory layouts: data `DIR/<category>/<name>.csv` (timestamp,value), results
 * `DIR/<category>/<detector>_<name>.csv` (an anomaly_score column), and the windows file
 * (`{"category/name.csv": [[start, end], …]}`). Every problem is an error naming the file.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { badInput } from '../../shared/index.js';
import { parseNabCsv, parseNabTimestamp } from './csv.js';
import type { NabWindow } from './sweeper.js';

const keyPattern = /^[^/\\]+\/[^/\\]+\.csv$/;
const windowsSchema = z.record(z.string().regex(keyPattern, 'keys are category/name.csv'), z.array(z.tuple([z.string(), z.string()])));

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw badInput(`cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** The windows file: file key → windows in time order. */
export function readWindows(file: string): Map<string, NabWindow[]> {
  let json: unknown;
  try {
    json = JSON.parse(readText(file, 'windows file'));
  } catch (err) {
    if ((err as { code?: string }).code === 'BAD_USER_INPUT') throw err;
    throw badInput(`${file}: not JSON (${(err as Error).message})`);
  }
  const parsed = windowsSchema.safeParse(json);
  if (!parsed.success) throw badInput(`${file}: not a NAB windows file: ${parsed.error.issues[0]?.message ?? 'invalid'} at ${parsed.error.issues[0]?.path.join('.')}`);
  const out = new Map<string, NabWindow[]>();
  for (const [key, list] of Object.entries(parsed.data)) {
    const windows = list.map(([a, b]) => {
      const start = parseNabTimestamp(a);
      const end = parseNabTimestamp(b);
      if (start === null || end === null || end < start) throw badInput(`${file}: ${key}: bad window [${a}, ${b}]`);
      return { start, end };
    });
    for (let i = 1; i < windows.length; i++) {
      if (windows[i]!.start <= windows[i - 1]!.end) throw badInput(`${file}: ${key}: windows overlap or are out of order`);
    }
    out.set(key, windows);
  }
  return out;
}

/** Every `category/name.csv` under a data directory (one level of category folders). */
export function listDataFiles(dataDir: string): string[] {
  let categories: string[];
  try {
    categories = readdirSync(dataDir).filter((c) => !c.startsWith('.') && statSync(path.join(dataDir, c)).isDirectory());
  } catch (err) {
    throw badInput(`cannot read data directory ${dataDir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return categories.flatMap((c) => readdirSync(path.join(dataDir, c)).filter((f) => f.endsWith('.csv') && !f.startsWith('.')).map((f) => `${c}/${f}`)).sort();
}

export interface NabSeries {
  timestamps: number[];
  values: Float64Array;
}

export function readSeries(dataDir: string, key: string): NabSeries {
  const file = path.join(dataDir, key);
  const { timestamps, columns } = parseNabCsv(readText(file, 'data file'), file, ['value']);
  if (timestamps.length === 0) throw badInput(`${file}: no rows`);
  return { timestamps, values: columns.value! };
}

/**
 * Finds each key's results file `DIR/<category>/<detector>_<name>.csv`. The detector name is
 * the one prefix that every key has a file for (the directory's own name when it is one of
 * several); a key without a file is an error.
 */
export function locateResults(scoresDir: string, keys: readonly string[]): { detector: string; files: Map<string, string> } {
  const prefixesOf = (key: string): string[] => {
    const [category, name] = key.split('/') as [string, string];
    let files: string[] = [];
    try {
      files = readdirSync(path.join(scoresDir, category));
    } catch {
      // a missing category folder is reported below as a missing results file
    }
    return files.filter((f) => f.endsWith(`_${name}`)).map((f) => f.slice(0, -(name.length + 1)));
  };
  let common: string[] | null = null;
  for (const key of keys) {
    const prefixes = new Set(prefixesOf(key));
    if (prefixes.size === 0) throw badInput(`no results file for ${key} in ${scoresDir} (expected ${path.join(scoresDir, key.split('/')[0]!, `<detector>_${key.split('/')[1]}`)})`);
    common = (common ?? [...prefixes]).filter((p) => prefixes.has(p));
  }
  const candidates = common ?? [];
  const own = path.basename(path.resolve(scoresDir));
  const detector = candidates.includes(own) ? own : candidates.length === 1 ? candidates[0] : undefined;
  if (detector === undefined) {
    throw badInput(candidates.length ? `${scoresDir} holds results of several detectors (${candidates.join(', ')}): point --scores at one detector's folder` : `${scoresDir}: no single detector has results for every file`);
  }
  return { detector, files: new Map(keys.map((k) => [k, path.join(scoresDir, k.split('/')[0]!, `${detector}_${k.split('/')[1]}`)])) };
}

const thresholdsSchema = z.record(z.string(), z.record(z.string(), z.object({ threshold: z.number() })));

/**
 * A NAB detector's own threshold for a profile, from NAB's `config/thresholds.json` beside the
 * results folder (`<results>/<detector>` → `<results>/../config/thresholds.json`).
 */
export function nabThreshold(scoresDir: string, detector: string, profile: string): number {
  const file = path.resolve(scoresDir, '../../config/thresholds.json');
  const parsed = thresholdsSchema.safeParse((() => {
    try {
      return JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      return undefined;
    }
  })());
  const threshold = parsed.success ? parsed.data[detector]?.[profile]?.threshold : undefined;
  if (threshold === undefined) throw badInput(`no threshold for ${detector} (${profile}) in ${file}: pass --threshold`);
  return threshold;
}

/** A results file's anomaly scores, checked row by row against the data file's timestamps. */
export function readScores(file: string, timestamps: readonly number[]): Float64Array {
  const parsed = parseNabCsv(readText(file, 'results file'), file, ['anomaly_score']);
  if (parsed.timestamps.length !== timestamps.length) throw badInput(`${file}: ${parsed.timestamps.length} rows, the data file has ${timestamps.length}`);
  parsed.timestamps.forEach((t, i) => {
    if (t !== timestamps[i]) throw badInput(`${file}:${i + 2}: timestamp differs from the data file's`);
  });
  return parsed.columns.anomaly_score!;
}
