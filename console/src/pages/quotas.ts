/** Quotas: each meter's limit, how much is used, what remains and when it resets; the rate limits. */
import { gql, unexpectedErrors } from '../api.js';
import type { Page } from '../context.js';
import { h, table } from '../dom.js';
import { fmtInt, fmtRelative, fmtTime } from '../format.js';
import { badge, errorsNotice, section } from '../ui.js';

const QUERY = `
query ConsoleQuotas {
  quotas {
    period { start end }
    meters { meter scope apiKeyId hard limit used remaining resetAt }
    rate { limitPerSecond burst maxConcurrency remaining inFlight }
  }
}`;

interface Meter {
  meter: string;
  scope: string;
  apiKeyId: string | null;
  hard: boolean;
  limit: number | null;
  used: number;
  remaining: number | null;
  resetAt: string;
}
interface QuotaData {
  quotas: {
    period: { start: string; end: string };
    meters: Meter[];
    rate: { limitPerSecond: number; burst: number; maxConcurrency: number; remaining: number | null; inFlight: number | null };
  };
}

export const quotasPage: Page = async () => {
  const res = await gql<QuotaData>(QUERY);
  const q = res.data!.quotas;
  const rows = q.meters.map((m) => {
    const pct = m.limit ? Math.min(100, (m.used / m.limit) * 100) : 0;
    return [
      m.meter,
      m.scope === 'API_KEY' ? `this key` : 'tenant',
      h('div', { class: 'usedcell' }, m.limit ? h('progress', { max: '100', value: pct.toFixed(1), title: `${pct.toFixed(1)} %` }) : null, ` ${fmtInt(m.used)}`),
      m.limit === null ? 'unlimited' : fmtInt(m.limit),
      m.remaining === null ? '—' : fmtInt(m.remaining),
      m.hard ? badge('hard') : badge('soft'),
      h('span', { title: fmtTime(m.resetAt) }, `${fmtTime(m.resetAt)} (${fmtRelative(m.resetAt)})`),
    ];
  });
  const rate = q.rate;
  return h(
    'div',
    { testid: 'page-quotas' },
    section(
      'Quotas',
      h('p', { class: 'muted' }, `Billing period ${fmtTime(q.period.start)} — ${fmtTime(q.period.end)}`),
      errorsNotice(unexpectedErrors(res)),
      q.meters.length ? table(['meter', 'scope', 'used', 'limit', 'remaining', 'kind', 'resets'], rows, 'quota-table') : h('p', { class: 'muted' }, 'No quotas on this plan.'),
    ),
    section(
      'Rate limits',
      table(
        ['requests / s', 'burst', 'max concurrency', 'tokens left now', 'in flight'],
        [[fmtInt(rate.limitPerSecond), fmtInt(rate.burst), fmtInt(rate.maxConcurrency), rate.remaining === null ? '—' : fmtInt(rate.remaining), rate.inFlight === null ? '—' : fmtInt(rate.inFlight)]],
      ),
    ),
  );
};
