/**
 * Which alerts carry money, and how they read for someone who may not see money (members): a
 * spend anomaly's explanation and details hold amounts, so they are replaced by a sentence
 * without them. Amounts are for admin, finance and platform (the API's field rule).
 */
import type { AlertRow } from './repo.js';

export function alertCarriesMoney(a: Pick<AlertRow, 'kind' | 'metric'>): boolean {
  return a.kind === 'anomaly' && a.metric === 'spend';
}

/** The explanation a person reads: the detector's sentence when there is one, else the title. */
export function alertExplanation(a: Pick<AlertRow, 'title' | 'details'>): string {
  const d = a.details as { explanation?: unknown } | null;
  return typeof d?.explanation === 'string' ? d.explanation : a.title;
}

/** The alert without amounts: title and explanation say what happened, details keep only non-money facts. */
export function withoutMoney(a: AlertRow): AlertRow {
  if (!alertCarriesMoney(a)) return a;
  const d = (a.details ?? {}) as Record<string, unknown>;
  const model = typeof d.model === 'string' && d.model ? ` on ${d.model}` : '';
  const sentence = `spend${model} is above its expected band (amounts are visible to admin and finance)`;
  const keep = ['metric', 'model', 'bucket', 'score', 'baseline', 'detector', 'resolvedBucket'];
  return { ...a, title: sentence, details: { ...Object.fromEntries(keep.filter((k) => k in d).map((k) => [k, d[k]])), explanation: sentence } };
}
