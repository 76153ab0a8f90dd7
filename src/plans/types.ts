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

export interface QuotaLimit {
  limit: number;
  hard: boolean;
  softThresholds: number[];
  source: 'plan' | 'override';
}

export interface LimitSet {
  rateLimitRps: number;
  burst: number;
  maxConcurrency: number;
  /** null = unlimited for that meter. */
  quotas: Record<Meter, QuotaLimit | null>;
}

export interface EffectiveLimits extends LimitSet {
  tenantId: string;
  tenantStatus: 'active' | 'past_due' | 'suspended';
  timezone: string;
  billingAnchorDay: number;
  plan: { id: string; code: string; name: string };
  priorityTier: number;
  /**
   * Extra caps for one API key (from quota_overrides rows with that api_key_id), enforced in
   * addition to the tenant-wide limits above. null when no apiKeyId was asked for or none exist.
   */
  key: { apiKeyId: string; rateLimitRps?: number; burst?: number; maxConcurrency?: number; quotas: Partial<Record<Meter, QuotaLimit>> } | null;
}
