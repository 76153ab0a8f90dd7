/** The endpoints the fake serves, each with its parameters (anything else is `parameter_unknown`). */
import { missingResource } from './errors.js';
import type { EndpointSpec, Parsed, ParamSpec } from './params.js';
import type { FakeStripeState, Obj } from './state.js';

export interface RouteContext {
  state: FakeStripeState;
  params: Parsed;
  m: RegExpExecArray;
  now(): number;
  search(objects: Iterable<Obj>, query: string): Obj[];
  list(objects: Obj[], params: Parsed, url: string): Record<string, unknown>;
  events: Obj[];
}

export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  pattern: RegExp;
  spec: EndpointSpec;
  run(ctx: RouteContext): unknown;
}

const page: Record<string, ParamSpec> = { limit: 'int', starting_after: 'string', ending_before: 'string' };
const searchSpec: EndpointSpec = { params: { query: 'string', limit: 'int', page: 'string' }, required: ['query'] };
const none: EndpointSpec = { params: {} };
const id = '([A-Za-z0-9_]+)';

function searchResult(data: Obj[], url: string, limit: unknown): Record<string, unknown> {
  const n = Math.min(Math.max(Number(limit ?? 10), 1), 100);
  return { object: 'search_result', data: data.slice(0, n), has_more: data.length > n, next_page: null, url };
}

export const routes: Route[] = [
  // Customers
  {
    method: 'POST',
    pattern: /^\/v1\/customers$/,
    spec: { params: { name: 'string', email: 'string', description: 'string', metadata: 'metadata', invoice_settings: { object: { default_payment_method: 'string' } } } },
    run: ({ state, params }) => state.createCustomer(params),
  },
  { method: 'GET', pattern: /^\/v1\/customers\/search$/, spec: searchSpec, run: ({ state, params, search }) => searchResult(search(state.customers.values(), String(params.query)), '/v1/customers/search', params.limit) },
  {
    method: 'GET',
    pattern: /^\/v1\/customers$/,
    spec: { params: { ...page, email: 'string' } },
    run: ({ state, params, list }) => list([...state.customers.values()].filter((c) => params.email === undefined || c.email === params.email), params, '/v1/customers'),
  },
  { method: 'GET', pattern: new RegExp(`^/v1/customers/${id}$`), spec: none, run: ({ state, m }) => state.customer(m[1]!) },
  {
    method: 'POST',
    pattern: new RegExp(`^/v1/customers/${id}$`),
    spec: { params: { name: 'string', email: 'string', description: 'string', metadata: 'metadata', invoice_settings: { object: { default_payment_method: 'string' } } } },
    run: ({ state, m, params }) => state.updateCustomer(m[1]!, params),
  },

  // Invoices
  {
    method: 'POST',
    pattern: /^\/v1\/invoices$/,
    spec: {
      params: {
        customer: 'string',
        auto_advance: 'bool',
        collection_method: { enum: ['charge_automatically', 'send_invoice'] },
        days_until_due: 'int',
        due_date: 'timestamp',
        currency: 'string',
        description: 'string',
        metadata: 'metadata',
        pending_invoice_items_behavior: { enum: ['exclude', 'include'] },
        footer: 'string',
      },
      required: ['customer'],
    },
    run: ({ state, params }) => state.createInvoice(params),
  },
  { method: 'GET', pattern: /^\/v1\/invoices\/search$/, spec: searchSpec, run: ({ state, params, search }) => searchResult(search(state.invoices.values(), String(params.query)), '/v1/invoices/search', params.limit) },
  {
    method: 'GET',
    pattern: /^\/v1\/invoices$/,
    spec: { params: { ...page, customer: 'string', status: { enum: ['draft', 'open', 'paid', 'uncollectible', 'void'] }, collection_method: 'string' } },
    run: ({ state, params, list }) =>
      list([...state.invoices.values()].filter((i) => (params.customer === undefined || i.customer === params.customer) && (params.status === undefined || i.status === params.status)), params, '/v1/invoices'),
  },
  { method: 'GET', pattern: new RegExp(`^/v1/invoices/${id}$`), spec: none, run: ({ state, m }) => state.invoice(m[1]!, 'id') },
  {
    method: 'POST',
    pattern: new RegExp(`^/v1/invoices/${id}$`),
    spec: { params: { metadata: 'metadata', description: 'string', auto_advance: 'bool', days_until_due: 'int', due_date: 'timestamp', collection_method: { enum: ['charge_automatically', 'send_invoice'] } } },
    run: ({ state, m, params }) => state.updateInvoice(m[1]!, params),
  },
  { method: 'DELETE', pattern: new RegExp(`^/v1/invoices/${id}$`), spec: none, run: ({ state, m }) => state.deleteInvoice(m[1]!) },
  { method: 'POST', pattern: new RegExp(`^/v1/invoices/${id}/finalize$`), spec: { params: { auto_advance: 'bool' } }, run: ({ state, m, params }) => state.finalizeInvoice(m[1]!, params) },
  { method: 'POST', pattern: new RegExp(`^/v1/invoices/${id}/pay$`), spec: { params: { paid_out_of_band: 'bool', payment_method: 'string' } }, run: ({ state, m, params }) => state.payInvoice(m[1]!, params) },
  { method: 'POST', pattern: new RegExp(`^/v1/invoices/${id}/void$`), spec: none, run: ({ state, m }) => state.voidInvoice(m[1]!) },
  { method: 'POST', pattern: new RegExp(`^/v1/invoices/${id}/mark_uncollectible$`), spec: none, run: ({ state, m }) => state.markUncollectible(m[1]!) },
  { method: 'POST', pattern: new RegExp(`^/v1/invoices/${id}/send$`), spec: none, run: ({ state, m }) => state.invoice(m[1]!, 'id') },
  { method: 'GET', pattern: new RegExp(`^/v1/invoices/${id}/lines$`), spec: { params: page }, run: ({ state, m, params, list }) => list(state.linesOf(m[1]!), params, `/v1/invoices/${m[1]!}/lines`) },

  // Invoice items
  {
    method: 'POST',
    pattern: /^\/v1\/invoiceitems$/,
    spec: {
      params: { customer: 'string', amount: 'int', currency: 'string', description: 'string', invoice: 'string', metadata: 'metadata', period: { object: { start: 'timestamp', end: 'timestamp' }, required: ['start', 'end'] }, discountable: 'bool' },
      required: ['customer'],
    },
    run: ({ state, params }) => state.createItem(params),
  },
  {
    method: 'GET',
    pattern: /^\/v1\/invoiceitems$/,
    spec: { params: { ...page, customer: 'string', invoice: 'string', pending: 'bool' } },
    run: ({ state, params, list }) =>
      list(
        [...state.items.values()].filter(
          (it) =>
            (params.customer === undefined || it.customer === params.customer) &&
            (params.invoice === undefined || it.invoice === params.invoice) &&
            (params.pending === undefined || (it.invoice === null) === params.pending),
        ),
        params,
        '/v1/invoiceitems',
      ),
  },
  { method: 'GET', pattern: new RegExp(`^/v1/invoiceitems/${id}$`), spec: none, run: ({ state, m }) => state.item(m[1]!) },
  { method: 'DELETE', pattern: new RegExp(`^/v1/invoiceitems/${id}$`), spec: none, run: ({ state, m }) => state.deleteItem(m[1]!) },

  // Credit notes and refunds
  {
    method: 'POST',
    pattern: /^\/v1\/credit_notes$/,
    spec: {
      params: {
        invoice: 'string',
        amount: 'int',
        credit_amount: 'int',
        refund_amount: 'int',
        out_of_band_amount: 'int',
        reason: { enum: ['duplicate', 'fraudulent', 'order_change', 'product_unsatisfactory'] },
        memo: 'string',
        metadata: 'metadata',
        lines: {
          array: { object: { type: { enum: ['invoice_line_item', 'custom_line_item'] }, invoice_line_item: 'string', amount: 'int', quantity: 'int', unit_amount: 'int', description: 'string' }, required: ['type'] },
        },
      },
      required: ['invoice'],
    },
    run: ({ state, params }) => state.createCreditNote(params),
  },
  {
    method: 'GET',
    pattern: /^\/v1\/credit_notes$/,
    spec: { params: { ...page, invoice: 'string', customer: 'string' } },
    run: ({ state, params, list }) =>
      list([...state.creditNotes.values()].filter((cn) => (params.invoice === undefined || cn.invoice === params.invoice) && (params.customer === undefined || cn.customer === params.customer)), params, '/v1/credit_notes'),
  },
  { method: 'GET', pattern: new RegExp(`^/v1/credit_notes/${id}$`), spec: none, run: ({ state, m }) => state.creditNote(m[1]!) },
  { method: 'GET', pattern: /^\/v1\/refunds$/, spec: { params: page }, run: ({ state, params, list }) => list([...state.refunds.values()], params, '/v1/refunds') },

  // Events
  { method: 'GET', pattern: /^\/v1\/events$/, spec: { params: { ...page, type: 'string' } }, run: ({ events, params, list }) => list(events.slice().reverse().filter((e) => params.type === undefined || e.type === params.type), params, '/v1/events') },
  {
    method: 'GET',
    pattern: new RegExp(`^/v1/events/${id}$`),
    spec: none,
    run: ({ events, m }) => {
      const e = events.find((x) => x.id === m[1]);
      if (!e) throw missingResource('event', m[1]!);
      return e;
    },
  },
];
