import type { Meter } from '../metering/index.js';
/** Meters are the metering registry's (src/metering); re-exported for the plans module's callers. */
export { meters, overrideKinds, type Meter, type OverrideKind } from '../metering/index.js';

export interface PlanQuota {
  meter: Meter;
  /** Monthly limit (per billing period). */
  limit: number;
  /** true: refuse beyond the limit (402); false: allow and alert. */
  hard: boolean;
  /** Percentages of the limit at which to alert, ascending (e.g. [80, 100]). */
  softThresholds: number[];
}

export interface Plan {
  id: string;
  code: string;
  name: string;
  description: string;
  /** Admission weight: higher = larger share (free 1 .. enterprise 4). */
  priorityTier: number;
  rateLimitRps: number;
  burst: number;
  maxConcurrency: number;
  currency: string;
  active: boolean;
  quotas: PlanQuota[];
}

/** One price_components row; NUMERIC/bigint as strings (exact). Feed to billing's priceComponentFromRow. */
export interface PriceComponentRow {
  id: string;
  planId: string;
  meter: Meter;
  model: 'standard' | 'graduated' | 'volume' | 'package';
  unitPriceMicros: string | null;
  tiers: Array<{ up_to: number | null; unit_price_micros: number | string; flat_fee_micros?: number | string }> | null;
  packageSize: string | null;
  includedQuantity: string;
  currency: string;
  effectiveFrom: Date;
  effectiveTo: Date | null;
}

/** One meter's limit for one scope. Unlimited meters of a tenant have limit Infinity, hard false. */
export interface QuotaLimit {
  meter: Meter;
  /** Units per billing period, in the meter's unit (compute meters: milliseconds). */
  limit: number;
  /** Hard: refuse with 402 once used; soft: allow and notify at the thresholds. */
  hard: boolean;
  /** Percentages of `limit` at which to notify, ascending (e.g. [80, 100]). */
  softThresholds: number[];
}

/** What one scope (a tenant, or one of its API keys) is allowed. `null` = unlimited. */
export interface ScopeLimits {
  rate: { rps: number; burst: number } | null;
  concurrency: number | null;
  quotas: QuotaLimit[];
}

/**
 * The limits in force for a tenant (and one of its API keys): the plan with its quota overrides.
 * The one shape of plan limits — read by getEffectiveLimits, cached and enforced by admission,
 * reported by quota status.
 */
export interface EffectiveLimits {
  tenantId: string;
  apiKeyId?: string | undefined;
  planId: string;
  planCode: string;
  /** Plan priority tier (1 = lowest); also the weight in fair queueing. */
  priorityTier: number;
  timeZone: string;
  billingAnchorDay: number;
  /** Every meter of the registry, in its order. */
  tenant: ScopeLimits;
  /** Limits that apply to this API key on top of the tenant's (from per-key overrides); null when none. */
  key: ScopeLimits | null;
}
