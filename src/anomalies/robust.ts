/**
 * Robust statistics of a sorted sample: the median, the MAD and a high quantile of the
 * absolute deviations from the median. Working on sorted samples makes every statistic a
 * function of the sample's values alone (not of their order), so scoring new buckets with
 * history gives bit-identical results to scoring the whole series.
 */

/** 1.4826·MAD estimates σ for normal data. */
export const madToSigma = 1.4826;

/** Median of sorted a[0..n); NaN when n is 0. */
export function sortedMedian(a: ArrayLike<number>, n: number): number {
  if (n <= 0) return NaN;
  const h = n >> 1;
  return n % 2 === 1 ? a[h]! : (a[h - 1]! + a[h]!) / 2;
}

/** First index in sorted a[0..n) whose value is ≥ x. */
export function lowerBound(a: ArrayLike<number>, n: number, x: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface SampleStats {
  median: number;
  /** Median absolute deviation from the median (unscaled). */
  mad: number;
  /** The q-quantile (index floor(q·n)) of the absolute deviations from the median. */
  tail: number;
}

/**
 * The k-th smallest (0-based) absolute deviation |a[i] − m| of sorted a[0..n), where split is
 * the first index with a[split] ≥ m. Deviations grow outwards on both sides of the split:
 * left side (m − a[split−1−j]) and right side (a[split+j] − m) are two sorted lists, and the
 * k-th smallest of two sorted lists is found by bisection in O(log n).
 */
function kthDeviation(a: ArrayLike<number>, n: number, m: number, split: number, k: number): number {
  // left list: m − a[split−1−j]; right list: a[split+j] − m. Take x from the left and k+1−x
  // from the right; bisect for the x where the two cut lines cross.
  let lo = Math.max(0, k + 1 - (n - split));
  let hi = Math.min(k + 1, split);
  while (lo < hi) {
    const x = (lo + hi) >> 1;
    if (a[split + k - x]! - m > m - a[split - 1 - x]!) lo = x + 1;
    else hi = x;
  }
  const fromLeft = lo > 0 ? m - a[split - lo]! : -Infinity;
  const fromRight = k - lo >= 0 ? a[split + k - lo]! - m : -Infinity;
  return Math.max(fromLeft, fromRight);
}

/** Median, MAD and a tail quantile of the absolute deviations of sorted a[0..n). */
export function sortedStats(a: ArrayLike<number>, n: number, tailQ: number): SampleStats {
  const median = sortedMedian(a, n);
  if (n === 0) return { median, mad: NaN, tail: NaN };
  const split = lowerBound(a, n, median);
  const h = n >> 1;
  const upper = kthDeviation(a, n, median, split, h);
  const mad = n % 2 === 1 ? upper : (kthDeviation(a, n, median, split, h - 1) + upper) / 2;
  return { median, mad, tail: kthDeviation(a, n, median, split, Math.min(n - 1, Math.floor(tailQ * n))) };
}

/** A multiset of numbers kept sorted, for samples that slide one bucket at a time. */
export class SortedSample {
  values = new Float64Array(64);
  size = 0;

  private grow(): void {
    const grown = new Float64Array(this.values.length * 2);
    grown.set(this.values);
    this.values = grown;
  }

  insert(x: number): void {
    if (this.size === this.values.length) this.grow();
    const at = lowerBound(this.values, this.size, x);
    this.values.copyWithin(at + 1, at, this.size);
    this.values[at] = x;
    this.size++;
  }

  remove(x: number): void {
    const at = lowerBound(this.values, this.size, x);
    if (at >= this.size || this.values[at] !== x) throw new Error('SortedSample.remove: value not present');
    this.values.copyWithin(at, at + 1, this.size);
    this.size--;
  }
}

/**
 * Values with times, kept sorted, over a moving time window: push() in time order, expire()
 * what fell out of the window, then ask for a quantile. Its answers depend only on the values
 * inside the window, never on how far back it started.
 */
export class TimedWindow {
  private readonly ts: number[] = [];
  private readonly xs: number[] = [];
  private head = 0;
  private readonly sorted = new SortedSample();

  push(t: number, x: number): void {
    this.ts.push(t);
    this.xs.push(x);
    this.sorted.insert(x);
  }

  /** Drops entries older than `from`. */
  expire(from: number): void {
    while (this.head < this.ts.length && this.ts[this.head]! < from) this.sorted.remove(this.xs[this.head++]!);
    if (this.head > 4096 && this.head * 2 > this.ts.length) {
      this.ts.splice(0, this.head);
      this.xs.splice(0, this.head);
      this.head = 0;
    }
  }

  get size(): number {
    return this.sorted.size;
  }

  /** The value at index floor(q·n) of the sorted window (0 when empty). */
  quantile(q: number): number {
    const n = this.sorted.size;
    return n ? this.sorted.values[Math.min(n - 1, Math.floor(q * n))]! : 0;
  }

  median(): number {
    return this.sorted.size ? sortedMedian(this.sorted.values, this.sorted.size) : NaN;
  }

  /** The mean, summed in sorted order (so it is the same however the window was filled); NaN when empty. */
  mean(): number {
    const n = this.sorted.size;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += this.sorted.values[i]!;
    return n ? sum / n : NaN;
  }
}
