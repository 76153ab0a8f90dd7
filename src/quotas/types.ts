/** Shapes shared by the quotas module's parts. */

import type { Meter } from '../metering/index.js';
export { meters, type Meter } from '../metering/index.js';

/** The limits types are the plans module's (one shape, see src/plans/types.ts). */
export type { QuotaLimit, ScopeLimits, EffectiveLimits } from '../plans/index.js';

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
