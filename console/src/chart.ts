/**
 * Time-series charts with uPlot (bundled at build time; nothing is fetched from a CDN). Series
 * from different groups are aligned on the union of their buckets; `fill` says what a missing
 * bucket means (0 for counts, null = gap for latency). An optional band (expected range from the
 * anomaly detector) is drawn as a filled area with the anomalous buckets marked.
 * uPlot writes labels with textContent, so tenant-supplied series names stay text.
 */
import uPlot from 'uplot';
import { h } from './dom.js';

export interface ChartSeries {
  label: string;
  /** Bucket starts, epoch seconds, ascending. */
  buckets: number[];
  values: (number | null)[];
}

export interface ChartBand {
  label: string;
  buckets: number[];
  lower: number[];
  upper: number[];
  /** Buckets flagged as anomalous (epoch seconds) with the observed value. */
  anomalies: { bucket: number; value: number }[];
}

export interface ChartSpec {
  title: string;
  series: ChartSeries[];
  fill: 0 | null;
  band?: ChartBand | null;
  unit?: string;
  bars?: boolean;
  testid?: string;
  /** The queried range (epoch seconds) and bucket width: fixes the x axis, and with fill 0 every empty bucket is a 0. */
  range?: { from: number; to: number; step: number };
}

const PALETTE = ['#2563eb', '#d97706', '#059669', '#dc2626', '#7c3aed', '#0891b2', '#db2777', '#4b5563'];

type Aligned = [number[], ...(number | null)[][]];

export function align(series: { buckets: number[]; values: (number | null)[] }[], fill: 0 | null, grid: number[] = []): Aligned {
  const xs = [...new Set([...grid, ...series.flatMap((s) => s.buckets)])].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const ys = series.map((s) => {
    const out: (number | null)[] = xs.map(() => fill);
    s.buckets.forEach((b, i) => {
      out[index.get(b)!] = s.values[i] ?? fill;
    });
    return out;
  });
  return [xs, ...ys];
}

/** A chart element; it sizes itself to its container once attached. */
export function chart(spec: ChartSpec): HTMLElement {
  const box = h('div', { class: 'chart', testid: spec.testid }, h('h3', {}, spec.title));
  const all: ChartSeries[] = [...spec.series];
  const band = spec.band ?? null;
  if (all.length === 0 && !band) {
    box.append(h('p', { class: 'muted' }, 'No data in this range.'));
    return box;
  }
  const extra: ChartSeries[] = band
    ? [
        { label: `${band.label} (expected, high)`, buckets: band.buckets, values: band.upper },
        { label: `${band.label} (expected, low)`, buckets: band.buckets, values: band.lower },
        { label: 'anomaly', buckets: band.anomalies.map((a) => a.bucket), values: band.anomalies.map((a) => a.value) },
      ]
    : [];
  const grid: number[] = [];
  if (spec.range && spec.fill === 0) {
    const { from, to, step } = spec.range;
    for (let x = Math.floor(from / step) * step; x < to && grid.length < 5000; x += step) grid.push(x);
  }
  const data = align([...all, ...extra], spec.fill, grid);
  if (band) {
    // Anomaly markers are points only: nulls elsewhere, whatever `fill` is.
    const marks = new Set(band.anomalies.map((a) => a.bucket));
    const last = data.length - 1;
    data[last] = (data[0] as number[]).map((x, i) => (marks.has(x) ? (data[last] as (number | null)[])[i] ?? null : null));
  }
  const series: uPlot.Series[] = [
    {},
    ...all.map((s, i) => ({
      label: s.label,
      stroke: PALETTE[i % PALETTE.length],
      width: 1.5,
      spanGaps: false,
      ...(spec.bars ? { paths: uPlot.paths.bars!({ size: [0.6, 40] }), fill: `${PALETTE[i % PALETTE.length]}99` } : {}),
      value: (_u: uPlot, v: number | null) => (v === null ? '—' : `${formatNum(v)}${spec.unit ?? ''}`),
    })),
  ];
  const bands: uPlot.Band[] = [];
  if (band) {
    const upper = series.length;
    series.push({ label: `expected (high)`, stroke: '#9ca3af', width: 1, dash: [4, 4] });
    series.push({ label: `expected (low)`, stroke: '#9ca3af', width: 1, dash: [4, 4] });
    series.push({ label: 'anomaly', stroke: '#dc2626', width: 0, paths: () => null, points: { show: true, size: 9, fill: '#dc2626', stroke: '#dc2626' } });
    bands.push({ series: [upper, upper + 1], fill: 'rgba(156,163,175,0.25)' });
  }
  const mount = h('div', { class: 'plot' });
  box.append(mount);
  const opts: uPlot.Options = {
    width: 600,
    height: 220,
    series,
    bands,
    scales: { x: spec.range ? { time: true, range: [Math.floor(spec.range.from / spec.range.step) * spec.range.step, spec.range.to] } : { time: true } },
    axes: [{}, { values: (_u, vals) => vals.map((v) => `${formatNum(v)}${spec.unit ?? ''}`), size: 60 }],
    legend: { live: true },
    cursor: { drag: { x: false, y: false } },
  };
  const plot = new uPlot(opts, data as uPlot.AlignedData, mount);
  const resize = () => plot.setSize({ width: Math.max(320, mount.clientWidth || box.clientWidth || 600), height: 220 });
  requestAnimationFrame(resize);
  const ro = new ResizeObserver(resize);
  ro.observe(box);
  return box;
}

function formatNum(v: number): string {
  if (Math.abs(v) >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (Math.abs(v) >= 1e4) return `${(v / 1e3).toFixed(0)}k`;
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(Math.abs(v) < 1 ? 3 : 1);
}
