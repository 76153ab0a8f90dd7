/**
 * Usage: requests, errors, p95 latency and spend per model (or per value of a tag) over a range,
 * from `usage` and `costAttribution`. Spend comes back null with a FORBIDDEN error for roles
 * that may not see money (members): the page then says so instead of showing amounts.
 */
import { deniedAt, gql, unexpectedErrors } from '../api.js';
import { chart, type ChartSeries } from '../chart.js';
import type { Page } from '../context.js';
import { h, table } from '../dom.js';
import { fmtInt, fmtMoney, microsToUnits } from '../format.js';
import { errorsNotice, notVisible, section } from '../ui.js';

const HOUR = 3_600_000;
export const RANGES = {
  '1h': { ms: HOUR, granularity: 'MINUTE', label: 'last hour' },
  '24h': { ms: 24 * HOUR, granularity: 'HOUR', label: 'last 24 hours' },
  '7d': { ms: 7 * 24 * HOUR, granularity: 'HOUR', label: 'last 7 days' },
  '30d': { ms: 30 * 24 * HOUR, granularity: 'DAY', label: 'last 30 days' },
} as const;
type RangeKey = keyof typeof RANGES;

const QUERY = `
query ConsoleUsage($range: TimeRangeInput!, $g: Granularity!, $groupBy: UsageGroupBy!, $tagKey: String, $costRange: TimeRangeInput!, $costGroupBy: CostGroupBy!, $latency: Boolean!) {
  usage(range: $range, granularity: $g, groupBy: $groupBy, tagKey: $tagKey) {
    series { key columns { buckets requests errorRequests } latency @include(if: $latency) { buckets p95Ms } }
  }
  byDay: costAttribution(range: $costRange, groupBy: DAY) { currency totalMicros slices { key costMicros } }
  byGroup: costAttribution(range: $costRange, groupBy: $costGroupBy, tagKey: $tagKey) { currency totalMicros slices { key costMicros } }
}`;

interface Columns {
  buckets: string[];
  requests: number[];
  errorRequests: number[];
}
interface Cost {
  currency: string;
  totalMicros: string | null;
  slices: { key: string; costMicros: string | null }[];
}
interface UsageData {
  usage: { series: { key: string; columns: Columns; latency?: { buckets: string[]; p95Ms: number[] } | null }[] };
  byDay: Cost | null;
  byGroup: Cost | null;
}

const secs = (iso: string) => Math.floor(new Date(iso).getTime() / 1000);

export const usagePage: Page = async (ctx, params) => {
  const rangeKey: RangeKey = (params.get('range') as RangeKey) in RANGES ? (params.get('range') as RangeKey) : '24h';
  const tagKey = params.get('tag')?.trim() || null;
  const r = RANGES[rangeKey];
  const granularity = tagKey && r.granularity === 'MINUTE' ? 'HOUR' : r.granularity;
  const now = Date.now();
  const to = new Date(Math.ceil((now + 1) / 60_000) * 60_000);
  const from = new Date(to.getTime() - r.ms);
  const costRange = { from: new Date(Math.floor(from.getTime() / HOUR) * HOUR).toISOString(), to: new Date(Math.floor(now / HOUR) * HOUR + HOUR).toISOString() };
  const res = await gql<UsageData>(QUERY, {
    range: { from: from.toISOString(), to: to.toISOString() },
    g: granularity,
    groupBy: tagKey ? 'TAG' : 'MODEL',
    tagKey,
    costRange,
    costGroupBy: tagKey ? 'TAG' : 'MODEL',
    latency: !tagKey,
  });
  const data = res.data!;
  const series = data.usage?.series ?? [];
  const groupName = tagKey ? `tag ${tagKey}` : 'model';
  const label = (k: string) => (k === '' ? (tagKey ? '(untagged)' : '(none)') : k);
  const step = { MINUTE: 60, HOUR: 3600, DAY: 86400 }[granularity];
  const xRange = { from: Math.floor(from.getTime() / 1000), to: Math.floor(to.getTime() / 1000), step };
  const toChart = (pick: (c: Columns) => number[]): ChartSeries[] => series.map((s) => ({ label: label(s.key), buckets: s.columns.buckets.map(secs), values: pick(s.columns) }));

  const controls = h(
    'form',
    {
      class: 'controls',
      onsubmit: (ev) => {
        ev.preventDefault();
        const f = new FormData(ev.target as HTMLFormElement);
        const q = new URLSearchParams({ range: String(f.get('range')) });
        const t = String(f.get('tag') ?? '').trim();
        if (t) q.set('tag', t);
        location.hash = `#/usage?${q}`;
      },
    },
    h('label', {}, 'Range ', h('select', { name: 'range' }, ...Object.entries(RANGES).map(([k, v]) => h('option', { value: k, selected: k === rangeKey }, v.label)))),
    h('label', {}, ' Group by tag ', h('input', { name: 'tag', placeholder: 'tag key (empty = by model)', value: tagKey ?? '' })),
    h('button', { type: 'submit' }, 'Show'),
  );

  const spendDenied = deniedAt(res, 'byDay') || deniedAt(res, 'byGroup');
  const currency = data.byDay?.currency ?? ctx.viewer.tenant?.currency ?? '';
  const spendDay: ChartSeries[] =
    data.byDay && !spendDenied ? [{ label: `spend (${currency})`, buckets: data.byDay.slices.map((s) => secs(`${s.key}T00:00:00Z`)), values: data.byDay.slices.map((s) => microsToUnits(s.costMicros)) }] : [];

  const spendOf = new Map((data.byGroup?.slices ?? []).map((s) => [s.key, s.costMicros]));
  const keys = [...new Set([...series.map((s) => s.key), ...spendOf.keys()])].sort();
  const totals = keys.map((k) => {
    const s = series.find((x) => x.key === k);
    const sum = (a: number[] | undefined) => (a ?? []).reduce((x, y) => x + y, 0);
    return [label(k), fmtInt(sum(s?.columns.requests)), fmtInt(sum(s?.columns.errorRequests)), spendDenied ? notVisible('spend', ctx.viewer.role) : fmtMoney(spendOf.get(k) ?? '0', currency)];
  });

  return h(
    'div',
    { testid: 'page-usage' },
    section(
      `Usage per ${groupName} — ${r.label}`,
      controls,
      errorsNotice(unexpectedErrors(res)),
      h(
        'div',
        { class: 'charts' },
        chart({ title: 'Requests', series: toChart((c) => c.requests), fill: 0, range: xRange, testid: 'chart-requests' }),
        chart({ title: 'Errors', series: toChart((c) => c.errorRequests), fill: 0, range: xRange, testid: 'chart-errors' }),
        tagKey
          ? h('div', { class: 'chart', testid: 'chart-latency' }, h('h3', {}, 'p95 latency'), h('p', { class: 'muted' }, 'Latency is kept per model and API key, not per tag.'))
          : chart({
              title: 'p95 latency (ms, served requests)',
              series: series.filter((s) => s.latency).map((s) => ({ label: label(s.key), buckets: s.latency!.buckets.map(secs), values: s.latency!.p95Ms })),
              fill: null,
              unit: ' ms',
              range: xRange,
              testid: 'chart-latency',
            }),
        spendDenied
          ? h('div', { class: 'chart', testid: 'chart-spend' }, h('h3', {}, 'Spend per day'), notVisible('Spend', ctx.viewer.role))
          : chart({ title: `Spend per day (${currency})`, series: spendDay, fill: 0, bars: true, range: { from: Math.floor(new Date(costRange.from).getTime() / 86_400_000) * 86_400, to: xRange.to, step: 86_400 }, testid: 'chart-spend' }),
      ),
    ),
    section(
      `Totals per ${groupName}`,
      table([groupName, 'requests', 'errors', 'spend'], totals, 'usage-totals'),
      spendDenied ? null : h('p', { class: 'muted' }, `Total spend in range: ${fmtMoney(data.byGroup?.totalMicros, currency)} (hour-aligned, priced as on the invoice)`),
    ),
  );
};
