/** Invoices: period close and generation, lifecycle, numbering, money rules, settings; the invoice repository. */
export {
  invoiceStatuses,
  paymentStatuses,
  lineKinds,
  getInvoice,
  getInvoiceForPlatform,
  listInvoices,
  linesByInvoiceIds,
  creditNotesByInvoiceIds,
  invoicesInPeriodsStarting,
  selectInvoice,
  selectLines,
  selectCreditNotes,
  selectPeriodInvoice,
  invoiceFromRow,
  INVOICE_COLUMNS,
  type Invoice,
  type InvoiceLine,
  type InvoiceWithLines,
  type CreditNote,
  type InvoiceStatus,
  type PaymentStatus,
  type LineKind,
  type InvoicesDeps,
} from './repo.js';
export { generateInvoice, linesOf, writeLines, type GenerateDeps, type GenerateResult, type NewLine } from './generate.js';
export { closeMonth, parseMonth, periodStartingIn, tenantsForBilling, type CloseResult, type TenantBilling } from './close.js';
export { setInvoicePaymentStatus } from './payment.js';
export { billingSettings, setBillingSettings, type BillingSettings } from './settings.js';
export { currencyExponent, microsPerMinorUnit, roundLineMicros, taxMicros, invoiceTotals, parseRateMillionths, type Totals } from './money.js';
export {
  finalizeInvoice,
  voidInvoice,
  regenerateInvoice,
  refreshDraft,
  lateUsageLines,
  generateWithAdjustments,
  watermarkVerdict,
  WatermarkLagError,
  LATE_USAGE_LOOKBACK_MS,
  type LifecycleDeps,
} from './lifecycle.js';
export { runBillingScan, type ScanReport } from './scan.js';
