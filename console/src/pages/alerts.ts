/**
 * Alerts from the anomaly detector, quotas and Grafana: list by status, acknowledge, resolve.
 * The mutations are allowed to admins (and operators); for other roles the API answers
 * FORBIDDEN and the page shows that answer.
 */
import { gql, unexpectedErrors } from '../api.js';
import type { Page } from '../context.js';
import { h, replace } from '../dom.js';
import { fmtTime } from '../format.js';
import { badge, errorNotice, errorsNotice, notice, section } from '../ui.js';

const LIST = `
query ConsoleAlerts($status: String) {
  alerts(first: 50, status: $status) {
    edges { node { id title kind metric severity source status openedAt updatedAt acknowledgedAt resolvedAt detailsJson } }
  }
}`;
const ACK = `mutation ConsoleAck($id: ID!) { acknowledgeAlert(id: $id) { id status acknowledgedAt } }`;
const RESOLVE = `mutation ConsoleResolve($id: ID!) { resolveAlert(id: $id) { id status resolvedAt } }`;

interface Alert {
  id: string;
  title: string;
  kind: string;
  metric: string;
  severity: string;
  source: string;
  status: string;
  openedAt: string;
  updatedAt: string;
  acknowledgedAt: string | null;
  resolvedAt: string | null;
  detailsJson: string;
}

const STATUSES = ['', 'open', 'acknowledged', 'resolved'];

function pretty(json: string): string {
  try {
    return JSON.stringify(JSON.parse(json), null, 2);
  } catch {
    return json;
  }
}

export const alertsPage: Page = async (ctx, params) => {
  const status = STATUSES.includes(params.get('status') ?? '') ? params.get('status') || null : null;
  const res = await gql<{ alerts: { edges: { node: Alert }[] } }>(LIST, { status });
  const alerts = res.data!.alerts.edges.map((e) => e.node);
  const feedback = h('div', { testid: 'alert-feedback' });

  const act = async (mutation: string, id: string, verb: string) => {
    try {
      await gql(mutation, { id });
      ctx.refresh();
    } catch (err) {
      replace(feedback, errorNotice(err));
      feedback.prepend(notice('warn', `Could not ${verb} the alert.`));
    }
  };

  const card = (a: Alert) =>
    h(
      'article',
      { class: `alert ${a.status}`, testid: 'alert' },
      h('header', {}, badge(a.severity), ' ', badge(a.status), ' ', h('strong', { class: 'alert-title' }, a.title)),
      h('p', { class: 'muted' }, `${a.kind} · ${a.metric} · from ${a.source} · opened ${fmtTime(a.openedAt)} · updated ${fmtTime(a.updatedAt)}`),
      a.acknowledgedAt ? h('p', { class: 'muted' }, `acknowledged ${fmtTime(a.acknowledgedAt)}`) : null,
      a.resolvedAt ? h('p', { class: 'muted' }, `resolved ${fmtTime(a.resolvedAt)}`) : null,
      h('details', {}, h('summary', {}, 'details'), h('pre', {}, pretty(a.detailsJson))),
      h(
        'div',
        { class: 'actions' },
        a.status === 'open' ? h('button', { testid: 'ack', onclick: () => void act(ACK, a.id, 'acknowledge') }, 'Acknowledge') : null,
        a.status !== 'resolved' ? h('button', { testid: 'resolve', onclick: () => void act(RESOLVE, a.id, 'resolve') }, 'Resolve') : null,
      ),
    );

  return h(
    'div',
    { testid: 'page-alerts' },
    section(
      'Alerts',
      h(
        'nav',
        { class: 'filters' },
        ...STATUSES.map((s) => h('a', { href: s ? `#/alerts?status=${s}` : '#/alerts', class: (s || null) === status ? 'active' : '' }, s || 'all')),
      ),
      feedback,
      errorsNotice(unexpectedErrors(res)),
      alerts.length ? h('div', { class: 'alerts' }, ...alerts.map(card)) : h('p', { class: 'muted' }, 'No alerts.'),
    ),
  );
};
