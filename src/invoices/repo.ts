/**
 * The invoice repository: rows of invoices, invoice_lines and credit_notes as domain objects, and
 * the reads other modules (GraphQL, Stripe sync, exports) build on. Every read takes the tenant
 * (RLS: withTenant) except the operator reads, which say so in their name (…ForPlatform).
 */
import type pg from 'pg';
import { isUuid, withPlatform, withTenant, type PgPools } from '../db/index.js';

export const invoiceStatuses = ['generating', 'draft', 'finalized', 'void'] as const;
export type InvoiceStatus = (typeof invoiceStatuses)[number];
export const paymentStatuses = ['pending', 'paid', 'failed', 'uncollectible'] as const;
export type PaymentStatus = (typeof paymentStatuses)[number];
export const lineKinds = ['usage', 'base_fee', 'adjustment', 'credit'] as const;
export type LineKind = (typeof lineKinds)[number];

export interface InvoicesDeps {
  pools: Pick<PgPools, 'app'>;
}

export interface Invoice {
  id: string;
  tenantId: string;
  /** TG-YYYY-NNNNNN, set at finalization. */
  number: string | null;
  status: InvoiceStatus;
  paymentStatus: PaymentStatus;
  periodStart: Date;
  periodEnd: Date;
  currency: string;
  planId: string | null;
  /** Sum of lines rounded to the currency's minor unit. */
  subtotalMicros: bigint;
  taxMicros: bigint;
  /** Exclusive tax rate as a decimal string ("0.19"). */
  taxRate: string;
  totalMicros: bigint;
  /** The tenant's credit balance applied at finalization. */
  creditAppliedMicros: bigint;
  amountDueMicros: bigint;
  graceEndsAt: Date | null;
  finalizedAt: Date | null;
  finalizedBy: string | null;
  forced: boolean;
  paidAt: Date | null;
  voidedAt: Date | null;
  voidReason: string | null;
  dueAt: Date | null;
  regeneratedFrom: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface InvoiceLine {
  id: string;
  invoiceId: string;
  lineNo: number;
  kind: LineKind;
  /** The meter's registry name ('base_fee' for the base fee). */
  meter: string;
  /** The charge model of the price component ('none' without one). */
  model: string;
  description: string;
  /** Total usage before included quantities (decimal string). */
  quantity: string;
  includedQuantity: string;
  billableQuantity: string;
  unitPriceMicros: string | null;
  /** Exact amount in micros (== costAttribution for usage lines). */
  amountMicros: bigint;
  /** Rounded half-up to the currency's minor unit. */
  roundedMicros: bigint;
  adjustsPeriodStart: Date | null;
  adjustsPeriodEnd: Date | null;
  metadata: Record<string, unknown>;
}

export interface CreditNote {
  id: string;
  invoiceId: string;
  tenantId: string;
  number: string;
  type: 'credit' | 'refund';
  amountMicros: bigint;
  currency: string;
  reason: string;
  createdBy: string | null;
  createdAt: Date;
}

export const INVOICE_COLUMNS = `id, tenant_id, number, status, payment_status, period_start, period_end, currency, plan_id,
  subtotal_micros::text AS subtotal_micros, tax_micros::text AS tax_micros, tax_rate::text AS tax_rate, total_micros::text AS total_micros,
  credit_applied_micros::text AS credit_applied_micros, amount_due_micros::text AS amount_due_micros, grace_ends_at, finalized_at, finalized_by, forced,
  paid_at, voided_at, void_reason, due_at, regenerated_from, created_at, updated_at`;

export function invoiceFromRow(r: Record<string, unknown>): Invoice {
  return {
    id: String(r.id),
    tenantId: String(r.tenant_id),
    number: (r.number as string | null) ?? null,
    status: r.status as InvoiceStatus,
    paymentStatus: r.payment_status as PaymentStatus,
    periodStart: r.period_start as Date,
    periodEnd: r.period_end as Date,
    currency: String(r.currency).trim(),
    planId: r.plan_id ? String(r.plan_id) : null,
    subtotalMicros: BigInt(r.subtotal_micros as string),
    taxMicros: BigInt(r.tax_micros as string),
    taxRate: normaliseDecimal(String(r.tax_rate)),
    totalMicros: BigInt(r.total_micros as string),
    creditAppliedMicros: BigInt(r.credit_applied_micros as string),
    amountDueMicros: BigInt(r.amount_due_micros as string),
    graceEndsAt: (r.grace_ends_at as Date | null) ?? null,
    finalizedAt: (r.finalized_at as Date | null) ?? null,
    finalizedBy: (r.finalized_by as string | null) ?? null,
    forced: Boolean(r.forced),
    paidAt: (r.paid_at as Date | null) ?? null,
    voidedAt: (r.voided_at as Date | null) ?? null,
    voidReason: (r.void_reason as string | null) ?? null,
    dueAt: (r.due_at as Date | null) ?? null,
    regeneratedFrom: r.regenerated_from ? String(r.regenerated_from) : null,
    createdAt: r.created_at as Date,
    updatedAt: r.updated_at as Date,
  };
}

/** "0.190000" -> "0.19", "1.000000" -> "1". */
export function normaliseDecimal(text: string): string {
  if (!text.includes('.')) return text;
  return text.replace(/0+$/, '').replace(/\.$/, '');
}

const LINE_COLUMNS = `id::text AS id, invoice_id, line_no, kind, meter, model, description, quantity::text AS quantity, included_quantity::text AS included_quantity,
  billable_quantity::text AS billable_quantity, unit_price_micros::text AS unit_price_micros, amount_micros::text AS amount_micros,
  COALESCE(rounded_micros, amount_micros)::text AS rounded_micros, adjusts_period_start, adjusts_period_end, metadata`;

function lineFromRow(r: Record<string, unknown>): InvoiceLine {
  return {
    id: String(r.id),
    invoiceId: String(r.invoice_id),
    lineNo: Number(r.line_no),
    kind: r.kind as LineKind,
    meter: String(r.meter),
    model: String(r.model),
    description: String(r.description),
    quantity: normaliseDecimal(String(r.quantity)),
    includedQuantity: normaliseDecimal(String(r.included_quantity)),
    billableQuantity: normaliseDecimal(String(r.billable_quantity)),
    unitPriceMicros: r.unit_price_micros === null || r.unit_price_micros === undefined ? null : normaliseDecimal(String(r.unit_price_micros)),
    amountMicros: BigInt(r.amount_micros as string),
    roundedMicros: BigInt(r.rounded_micros as string),
    adjustsPeriodStart: (r.adjusts_period_start as Date | null) ?? null,
    adjustsPeriodEnd: (r.adjusts_period_end as Date | null) ?? null,
    metadata: (r.metadata as Record<string, unknown>) ?? {},
  };
}

function creditNoteFromRow(r: Record<string, unknown>): CreditNote {
  return {
    id: String(r.id),
    invoiceId: String(r.invoice_id),
    tenantId: String(r.tenant_id),
    number: String(r.number),
    type: r.type as 'credit' | 'refund',
    amountMicros: BigInt(r.amount_micros as string),
    currency: String(r.currency).trim(),
    reason: String(r.reason),
    createdBy: (r.created_by as string | null) ?? null,
    createdAt: r.created_at as Date,
  };
}

// ------------------------------------------------------------------ statements (inside a caller's transaction)

export async function selectInvoice(c: pg.ClientBase, q: { id: string; tenantId?: string; forUpdate?: boolean }): Promise<Invoice | null> {
  if (!isUuid(q.id)) return null;
  const { rows } = await c.query(
    `SELECT ${INVOICE_COLUMNS} FROM invoices WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)${q.forUpdate ? ' FOR UPDATE' : ''}`,
    [q.id, q.tenantId ?? null],
  );
  return rows[0] ? invoiceFromRow(rows[0]) : null;
}

export async function selectLines(c: pg.ClientBase, invoiceIds: readonly string[]): Promise<InvoiceLine[]> {
  if (invoiceIds.length === 0) return [];
  const { rows } = await c.query(`SELECT ${LINE_COLUMNS} FROM invoice_lines WHERE invoice_id = ANY($1::uuid[]) ORDER BY invoice_id, line_no, id`, [invoiceIds]);
  return rows.map(lineFromRow);
}

export async function selectCreditNotes(c: pg.ClientBase, invoiceIds: readonly string[]): Promise<CreditNote[]> {
  if (invoiceIds.length === 0) return [];
  const { rows } = await c.query(
    `SELECT id, invoice_id, tenant_id, number, type, amount_micros::text AS amount_micros, currency, reason, created_by, created_at
     FROM credit_notes WHERE invoice_id = ANY($1::uuid[]) ORDER BY created_at, id`,
    [invoiceIds],
  );
  return rows.map(creditNoteFromRow);
}

/** The live (not void) invoice of a tenant's period, if any. */
export async function selectPeriodInvoice(c: pg.ClientBase, q: { tenantId: string; periodStart: Date; periodEnd: Date; forUpdate?: boolean }): Promise<Invoice | null> {
  const { rows } = await c.query(
    `SELECT ${INVOICE_COLUMNS} FROM invoices WHERE tenant_id = $1 AND period_start = $2 AND period_end = $3 AND status <> 'void'${q.forUpdate ? ' FOR UPDATE' : ''}`,
    [q.tenantId, q.periodStart, q.periodEnd],
  );
  return rows[0] ? invoiceFromRow(rows[0]) : null;
}

// ------------------------------------------------------------------ reads

export interface InvoiceWithLines extends Invoice {
  lines: InvoiceLine[];
  creditNotes: CreditNote[];
}

async function withDetails(c: pg.ClientBase, invoices: Invoice[]): Promise<InvoiceWithLines[]> {
  const ids = invoices.map((i) => i.id);
  const [lines, notes] = await Promise.all([selectLines(c, ids), selectCreditNotes(c, ids)]);
  return invoices.map((i) => ({ ...i, lines: lines.filter((l) => l.invoiceId === i.id), creditNotes: notes.filter((n) => n.invoiceId === i.id) }));
}

/** One invoice of a tenant with its lines and credit notes (another tenant's reads as null). */
export async function getInvoice(deps: InvoicesDeps, q: { tenantId: string; id: string }): Promise<InvoiceWithLines | null> {
  if (!isUuid(q.id) || !isUuid(q.tenantId)) return null;
  return withTenant(deps.pools.app, { tenantId: q.tenantId }, async (c) => {
    const inv = await selectInvoice(c, q);
    return inv ? (await withDetails(c, [inv]))[0]! : null;
  });
}

/** Any tenant's invoice by id (operators: CLI, platform API, jobs). */
export async function getInvoiceForPlatform(deps: InvoicesDeps, q: { id: string }): Promise<InvoiceWithLines | null> {
  if (!isUuid(q.id)) return null;
  return withPlatform(deps.pools.app, async (c) => {
    const inv = await selectInvoice(c, q);
    return inv ? (await withDetails(c, [inv]))[0]! : null;
  });
}

/** A page of a tenant's invoices, newest period first, keyset on (period_start, id). Fetches limit + 1. */
export async function listInvoices(
  deps: InvoicesDeps,
  q: { tenantId: string; limit: number; after?: { periodStart: string; id: string } | null },
): Promise<Array<Invoice & { cursorTs: string }>> {
  return withTenant(deps.pools.app, { tenantId: q.tenantId }, async (c) => {
    const { rows } = await c.query(
      `SELECT ${INVOICE_COLUMNS}, to_char(period_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_ts FROM invoices
       WHERE tenant_id = $1 AND status <> 'generating' AND ($2::timestamptz IS NULL OR (period_start, id) < ($2::timestamptz, $3::uuid))
       ORDER BY period_start DESC, id DESC LIMIT $4`,
      [q.tenantId, q.after?.periodStart ?? null, q.after?.id ?? null, q.limit + 1],
    );
    return rows.map((r) => ({ ...invoiceFromRow(r), cursorTs: String(r.cursor_ts) }));
  });
}

/** Lines of many invoices (one statement; RLS scope of the caller's transaction). */
export async function linesByInvoiceIds(c: pg.ClientBase, ids: readonly string[]): Promise<InvoiceLine[]> {
  return selectLines(c, ids.filter(isUuid));
}

export async function creditNotesByInvoiceIds(c: pg.ClientBase, ids: readonly string[]): Promise<CreditNote[]> {
  return selectCreditNotes(c, ids.filter(isUuid));
}

/** The live invoices of periods starting in [from, to), for one tenant or all (platform). */
export async function invoicesInPeriodsStarting(deps: InvoicesDeps, q: { tenantId?: string; from: Date; to: Date }): Promise<InvoiceWithLines[]> {
  return withPlatform(deps.pools.app, async (c) => {
    const { rows } = await c.query(
      `SELECT ${INVOICE_COLUMNS} FROM invoices WHERE ($1::uuid IS NULL OR tenant_id = $1) AND period_start >= $2 AND period_start < $3 AND status <> 'void'
       ORDER BY period_start, tenant_id`,
      [q.tenantId ?? null, q.from, q.to],
    );
    return withDetails(c, rows.map(invoiceFromRow));
  });
}
