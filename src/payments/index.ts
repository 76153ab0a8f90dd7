/**
 * Payments: collecting Tollgate's invoices through Stripe (see README.md).
 * - client: the real SDK pointed at STRIPE_API_URL, and the retry policy of every call;
 * - webhooks: POST /webhooks/stripe's verification and effects (each event once, in order);
 * - dunning: failed payments → past_due → suspended (reason dunning) → lifted by payment;
 * - terms: per-plan due days and dunning days.
 */
export { createStripeClient, stripeSdkOptions, stripeSyncEnabled, callStripe, isTransient, retryPolicy, type RetryPolicy, type StripeConfig } from './client.js';
export { receiveStripeWebhook, HANDLED_EVENT_TYPES, WEBHOOK_TOLERANCE_SECONDS, type WebhookDeps, type WebhookResult, type WebhookOutcome } from './webhooks.js';
export { runDunningCheck, reconcileDunning, PAST_DUE_ALERT, SUSPENDED_ALERT, type DunningChange, type DunningDeps } from './dunning.js';
export { paymentTermsOf, setPlanPaymentTerms, DEFAULT_PAYMENT_TERMS, type PaymentTerms } from './terms.js';
export {
  syncInvoice,
  invoicesToSync,
  planItems,
  recordSyncFailure,
  syncAlertKey,
  SyncRefused,
  STRIPE_MAX_INVOICE_ITEMS,
  type SyncDeps,
  type SyncableInvoice,
  type SyncedInvoice,
  type FailedSync,
  type PlannedItem,
} from './sync.js';
export { stripeStateByInvoiceIds, type StripeInvoiceState } from './read.js';
export { createSyncDeps, invoiceLoader } from './wiring.js';
export { syncCreditNote, creditNotesToSync, InvoiceNotSynced, type SyncableCreditNote, type SyncedCreditNote, type CreditNoteSyncDeps } from './credit-notes.js';
export { syncInvoices } from './run.js';
