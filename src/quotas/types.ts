/** Shapes shared by the quotas module's parts. */

import type { Meter } from '../metering/index.js';
export { meters, type Meter } from '../metering/index.js';

export interface QuotaLimit {
  meter: Meter;
  /** Units per billing period (compute meters: milliseconds). */
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

/** Everything admission needs for one (tenant, API key), resolved from Postgres and cached. */
export interface EffectiveLimits {
  tenantId: string;
  apiKeyId?: string | undefined;
  planCode: string;
  /** Plan priority tier (1 = lowest); also the weight in fair queueing. */
  priorityTier: number;
  timeZone: string;
  billingAnchorDay: number;
  tenant: ScopeLimits;
  /** Limits that apply to this API key on top of the tenant's (from per-key overrides); null when none. */
  key: ScopeLimits | null;
}

/** A soft-threshold crossing (or hard limit reached), emitted once per (scope, meter, period, threshold). */
export interface QuotaNotification {
  tenantId: string;
  apiKeyId?: string | undefined;
  meter: Meter;
  threshold: number;
  limit: number;
  used: number;
  hard: boolean;
  periodStart: Date;
  periodEnd: Date;
}

export type Notify = (n: QuotaNotification) => void | Promise<void>;

/** Injected time source so tests can move the clock. */
export type Clock = () => number;
