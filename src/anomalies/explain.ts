/**
 * The sentence a person reads on an alert, e.g.
 * "errors 12.4 % vs expected 0.8 % ± 0.5 % for Tuesdays 14:00, last 4 weeks".
 * "±" is the band's half-width: how far the value may stray before it is anomalous.
 */
import { detectorParams, type DetectorParams } from './params.js';
import type { ScoredBucket } from './types.js';

/** How values of a metric are written: a built-in unit or a formatter of one's own. */
export type ValueFormat = 'ratio' | 'ms' | 'count' | 'number' | { readonly currency: string; readonly micros?: boolean } | ((value: number) => string);

export interface ExplainInput {
  /** What the metric is called in the sentence, e.g. "errors", "p95 latency". */
  readonly label: string;
  readonly format: ValueFormat;
  readonly bucket: ScoredBucket;
  /** IANA time zone in which "Tuesdays 14:00" is said (the tenant's); default UTC. */
  readonly timeZone?: string;
  readonly bucketMs: number;
  readonly params?: Partial<DetectorParams>;
}

function plain(v: number, maxFraction: number): string {
  return v.toLocaleString('en-US', { maximumFractionDigits: maxFraction });
}

/** A number with as many decimals as its size deserves (1234 → "1,234", 12.34 → "12.3", 0.0123 → "0.012"). */
function significant(v: number): string {
  const a = Math.abs(v);
  if (a >= 100 || a === 0) return plain(v, 0);
  if (a >= 10) return plain(v, 1);
  if (a >= 1) return plain(v, 2);
  return v.toLocaleString('en-US', { maximumSignificantDigits: 2 });
}

export function formatValue(v: number, format: ValueFormat): string {
  if (!Number.isFinite(v)) return String(v);
  if (typeof format === 'function') return format(v);
  if (typeof format === 'object') {
    const amount = format.micros ? v / 1e6 : v;
    return amount.toLocaleString('en-US', { style: 'currency', currency: format.currency, maximumFractionDigits: Math.abs(amount) < 1 ? 4 : 2 });
  }
  switch (format) {
    case 'ratio':
      return `${significant(v * 100)} %`;
    case 'ms':
      return Math.abs(v) >= 1000 ? `${significant(v / 1000)} s` : `${significant(v)} ms`;
    case 'count':
      return Math.abs(v) >= 100 ? plain(v, 0) : significant(v);
    case 'number':
      return significant(v);
  }
}

function localParts(t: number, timeZone: string): { weekday: string; time: string } {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'long', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(new Date(t));
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  return { weekday: get('weekday'), time: `${get('hour')}:${get('minute')}` };
}

function duration(ms: number): string {
  const hours = ms / 3_600_000;
  if (hours < 1) return `${Math.round(ms / 60_000)} minutes`;
  if (hours <= 48) return `${plain(hours, 1)} hours`;
  return `${plain(hours / 24, 1)} days`;
}

/** Where the expected value came from, e.g. "for Tuesdays 14:00, last 4 weeks". */
function baselinePhrase(input: ExplainInput, p: DetectorParams): string {
  const { bucket, timeZone = 'UTC' } = input;
  const local = localParts(bucket.t, timeZone);
  const season = p.seasons.find((s) => s.kind === bucket.baseline);
  switch (bucket.baseline) {
    case 'week':
      return `for ${local.weekday}s ${local.time}, last ${season?.lookback ?? '?'} weeks`;
    case 'day':
      return `for ${local.time} on recent days, last ${season?.lookback ?? '?'} days`;
    case 'recent':
      return `over the last ${duration(p.recentBuckets * input.bucketMs)}`;
    case 'none':
      return '';
  }
}

export function explainBucket(input: ExplainInput): string {
  const p = detectorParams(input.params);
  const { bucket, label, format } = input;
  const value = `${label} ${formatValue(bucket.value, format)}`;
  if (bucket.baseline === 'none') return `${value}: not enough history yet to say what is expected`;
  const band = bucket.upper - bucket.expected;
  const sentence = `${value} vs expected ${formatValue(bucket.expected, format)} ± ${formatValue(band, format)} ${baselinePhrase(input, p)}`;
  return bucket.gated ? `${sentence} (too little traffic in this bucket to judge)` : sentence;
}
