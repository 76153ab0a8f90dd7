/**
 * Splitting an integer amount across slices in proportion to their weights, exactly:
 * largest-remainder (Hamilton) apportionment. Every slice gets floor(total × w / W); the
 * leftover micros go one each to the slices with the largest remainders (ties: earlier slice
 * first, so the result is deterministic for a given order). The parts always sum to `total`.
 */
export function allocateLargestRemainder(total: bigint, weights: readonly bigint[]): bigint[] {
  if (weights.some((w) => w < 0n)) throw new RangeError('weights must be >= 0');
  const sum = weights.reduce((a, b) => a + b, 0n);
  if (weights.length === 0) {
    if (total !== 0n) throw new RangeError('cannot allocate a non-zero amount to no slices');
    return [];
  }
  if (sum === 0n) {
    // Nothing to weigh by: spread evenly (only happens for a flat fee on zero usage).
    return allocateLargestRemainder(total, weights.map(() => 1n));
  }
  const negative = total < 0n;
  const abs = negative ? -total : total;
  const parts = weights.map((w) => (abs * w) / sum);
  const remainders = weights.map((w, i) => ({ i, r: (abs * w) % sum }));
  let left = abs - parts.reduce((a, b) => a + b, 0n);
  remainders.sort((a, b) => (a.r === b.r ? a.i - b.i : a.r > b.r ? -1 : 1));
  for (const { i } of remainders) {
    if (left === 0n) break;
    parts[i] = parts[i]! + 1n;
    left -= 1n;
  }
  return negative ? parts.map((p) => -p) : parts;
}
