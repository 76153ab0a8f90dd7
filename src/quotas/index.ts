/**
 * Quotas: admission control (rate limits, concurrency caps, monthly quotas with soft and hard
 * limits, per tenant and per API key), reconciliation with ClickHouse, quota status for the API,
 * billing periods, and weighted fair queueing across tenants for the inference batcher.
 */
export type { Admission, AdmissionDecision, AdmissionRequest, AdmissionTicket, AdmissionGateRequest, AdmissionPass, GateDecision, RateLimitHeaders, TenantQueue, TenantQueueFactory } from './contract.js';
export { allowAll } from './contract.js';
export { createAdmission, type AdmissionDeps, type AdmissionService, type AdmissionConfig } from './admission.js';
export { rateHeaders } from './decisions.js';
export { fairQueueFactory, fifoQueueFactory, createFairQueueFactory, FairQueue, type FairQueueOptions } from './fair-queue.js';
export { getQuotaStatus, type QuotaStatus, type MeterStatus, type QuotaStatusDeps } from './status.js';
export { reconcileQuotas, billableUsage, type ReconcileDeps, type ReconcileResult, type Correction } from './reconcile.js';
export { postgresLimits, type LoadLimits } from './limits.js';
export { billingPeriod, startOfLocalDay, isValidTimeZone, type BillingPeriod } from './period.js';
export { TokenBucket } from './rate-limiter.js';
export { quotaKeys, type QuotaKeys } from './keys.js';
export type { EffectiveLimits, ScopeLimits, QuotaLimit, QuotaNotification, Notify, Meter } from './types.js';
