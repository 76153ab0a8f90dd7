/** Helpers for raw series the detector did not produce itself (CSV files, imports). */

/**
 * A series' bucket width: the median of its positive steps between consecutive timestamps
 * (robust to gaps, repeats and the odd out-of-order row).
 */
export function inferBucketMs(timestamps: ArrayLike<number>): number {
  const steps: number[] = [];
  for (let i = 1; i < timestamps.length; i++) {
    const d = timestamps[i]! - timestamps[i - 1]!;
    if (d > 0) steps.push(d);
  }
  if (steps.length === 0) throw new RangeError('a series needs two distinct timestamps to infer its bucket width');
  steps.sort((a, b) => a - b);
  return steps[steps.length >> 1]!;
}
