/** Invoices with their lines and credit notes. Amounts are money fields: null (and said so) for members. */
import { deniedAt, gql, unexpectedErrors } from '../api.js';
import type { Page } from '../context.js';
import { h, table } from '../dom.js';
import { fmtMoney, fmtTime } from '../format.js';
import { badge, errorsNotice, notVisible, section } from '../ui.js';

const LIST = `
query ConsoleInvoices {
  invoices(first: 24) {
    edges { node {
      id number status currency periodStart periodEnd finalizedAt dueAt paidAt subtotalMicros taxMicros totalMicros
      lines { lineNo description meter model quantity unitPriceMicros amountMicros }
      creditNotes { id number reason amountMicros createdAt currency }
    } }
  }
}`;

interface Invoice {
  id: string;
  number: string | null;
  status: string;
  currency: string;
  periodStart: string;
  periodEnd: string;
  finalizedAt: string | null;
  dueAt: string | null;
  paidAt: string | null;
  subtotalMicros: string | null;
  taxMicros: string | null;
  totalMicros: string | null;
  lines: { lineNo: number; description: string; meter: string; model: string; quantity: string; unitPriceMicros: string | null; amountMicros: string | null }[];
  creditNotes: { id: string; number: string; reason: string; amountMicros: string | null; createdAt: string; currency: string }[];
}

export const invoicesPage: Page = async (ctx) => {
  const res = await gql<{ invoices: { edges: { node: Invoice }[] } }>(LIST);
  const invoices = res.data!.invoices.edges.map((e) => e.node);
  const money = (v: string | null, cur: string, i: number, field: string) => (deniedAt(res, 'invoices', 'edges', i, 'node', field) || (v === null && deniedAt(res, 'invoices')) ? notVisible('amount', ctx.viewer.role) : fmtMoney(v, cur));
  const card = (inv: Invoice, i: number) =>
    h(
      'article',
      { class: 'invoice', testid: 'invoice' },
      h('header', {}, h('strong', {}, inv.number ?? 'draft'), ' ', badge(inv.status), ` ${fmtTime(inv.periodStart)} — ${fmtTime(inv.periodEnd)}`),
      h('p', {}, 'Total: ', money(inv.totalMicros, inv.currency, i, 'totalMicros'), inv.dueAt ? ` · due ${fmtTime(inv.dueAt)}` : '', inv.paidAt ? ` · paid ${fmtTime(inv.paidAt)}` : ''),
      table(
        ['#', 'description', 'model', 'meter', 'quantity', 'unit price', 'amount'],
        inv.lines.map((l) => [String(l.lineNo), l.description, l.model, l.meter, l.quantity, l.unitPriceMicros === null ? notVisible('price', ctx.viewer.role) : `${l.unitPriceMicros} µ`, l.amountMicros === null ? notVisible('amount', ctx.viewer.role) : fmtMoney(l.amountMicros, inv.currency)]),
      ),
      inv.creditNotes.length ? table(['credit note', 'reason', 'amount', 'created'], inv.creditNotes.map((c) => [c.number, c.reason, c.amountMicros === null ? notVisible('amount', ctx.viewer.role) : fmtMoney(c.amountMicros, c.currency), fmtTime(c.createdAt)])) : null,
    );
  return h(
    'div',
    { testid: 'page-invoices' },
    section('Invoices', errorsNotice(unexpectedErrors(res)), invoices.length ? h('div', {}, ...invoices.map(card)) : h('p', { class: 'muted' }, 'No invoices yet.')),
  );
};
