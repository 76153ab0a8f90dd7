/** Synthetic metric series for the detector tests: seeded, with daily and weekly seasonality. */
import { prng } from '../helpers/prng.js';
import type { Bucket } from '../../src/anomalies/index.js';

export const minute = 60_000;
export const hour = 60 * minute;
export const day = 24 * hour;
/** A Monday, 00:00 UTC. */
export const start = Date.UTC(2025, 0, 6);

export function gaussian(rand: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

export interface SeriesShape {
  days: number;
  bucketMs: number;
  level: number;
  /** Daily amplitude as a fraction of the level (peak at 15:00 UTC). */
  daily?: number;
  /** Weekend level as a fraction of the weekday level. */
  weekend?: number;
  noise: number;
  seed: number;
}

/** The noiseless value of a shape at time t. */
export function shapeAt(s: SeriesShape, t: number): number {
  const hourOfDay = ((t - start) % day) / hour;
  const dayOfWeek = Math.floor((t - start) / day) % 7;
  const seasonal = 1 + (s.daily ?? 0) * Math.sin((2 * Math.PI * (hourOfDay - 9)) / 24);
  return s.level * seasonal * (dayOfWeek >= 5 ? (s.weekend ?? 1) : 1);
}

export function makeSeries(s: SeriesShape): Bucket[] {
  const noise = gaussian(prng(s.seed));
  const n = Math.round((s.days * day) / s.bucketMs);
  return Array.from({ length: n }, (_, i) => {
    const t = start + i * s.bucketMs;
    return { t, value: shapeAt(s, t) + s.noise * noise() };
  });
}

/** Index of the bucket at `days` days and `hours` hours after the start. */
export function at(bucketMs: number, days: number, hours = 0): number {
  return Math.round((days * day + hours * hour) / bucketMs);
}
